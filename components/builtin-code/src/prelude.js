// The globals n8n users know from the Code node, built once per step over the
// data the node hands in. Evaluates to a function of (data, emit); it returns
// `setItem(i)`, which points `$json`, `$input.item` and `$itemIndex` at item i
// in "each item" mode.
(function (data, emit) {
  "use strict";
  const G = globalThis;
  const define = (name, value) =>
    Object.defineProperty(G, name, { value, writable: true, enumerable: false, configurable: true });

  let index = 0;

  // An accessor over one node's items, as `$input` and `$('Name')` are.
  const accessor = (items) => ({
    all: () => items,
    first: () => items[0],
    last: () => items[items.length - 1],
    // The item paired with the current one: the same index, else the first.
    get item() { return items[index] ?? items[0]; },
    itemMatching: (i) => items[i],
    isExecuted: true,
  });

  const input = accessor(data.items);
  const nodes = data.nodes ?? {};
  const known = () => {
    const names = Object.keys(nodes);
    return names.length ? `the nodes that have run: ${names.join(", ")}` : "no node has run before this one";
  };
  const node = (name) => {
    if (!Object.prototype.hasOwnProperty.call(nodes, name)) {
      throw new ReferenceError(`no node named "${name}" has output in this run (${known()}); check the name, and that the node runs before this one`);
    }
    return nodes[name];
  };

  define("items", data.items);
  define("$input", input);
  define("$", (name) => accessor(node(String(name))));
  define("$node", new Proxy({}, {
    get(_, name) {
      if (typeof name !== "string") return undefined;
      const list = node(name);
      const first = list[index] ?? list[0] ?? { json: {} };
      return { json: first.json, binary: first.binary ?? {}, runIndex: 0 };
    },
  }));
  define("$execution", { id: data.executionId, mode: "production" });
  define("$workflow", { id: data.workflowId });
  define("$nodeId", data.nodeId);
  define("$json", undefined);
  define("$itemIndex", undefined);

  const show = (v) => {
    if (typeof v === "string") return v;
    if (v instanceof Error) return `${v.name}: ${v.message}`;
    try {
      const s = JSON.stringify(v);
      return s === undefined ? String(v) : s;
    } catch (_) {
      return String(v);
    }
  };
  const line = (level) => (...args) => emit(level, args.map(show).join(" "));
  define("console", {
    log: line("info"),
    info: line("info"),
    debug: line("debug"),
    trace: line("trace"),
    warn: line("warn"),
    error: line("error"),
  });

  return (i) => {
    index = i;
    const item = data.items[i];
    G.$json = item.json;
    G.$itemIndex = i;
    define("item", item);
  };
})
