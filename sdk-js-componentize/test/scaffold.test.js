// The author's loop end to end, as a new user runs it: `n8n-work node new`
// for TypeScript and Rust, then build, test, docs, and a run in a workflow
// beside a Code node.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { n8nWorkBinary } from "../src/testing.js";

const work = mkdtempSync(join(tmpdir(), "scaffold-"));
const env = { ...process.env, N8N_WORK_DATA_DIR: join(work, "data") };

after(() => rmSync(work, { recursive: true, force: true }));

function n8nWork(args, cwd) {
  return new Promise((resolve, reject) => {
    execFile(n8nWorkBinary(), args, { cwd, env, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`n8n-work ${args.join(" ")} failed:\n${stdout}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

const workflow = (type) => `
name: scaffolded
nodes:
  - {id: start, type: manual}
  - {id: greet, type: ${type}, params: {greeting: Hi}}
  - id: shout
    type: builtin:code
    params:
      code: |
        return $input.all().map(i => ({ shout: i.json.message.toUpperCase(), first: $('start').first().json.name }));
connections:
  - {from: start, to: greet}
  - {from: greet, to: shout}
`;

async function loop(name, lang, edit) {
  await n8nWork(["node", "new", name, "--lang", lang], work);
  const dir = join(work, name);
  edit(dir);
  const built = await n8nWork(["node", "build"], dir);
  assert.match(built, /precompiled `/);
  const tested = await n8nWork(["node", "test"], dir);
  assert.match(tested, /2 passed, 0 failed/);
  await n8nWork(["node", "docs"], dir);
  assert.match(readFileSync(join(dir, "NODE.md"), "utf8"), /\| `greeting` \| string \|/);
  writeFileSync(join(dir, "workflow.yaml"), workflow(`me/${name}@0.1.0`));
  const out = await n8nWork(
    ["run", "workflow.yaml", "--node", `me/${name}@0.1.0=dist/node.wasm`, "--input", '[{"name":"Ada"}]'],
    dir,
  );
  return JSON.parse(out);
}

test("a scaffolded TypeScript node, edited, builds, passes its tests and runs in a workflow", { timeout: 600_000 }, async () => {
  const result = await loop("hello-ts", "ts", (dir) => {
    // The one-line edit a new user makes: the message's punctuation.
    const source = join(dir, "src", "node.ts");
    writeFileSync(source, readFileSync(source, "utf8").replace("}!`", "}!!`"));
    const cases = join(dir, "tests", "cases.json");
    writeFileSync(cases, readFileSync(cases, "utf8").replaceAll('!"', '!!"'));
    const unit = join(dir, "test", "node.test.js");
    writeFileSync(unit, readFileSync(unit, "utf8").replace("Hi, Ada!", "Hi, Ada!!"));
  });
  assert.deepEqual(result, [{ shout: "HI, ADA!!", first: "Ada" }]);
});

test("a scaffolded Rust node builds, passes its tests and runs in a workflow", { timeout: 1_200_000 }, async () => {
  const result = await loop("hello-rs", "rust", () => {});
  assert.deepEqual(result, [{ shout: "HI, ADA!", first: "Ada" }]);
});
