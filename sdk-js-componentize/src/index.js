// The n8n-work node SDK for JavaScript and TypeScript: `defineNode` turns a
// node written as plain objects and functions into the `describe` and
// `execute` exports of the `n8n-work:node/node` world (wit/node.wit).
//
// The component is built by ComponentizeJS (`n8n-work-node build`), whose
// engine provides `fetch` over wasi:http: every request goes through the
// host's egress grants like any node's.

import { log as witLog } from "n8n-work:node/log@0.1.0";
import { get as witCredential } from "n8n-work:node/credentials@0.1.0";
import { get as witStateGet, set as witStateSet, delete as witStateDelete } from "n8n-work:node/state@0.1.0";
import { defineNodeWith, makeLog } from "./core.js";

export { NodeError, pending } from "./core.js";

/** Step log lines, shown with the step's run data. */
export const log = makeLog(witLog);

/** Small per-node state that outlives a run (strings or bytes). */
export const state = Object.freeze({
  get(key) {
    const value = witStateGet(key);
    return value === undefined ? undefined : new TextDecoder().decode(value);
  },
  set(key, value) {
    witStateSet(key, typeof value === "string" ? new TextEncoder().encode(value) : value);
  },
  delete(key) {
    witStateDelete(key);
  },
});

/**
 * Defines a node. `describe` is its spec (an object, or a function returning
 * one); `execute(ctx, items)` returns the output items (an array, for port
 * `main`), `{ ports: { name: items } }`, or `pending(ms, state)`. Items are
 * plain objects or `{ json, binary }`. Export the result's two functions:
 *
 *     export const { describe, execute } = defineNode({ describe: {...}, execute(ctx, items) {...} });
 */
export function defineNode(node) {
  return defineNodeWith({ credential: witCredential, log }, node);
}
