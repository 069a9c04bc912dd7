// The committed WIT types are what `jco types` makes of wit/ today.

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { generateTypes } from "../scripts/gen-types.js";

const committed = join(dirname(fileURLToPath(import.meta.url)), "..", "types", "wit");

function files(dir) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath ?? e.path, e.name)))
    .sort();
}

test("types/wit matches wit/ (regenerate with npm run types)", () => {
  const fresh = mkdtempSync(join(tmpdir(), "types-check-"));
  try {
    generateTypes(join(fresh, "wit"));
    const generated = join(fresh, "wit");
    assert.deepEqual(files(committed), files(generated));
    for (const file of files(generated)) {
      assert.equal(readFileSync(join(committed, file), "utf8"), readFileSync(join(generated, file), "utf8"), file);
    }
    assert.match(readFileSync(join(generated, "node.d.ts"), "utf8"), /export function execute\(ctx: Context, items: Array<Item>\): Outcome;/);
  } finally {
    rmSync(fresh, { recursive: true, force: true });
  }
});
