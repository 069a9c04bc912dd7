export interface StepReport {
  outcome: { status: "done"; outputs: Record<string, { json: object }[]> } | { status: "pending"; pollAfterMs: number } | null;
  error: { message: string; retryable: boolean; detail: { kind: string; code?: string; message?: string } } | null;
  usage: { durationUs: number; fuel: number; peakMemoryBytes: number };
  logs: { level: string; source: string; message: string }[];
  /** The JSON of the items on port `main`. */
  items: object[];
}

export interface Step {
  params?: object;
  items?: object[];
  grants?: string[];
  credentials?: Record<string, object>;
  allowPrivate?: string;
  fuel?: number;
  memoryMib?: number;
  timeoutMs?: number;
}

export function n8nWorkBinary(): string;
export function runNode(wasm: string, step?: Step): Promise<StepReport>;
