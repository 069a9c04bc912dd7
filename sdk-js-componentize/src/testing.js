// A test helper: runs a built component through the real n8n-work runtime by
// calling `n8n-work node run --report`, so a node's tests see the sandbox,
// the limits and the egress grants that a workflow step sees.

import { execFile, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

/**
 * The `n8n-work` binary: $N8N_WORK_BIN, else the one on PATH, else one built
 * in the repository the SDK was installed from.
 */
export function n8nWorkBinary() {
  if (process.env.N8N_WORK_BIN) return process.env.N8N_WORK_BIN;
  const onPath = spawnSync("sh", ["-c", "command -v n8n-work"], { encoding: "utf8" });
  if (onPath.status === 0 && onPath.stdout.trim()) return onPath.stdout.trim();
  const repo = join(here, "..", "..");
  const targets = [process.env.CARGO_TARGET_DIR, join(repo, "target")].filter(Boolean);
  for (const target of targets) {
    for (const profile of ["release", "debug"]) {
      const candidate = join(target, profile, "n8n-work");
      if (existsSync(candidate)) return candidate;
    }
  }
  throw new Error(
    "cannot find the n8n-work binary; build it (cargo build -p n8n-work-cli) or set N8N_WORK_BIN to its path",
  );
}

/**
 * Runs one step of the component at `wasm` and resolves to the step report:
 * `{ outcome, error, usage, logs, items }`, where `items` are the JSON
 * objects on port `main` (or `[]`).
 *
 * @param {string} wasm path to the built component
 * @param {{params?: object, items?: object[], grants?: string[], credentials?: Record<string, object>,
 *          allowPrivate?: string, fuel?: number, memoryMib?: number, timeoutMs?: number}} [step]
 */
export async function runNode(wasm, step = {}) {
  const args = [
    "node",
    "run",
    resolve(wasm),
    "--report",
    "--params",
    JSON.stringify(step.params ?? {}),
    "--input",
    JSON.stringify(step.items ?? []),
  ];
  for (const grant of step.grants ?? []) args.push("--grant", grant);
  for (const [name, value] of Object.entries(step.credentials ?? {})) {
    args.push("--credential", `${name}=${JSON.stringify(value)}`);
  }
  if (step.allowPrivate) args.push("--egress-allow-private", step.allowPrivate);
  if (step.fuel !== undefined) args.push("--fuel", String(step.fuel));
  if (step.memoryMib !== undefined) args.push("--memory", String(step.memoryMib));
  if (step.timeoutMs !== undefined) args.push("--timeout", String(step.timeoutMs));
  // Asynchronous, so that servers the test runs in this process can answer.
  const stdout = await new Promise((resolve, reject) => {
    execFile(n8nWorkBinary(), args, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 }, (error, out, err) => {
      // A failed step exits 1 and still prints its report.
      if (error && !out) reject(new Error(`n8n-work node run failed: ${err || error.message}`));
      else resolve(out);
    });
  });
  const report = JSON.parse(stdout);
  const main = report.outcome?.outputs?.main ?? [];
  report.items = main.map((item) => item.json);
  return report;
}
