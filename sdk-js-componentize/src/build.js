// Builds a node project into a component: esbuild bundles the entry (JS or
// TypeScript) with this SDK into one ES module, and ComponentizeJS turns that
// module into a component of the `n8n-work:node/node` world.

import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

/** The WIT folder: inside the package when packed, else the repository's. */
export function witDir() {
  for (const candidate of [join(here, "..", "wit"), join(here, "..", "..", "wit")]) {
    if (existsSync(join(candidate, "node.wit"))) return candidate;
  }
  throw new Error(
    "cannot find wit/node.wit beside the SDK; install the SDK from the n8n-work repository (npm install <repo>/sdk-js-componentize)",
  );
}

/** The entry a project builds from: src/node.ts, else src/node.js. */
export function findEntry(projectDir) {
  for (const name of ["src/node.ts", "src/node.js", "src/node.mjs"]) {
    const path = join(projectDir, name);
    if (existsSync(path)) return path;
  }
  throw new Error(`no node source in ${projectDir}: write src/node.ts or src/node.js (n8n-work node new NAME --lang ts makes one)`);
}

/**
 * Builds `projectDir` into `<outDir>/node.wasm`; returns the path and the
 * time each stage took, in milliseconds.
 */
export async function build({ projectDir = process.cwd(), entry, outDir } = {}) {
  projectDir = resolve(projectDir);
  entry = entry ? resolve(projectDir, entry) : findEntry(projectDir);
  outDir = resolve(projectDir, outDir ?? "dist");
  mkdirSync(outDir, { recursive: true });

  const started = Date.now();
  const esbuild = await import("esbuild");
  const bundlePath = join(outDir, "node.bundle.js");
  // The module may export `describe`/`execute` or a default `defineNode(...)`.
  const shim = [
    `import * as m from ${JSON.stringify(entry)};`,
    "const node = m.default ?? m;",
    "export const describe = node.describe;",
    "export const execute = node.execute;",
  ].join("\n");
  await esbuild.build({
    stdin: { contents: shim, resolveDir: projectDir, sourcefile: "entry.js", loader: "js" },
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    mainFields: ["module", "main"],
    external: ["n8n-work:*", "wasi:*"],
    // The node gets the SDK that builds it, wherever the project installed it.
    alias: { "n8n-work-node-sdk": join(here, "index.js") },
    outfile: bundlePath,
    logLevel: "warning",
  });
  const bundled = Date.now();

  const { componentize } = await import("@bytecodealliance/componentize-js");
  const { component } = await componentize({
    sourcePath: bundlePath,
    witPath: witDir(),
    worldName: "node",
    // A node answers no HTTP requests; `fetch` (the `http` feature) stays.
    disableFeatures: ["fetch-event"],
  });
  const wasmPath = join(outDir, "node.wasm");
  writeFileSync(wasmPath, component);
  return { wasm: wasmPath, bundleMs: bundled - started, componentizeMs: Date.now() - bundled };
}
