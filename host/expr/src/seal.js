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
  const seen = new Set();
  const freeze = (o) => {
    if (o === null || (typeof o !== "object" && typeof o !== "function") || seen.has(o)) return;
    seen.add(o);
    Object.freeze(o);
    for (const k of Reflect.ownKeys(o)) {
      const d = Object.getOwnPropertyDescriptor(o, k);
      if (!d) continue;
      if ("value" in d) freeze(d.value);
      else { freeze(d.get); freeze(d.set); }
    }
    freeze(Object.getPrototypeOf(o));
  };
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
