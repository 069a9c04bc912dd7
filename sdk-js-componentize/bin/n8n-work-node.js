#!/usr/bin/env node
// n8n-work-node: build a JS/TS node project into a component.
//
//   n8n-work-node build [DIR]   bundle src/node.{ts,js} and componentize it into DIR/dist/node.wasm

import { build } from "../src/build.js";

const [command = "help", dir = "."] = process.argv.slice(2);

if (command === "build") {
  try {
    const { wasm, bundleMs, componentizeMs } = await build({ projectDir: dir });
    console.log(`built ${wasm} (bundle ${bundleMs} ms, componentize ${componentizeMs} ms)`);
  } catch (error) {
    console.error(`n8n-work-node build: ${error.message}`);
    process.exit(1);
  }
} else {
  console.log("usage: n8n-work-node build [DIR]\n\nBuilds DIR/src/node.ts (or .js) into DIR/dist/node.wasm.");
  process.exit(command === "help" || command === "--help" ? 0 : 2);
}
