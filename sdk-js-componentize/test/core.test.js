// defineNode's conversions between the author's objects and the WIT records.

import assert from "node:assert/strict";
import { test } from "node:test";

import { NodeError, defineNodeWith, pending, toOutcome, toSpec } from "../src/core.js";

const host = (credentials = {}, lines = []) => ({
  credential(name) {
    if (!(name in credentials)) throw { payload: `slot \`${name}\` is not granted` };
    return JSON.stringify(credentials[name]);
  },
  log: { info: (...args) => lines.push(args.join(" ")) },
});

const witCtx = (params) => ({
  workflowId: "w",
  executionId: "e",
  nodeId: "n",
  idempotencyKey: "k",
  attempt: 1,
  params: JSON.stringify(params),
  resume: undefined,
});

test("execute gets parsed params and items, and its plain objects become main items", async () => {
  const node = defineNodeWith(host(), {
    describe: { name: "double", displayName: "Double" },
    execute: (ctx, items) => items.map((i) => ({ n: i.json.n * ctx.params.by })),
  });
  const outcome = await node.execute(witCtx({ by: 2 }), [{ json: '{"n":21}', binary: [] }]);
  assert.deepEqual(outcome, { tag: "done", val: [{ port: "main", items: [{ json: '{"n":42}', binary: [] }] }] });
});

test("named ports and pending become the WIT outcome's cases", () => {
  assert.deepEqual(toOutcome({ ports: { true: [{ json: { a: 1 } }], false: [] } }).val, [
    { port: "true", items: [{ json: '{"a":1}', binary: [] }] },
    { port: "false", items: [] },
  ]);
  const later = toOutcome(pending(1500, new Uint8Array([1, 2])));
  assert.equal(later.tag, "pending");
  assert.equal(later.val.pollAfterMs, 1500n);
});

test("a NodeError keeps its code and retry hint; other errors are fatal", async () => {
  const failing = (error) =>
    defineNodeWith(host(), { describe: { name: "x", displayName: "X" }, execute: () => { throw error; } });
  await assert.rejects(failing(new NodeError("rate limited", { retryable: true, code: "429", retryAfterMs: 7000 })).execute(witCtx({}), []), (thrown) => {
    assert.deepEqual(thrown.payload, { message: "rate limited", retryable: true, retryAfterMs: 7000n, code: "429" });
    return true;
  });
  await assert.rejects(failing(new TypeError("oops")).execute(witCtx({}), []), (thrown) => {
    assert.deepEqual(thrown.payload, { message: "TypeError: oops", retryable: false, retryAfterMs: undefined, code: undefined });
    return true;
  });
});

test("a refused credential is a NodeError naming the slot", async () => {
  const node = defineNodeWith(host({ api: { token: "t" } }), {
    describe: { name: "c", displayName: "C" },
    execute: (ctx) => [{ token: ctx.credential("api").token, other: ctx.credential("other") }],
  });
  await assert.rejects(node.execute(witCtx({}), []), (thrown) => {
    assert.match(thrown.payload.message, /credential `other` was refused: slot `other` is not granted/);
    assert.equal(thrown.payload.code, "credential_refused");
    return true;
  });
});

test("the spec fills defaults and serialises the params schema", () => {
  const spec = toSpec({ name: "hello", displayName: "Hello", params: { type: "object" }, egress: [{ origin: "https://example.com" }], outputs: ["main", "error"] });
  assert.equal(spec.version, "0.1.0");
  assert.equal(spec.paramsSchema, '{"type":"object"}');
  assert.deepEqual(spec.egress, [{ origin: "https://example.com", reason: "" }]);
  assert.deepEqual(spec.outputs[1], { name: "error", displayName: "error" });
  assert.deepEqual(toSpec({ name: "x", displayName: "X" }).outputs, [{ name: "main", displayName: "Output" }]);
  assert.throws(() => toSpec({ displayName: "no name" }), /name/);
});

test("an output that is not an object is refused with its index", () => {
  assert.throws(() => toOutcome([{ ok: 1 }, 5]), /output item 1 is not an object/);
});
