// Runs the built component (dist/node.wasm) through the real n8n-work runtime.

import assert from "node:assert/strict";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { runNode } from "n8n-work-node-sdk/testing";

const wasm = fileURLToPath(new URL("../dist/node.wasm", import.meta.url));

test("greets each item by name", async () => {
  const report = await runNode(wasm, { params: { greeting: "Hi" }, items: [{ name: "Ada" }] });
  assert.equal(report.error, null, JSON.stringify(report.error));
  assert.deepEqual(report.items, [{ name: "Ada", message: "Hi, Ada!" }]);
});
