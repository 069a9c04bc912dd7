// A TypeScript node built with this SDK, run by the real n8n-work runtime
// through the test helper: items, logs, errors, and fetch under egress grants.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";

import { build } from "../src/build.js";
import { runNode } from "../src/testing.js";

const fixture = join(dirname(fileURLToPath(import.meta.url)), "fixtures", "fetcher");
const out = mkdtempSync(join(tmpdir(), "sdk-runtime-"));
let wasm;
let server;
let origin;

before(async () => {
  ({ wasm } = await build({ projectDir: fixture, outDir: out }));
  server = createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/plain" });
    res.end(`you asked for ${req.url}`);
  });
  await new Promise((ready) => server.listen(0, "127.0.0.1", ready));
  origin = `http://127.0.0.1:${server.address().port}`;
});

after(() => {
  server?.close();
  rmSync(out, { recursive: true, force: true });
});

test("the built node echoes its items and logs to the step log", async () => {
  const report = await runNode(wasm, { items: [{ n: 1 }, { n: 2 }] });
  assert.equal(report.error, null, JSON.stringify(report.error));
  assert.deepEqual(report.items, [{ n: 1, echoed: true }, { n: 2, echoed: true }]);
  assert.ok(
    report.logs.some((l) => l.source === "node" && l.level === "info" && l.message === "echoing 2 items"),
    JSON.stringify(report.logs),
  );
});

test("a NodeError reaches the host with its code and retry hint", async () => {
  const report = await runNode(wasm, { params: { fail: true } });
  assert.equal(report.outcome, null);
  assert.equal(report.error.detail.code, "asked");
  assert.equal(report.error.retryable, true);
  assert.match(report.error.message, /asked to fail/);
});

test("fetch reaches a granted origin over wasi:http", async () => {
  const report = await runNode(wasm, { params: { url: `${origin}/hello` }, grants: [origin], allowPrivate: "127.0.0.1" });
  assert.equal(report.error, null, JSON.stringify(report.error));
  assert.deepEqual(report.items, [{ status: 200, body: "you asked for /hello" }]);
  assert.equal(report.usage.egress.calls, 1);
});

test("fetch to an origin the step was not granted is refused", async () => {
  const report = await runNode(wasm, { params: { url: `${origin}/secret` }, grants: ["https://example.com"], allowPrivate: "127.0.0.1" });
  assert.equal(report.outcome, null, "the step must fail");
  assert.equal(report.usage.egress.refused, 1, JSON.stringify(report));
  assert.doesNotMatch(report.error.message, /deadline/);
});
