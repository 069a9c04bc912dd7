// Run once after the prelude: removes every way to build code from strings
// and freezes the intrinsics, so one evaluation cannot change what the next sees.
(function () {
  "use strict";
  const G = globalThis;
  const DATA = ["$json", "$itemIndex", "$execution", "$workflow", "$vars", "__inputItems", "__nodes", "__nowMillis"];
  for (const k of DATA)
    Object.defineProperty(G, k, { value: undefined, writable: true, enumerable: false, configurable: false });
  const fnProtos = [
    Object.getPrototypeOf(function () {}),
    Object.getPrototypeOf(async function () {}),
    Object.getPrototypeOf(function* () {}),
    Object.getPrototypeOf(async function* () {}),
  ];
  for (const p of fnProtos)
    Object.defineProperty(p, "constructor", { value: undefined, writable: false, enumerable: false, configurable: false });
  for (const k of ["eval", "Function", "Proxy", "WeakRef", "FinalizationRegistry", "SharedArrayBuffer", "Atomics", "globalThis"])
    delete G[k];
  const freeze = G.__freezer();
  delete G.__freezer;
  for (const p of fnProtos) freeze(p);
  freeze([][Symbol.iterator]());
  freeze(""[Symbol.iterator]());
  freeze(new Map().entries());
  freeze(new Set().values());
  freeze("".matchAll(/x/g));
  for (const k of Reflect.ownKeys(G)) {
    if (DATA.includes(k)) continue;
    const d = Object.getOwnPropertyDescriptor(G, k);
    if ("value" in d) {
      freeze(d.value);
      Object.defineProperty(G, k, { writable: false, configurable: false });
    } else {
      Object.defineProperty(G, k, { configurable: false });
    }
  }
  Object.preventExtensions(G);
})();
