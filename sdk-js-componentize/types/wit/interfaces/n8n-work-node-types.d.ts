/** @module Interface n8n-work:node/types@0.1.0 **/
/**
 * JSON text. An item's `json` always holds a JSON object.
 */
export type Json = string;
/**
 * Binary data held by the host. Nodes read and write it through the
 * `binary` interface, so large payloads never travel inside the JSON.
 */
export interface BinaryRef {
  id: string,
  mimeType: string,
  fileName?: string,
  size: bigint,
}
/**
 * One unit of data flowing between nodes: a JSON object plus named
 * binary attachments (n8n's `item.binary`).
 */
export interface Item {
  json: Json,
  binary: Array<[string, BinaryRef]>,
}
/**
 * The items a node emits on one of its output ports.
 */
export interface PortItems {
  port: string,
  items: Array<Item>,
}
/**
 * What the host tells a node about the step it runs.
 */
export interface Context {
  workflowId: string,
  executionId: string,
  nodeId: string,
  /**
   * Stable across retries and re-runs of this step; pass it to vendors
   * that deduplicate requests.
   */
  idempotencyKey: string,
  /**
   * 1 on the first attempt.
   */
  attempt: number,
  /**
   * The node's parameters with expressions already evaluated, as JSON.
   */
  params: Json,
  /**
   * The `state` of the `pending` outcome this step returned last time,
   * when the host polls it again.
   */
  resume?: Uint8Array,
}
/**
 * Poll me again after `poll-after-ms` with `state` in `context.resume`.
 */
export interface Pending {
  pollAfterMs: bigint,
  state: Uint8Array,
}
export type Outcome = OutcomeDone | OutcomePending;
/**
 * Finished: items per output port. Ports not listed emit nothing.
 */
export interface OutcomeDone {
  tag: 'done',
  val: Array<PortItems>,
}
/**
 * Not finished yet (async nodes, polling).
 */
export interface OutcomePending {
  tag: 'pending',
  val: Pending,
}
/**
 * A failure of the node's own making (bad input, a vendor's refusal).
 */
export interface NodeError {
  message: string,
  /**
   * Whether trying again later may succeed (timeouts, 429s, 5xx).
   */
  retryable: boolean,
  /**
   * How long to wait before a retry, when the vendor said (`Retry-After`).
   */
  retryAfterMs?: bigint,
  /**
   * A short machine-readable code, such as Slack's `channel_not_found`.
   */
  code?: string,
}
/**
 * A credential the node can use, under the name it passes to
 * `credentials.get`.
 */
export interface CredentialSlot {
  name: string,
  /**
   * Credential types accepted here, such as `http-bearer` or `slack-bot-token`.
   */
  types: Array<string>,
  required: boolean,
  description: string,
}
/**
 * An origin the node needs to reach. `origin` is a grant pattern
 * (`https://slack.com`, `https://*.example.com:8443`), or `param:<name>`
 * when the origin comes from a URL in that parameter.
 */
export interface EgressNeed {
  origin: string,
  reason: string,
}
export interface OutputPort {
  name: string,
  displayName: string,
}
/**
 * What a node is: returned by `describe`, shown in the editor and the
 * marketplace, and checked when a workflow is validated.
 */
export interface NodeSpec {
  /**
   * Short, lowercase, unique within its publisher (`http`, `slack`).
   */
  name: string,
  /**
   * Semantic version of the node.
   */
  version: string,
  displayName: string,
  description: string,
  /**
   * An icon as a data URL or a short symbol name.
   */
  icon?: string,
  /**
   * A JSON Schema (draft 2020-12) for `context.params`.
   */
  paramsSchema: Json,
  credentials: Array<CredentialSlot>,
  egress: Array<EgressNeed>,
  outputs: Array<OutputPort>,
}
