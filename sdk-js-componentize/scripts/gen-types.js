// Generates the TypeScript types of the WIT contract (types/wit/) with
// `jco types`: they are never written by hand. test/types.test.js checks that
// the committed ones match wit/.

import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { witDir } from "../src/build.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** Writes the types for wit/ into `outDir` (default: types/wit). */
export function generateTypes(outDir = join(root, "types", "wit")) {
  // jco reads the WIT through a WASI sandbox that sees only the working
  // directory, so it runs in a scratch copy.
  const scratch = mkdtempSync(join(tmpdir(), "n8n-work-types-"));
  try {
    cpSync(witDir(), join(scratch, "wit"), { recursive: true });
    const jco = join(root, "node_modules", "@bytecodealliance", "jco", "src", "jco.js");
    execFileSync(
      process.execPath,
      [jco, "types", "wit", "--world-name", "node", "--all-features", "--quiet", "-o", "out"],
      { cwd: scratch, stdio: ["ignore", "inherit", "inherit"] },
    );
    rmSync(outDir, { recursive: true, force: true });
    cpSync(join(scratch, "out"), outDir, { recursive: true });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  return outDir;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  console.log(`wrote ${generateTypes(process.argv[2])}`);
}
