// Installed once per Evaluator, before the intrinsics are frozen.
(function () {
  "use strict";
  const G = globalThis;
  const MAX = G.__maxStringLength;
  const def = (proto, name, fn) =>
    Object.defineProperty(proto, name, { value: fn, writable: false, enumerable: false, configurable: false });

  // A deep freeze: an object, what its properties and accessors hold, and
  // its prototypes. The seal uses one on the intrinsics, luxon.js on what it
  // hands out.
  const freezer = () => {
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
    return freeze;
  };
  Object.defineProperty(G, "__freezer", { value: freezer, writable: false, enumerable: false, configurable: true });

  // Capped amplifiers: the native versions allocate before any budget can stop them.
  const nativeRepeat = String.prototype.repeat;
  def(String.prototype, "repeat", function (n) {
    const s = String(this);
    if (s.length * Number(n) > MAX) throw new RangeError("repeat: result longer than the output limit of " + MAX + " characters");
    return nativeRepeat.call(s, n);
  });
  for (const name of ["padStart", "padEnd"]) {
    const nativePad = String.prototype[name];
    def(String.prototype, name, function (n, fill) {
      if (Number(n) > MAX) throw new RangeError(name + ": result longer than the output limit of " + MAX + " characters");
      return nativePad.call(String(this), n, fill);
    });
  }
  const nativeFill = Array.prototype.fill;
  def(Array.prototype, "fill", function (...args) {
    if (this.length > MAX) throw new RangeError("fill: array longer than the limit of " + MAX);
    return nativeFill.apply(this, args);
  });
  // `join` and `concat` are native and count bytes (strings.rs).

  // Spreads (`[...a, ...a]`, `f(...a)`), `for...of` and `Array.prototype.concat`
  // build arrays natively, element by element, where the instruction budget
  // never looks: the elements they hand out are charged against one budget
  // per evaluation (strings.rs), so doubling an array stops before memory runs out.
  const charge = G.__chargeElements;
  const nativeValues = Array.prototype.values;
  const values = function values() { charge(this.length); return nativeValues.call(this); };
  def(Array.prototype, "values", values);
  def(Array.prototype, Symbol.iterator, values);
  const nativeStringIterator = String.prototype[Symbol.iterator];
  def(String.prototype, Symbol.iterator, function () { const s = String(this); charge(s.length); return nativeStringIterator.call(s); });
  const nativeArrayConcat = Array.prototype.concat;
  def(Array.prototype, "concat", function (...args) {
    let n = this.length;
    for (let i = 0; i < args.length; i++) n += Array.isArray(args[i]) ? args[i].length : 1;
    charge(n);
    return nativeArrayConcat.apply(this, args);
  });

  // `replace`/`replaceAll`: a replacement string can repeat the whole input
  // per match (`$\``), and a function can return anything; both go through
  // a counting function, so the result is refused before it is built.
  const tooLong = (what) => new RangeError(what + ": result longer than the output limit of " + MAX + " characters");
  const substitute = (tpl, args) => {
    // GetSubstitution: args are (match, ...captures, position, string[, groups]).
    const hasGroups = typeof args[args.length - 1] === "object" && args[args.length - 1] !== null;
    const groups = hasGroups ? args[args.length - 1] : undefined;
    const str = args[args.length - (hasGroups ? 2 : 1)];
    const pos = args[args.length - (hasGroups ? 3 : 2)];
    const m = args[0];
    const caps = args.slice(1, args.length - (hasGroups ? 3 : 2));
    return tpl.replace(/\$(\$|&|`|'|\d{1,2}|<[^>]*>)/g, (all, t) => {
      if (t === "$") return "$";
      if (t === "&") return m;
      if (t === "`") return str.slice(0, pos);
      if (t === "'") return str.slice(pos + m.length);
      if (t[0] === "<") {
        if (groups === undefined) return all;
        const g = groups[t.slice(1, -1)];
        return g === undefined ? "" : String(g);
      }
      let n = Number(t);
      if (t.length === 2 && (n > caps.length || n === 0)) { n = Number(t[0]); if (n >= 1 && n <= caps.length) { const c = caps[n - 1]; return (c === undefined ? "" : c) + t[1]; } return all; }
      if (n >= 1 && n <= caps.length) { const c = caps[n - 1]; return c === undefined ? "" : c; }
      return all;
    });
  };
  const counted = (what, replacement) => {
    let total = 0;
    const fn = typeof replacement === "function" ? replacement : null;
    const tpl = fn ? null : String(replacement);
    if (tpl !== null && tpl.indexOf("$") < 0) {
      return (...args) => { total += tpl.length; if (total > MAX) throw tooLong(what); return tpl; };
    }
    return function (...args) {
      const r = fn ? String(fn.apply(undefined, args)) : substitute(tpl, args);
      total += r.length;
      if (total > MAX) throw tooLong(what);
      return r;
    };
  };
  for (const name of ["replace", "replaceAll"]) {
    const native = String.prototype[name];
    def(String.prototype, name, function (pattern, replacement) {
      return native.call(this, pattern, counted(name, replacement));
    });
  }
  const nativeSymbolReplace = RegExp.prototype[Symbol.replace];
  def(RegExp.prototype, Symbol.replace, function (s, replacement) {
    return nativeSymbolReplace.call(this, s, counted("replace", replacement));
  });

  // JSON.stringify counts what it writes (keys, strings, indentation) and
  // the depth it reaches, through a replacer, and stops at the limits.
  const nativeStringify = JSON.stringify;
  def(JSON, "stringify", function (value, replacer, space) {
    const gap = typeof space === "number" ? Math.min(10, Math.max(0, Math.floor(space))) : typeof space === "string" ? Math.min(10, space.length) : 0;
    const depthOf = new Map();
    let total = 0;
    const user = typeof replacer === "function" ? replacer : null;
    const allow = Array.isArray(replacer) ? new Set(replacer.map(String)) : null;
    const measure = function (key, v) {
      if (allow && key !== "" && !Array.isArray(this) && !allow.has(key)) return undefined;
      const out = user ? user.call(this, key, v) : v;
      const depth = (depthOf.get(this) || 0) + 1;
      if (depth > 100) throw new RangeError("JSON.stringify: value nests deeper than 100 levels");
      if (out !== null && typeof out === "object") depthOf.set(out, depth);
      total += String(key).length + 4 + gap * depth;
      if (typeof out === "string") total += out.length + 2;
      else if (typeof out === "number" || typeof out === "bigint") total += 24;
      if (total > MAX) throw tooLong("JSON.stringify");
      return out;
    };
    return nativeStringify(value, measure, space);
  });
  // A nested array is flattened by native recursion: bound its depth.
  const nativeFlat = Array.prototype.flat;
  def(Array.prototype, "flat", function (depth) {
    const d = depth === undefined ? 1 : Number(depth);
    return nativeFlat.call(this, d > 100 ? 100 : d);
  });
  const nativeFrom = Array.from;
  def(Array, "from", function (src, fn) {
    if (src != null && Number(src.length) > MAX) throw new RangeError("Array.from: length above the limit of " + MAX);
    if (typeof fn !== "function") return nativeFrom.call(Array, src);
    const out = [];
    let i = 0;
    for (const v of nativeFrom.call(Array, src)) { out.push(fn(v, i)); i++; }
    return out;
  });

  // Higher-order array methods in JS, so that callbacks run inside the
  // instruction budget (a native caller would run them outside it).
  const A = Array.prototype;
  def(A, "map", function (fn) { const o = new Array(this.length); for (let i = 0; i < this.length; i++) if (i in this) o[i] = fn(this[i], i, this); return o; });
  def(A, "filter", function (fn) { const o = []; for (let i = 0; i < this.length; i++) if (i in this && fn(this[i], i, this)) o.push(this[i]); return o; });
  def(A, "forEach", function (fn) { for (let i = 0; i < this.length; i++) if (i in this) fn(this[i], i, this); });
  def(A, "some", function (fn) { for (let i = 0; i < this.length; i++) if (i in this && fn(this[i], i, this)) return true; return false; });
  def(A, "every", function (fn) { for (let i = 0; i < this.length; i++) if (i in this && !fn(this[i], i, this)) return false; return true; });
  def(A, "find", function (fn) { for (let i = 0; i < this.length; i++) if (fn(this[i], i, this)) return this[i]; return undefined; });
  def(A, "findIndex", function (fn) { for (let i = 0; i < this.length; i++) if (fn(this[i], i, this)) return i; return -1; });
  def(A, "flatMap", function (fn) { const o = []; for (let i = 0; i < this.length; i++) { const r = fn(this[i], i, this); if (Array.isArray(r)) for (const x of r) o.push(x); else o.push(r); } return o; });
  def(A, "reduce", function (fn, ...init) {
    let i = 0, acc;
    if (init.length) acc = init[0];
    else { if (!this.length) throw new TypeError("reduce of empty array with no initial value"); acc = this[0]; i = 1; }
    for (; i < this.length; i++) if (i in this) acc = fn(acc, this[i], i, this);
    return acc;
  });

  // n8n helper extensions.
  const S = String.prototype;
  const words = (s) => String(s).replace(/([a-z0-9])([A-Z])/g, "$1 $2").split(/[^A-Za-z0-9]+/).filter((w) => w.length > 0);
  def(S, "isEmpty", function () { return this.length === 0; });
  def(S, "isNotEmpty", function () { return this.length > 0; });
  // As the title-case package n8n uses: words with capitals inside stay as written.
  def(S, "toTitleCase", function () {
    return String(this).replace(/\S+/g, (w) => (/[A-Z]/.test(w.slice(1)) || w.includes(".") ? w : w.charAt(0).toUpperCase() + w.slice(1).toLowerCase()));
  });
  def(S, "toSentenceCase", function () { const s = String(this).toLowerCase(); return s.charAt(0).toUpperCase() + s.slice(1); });
  def(S, "toSnakeCase", function () { return String(this).replace(/[^\w\s-]/g, "").trim().replace(/[\s-]+/g, "_").toLowerCase(); });
  def(S, "toKebabCase", function () { return words(this).map((w) => w.toLowerCase()).join("-"); });
  def(S, "toCamelCase", function () { return words(this).map((w, i) => i ? w.charAt(0).toUpperCase() + w.slice(1).toLowerCase() : w.toLowerCase()).join(""); });
  def(S, "extractEmail", function () { const m = /[\w.+-]+@[\w-]+(\.[\w-]+)+/.exec(this); return m ? m[0] : undefined; });
  def(S, "extractUrl", function () { const m = /https?:\/\/[^\s"'<>]+/.exec(this); return m ? m[0] : undefined; });
  def(S, "extractDomain", function () { const e = /@([\w-]+(\.[\w-]+)+)/.exec(this); if (e) return e[1]; const m = /^(?:https?:\/\/)?([^\/:?#\s]+)/.exec(this); return m ? m[1] : undefined; });
  def(S, "isEmail", function () { return /^[\w.+-]+@[\w-]+(\.[\w-]+)+$/.test(this); });
  def(S, "isUrl", function () { return /^https?:\/\/[^\s]+$/.test(this); });
  def(S, "isNumeric", function () { return String(this).trim() !== "" && !isNaN(Number(this)); });
  def(S, "toNumber", function () { return Number(this); });
  def(S, "toInt", function () { return parseInt(this, 10); });
  def(S, "toFloat", function () { return parseFloat(this); });
  def(S, "toBoolean", function () { const s = String(this).trim().toLowerCase(); return !(s === "" || s === "false" || s === "0" || s === "no" || s === "off"); });
  def(S, "removeTags", function () { return String(this).replace(/<[^>]*>/g, ""); });
  def(S, "quote", function (q) { q = q === undefined ? '"' : q; return q + String(this).split(q).join("\\" + q) + q; });

  def(A, "isEmpty", function () { return this.length === 0; });
  def(A, "isNotEmpty", function () { return this.length > 0; });
  def(A, "first", function () { return this[0]; });
  def(A, "last", function () { return this[this.length - 1]; });
  def(A, "compact", function () { return this.filter((v) => v !== null && v !== undefined && v !== "" && !(typeof v === "number" && isNaN(v))); });
  def(A, "sum", function () { return this.reduce((a, b) => a + Number(b), 0); });
  def(A, "min", function () { return this.length ? Math.min(...this) : undefined; });
  def(A, "max", function () { return this.length ? Math.max(...this) : undefined; });
  def(A, "average", function () { return this.length ? this.sum() / this.length : undefined; });
  def(A, "pluck", function (...fields) {
    return this.map((o) => {
      if (o === null || typeof o !== "object") return undefined;
      if (fields.length === 1) return o[fields[0]];
      return fields.map((f) => o[f]);
    }).filter((v) => v !== undefined);
  });
  def(A, "unique", function (...fields) {
    const seen = new Set(), out = [];
    for (const v of this) {
      const key = fields.length && v !== null && typeof v === "object"
        ? JSON.stringify(fields.map((f) => v[f]))
        : (v !== null && typeof v === "object" ? JSON.stringify(v) : typeof v + ":" + String(v));
      if (!seen.has(key)) { seen.add(key); out.push(v); }
    }
    return out;
  });
  def(A, "chunk", function (n) { const o = []; for (let i = 0; i < this.length; i += n) o.push(this.slice(i, i + n)); return o; });
  def(A, "removeDuplicates", A.unique);

  const N = Number.prototype;
  def(N, "round", function (d) { const f = Math.pow(10, d || 0); return Math.round(this * f) / f; });
  def(N, "floor", function () { return Math.floor(this); });
  def(N, "ceil", function () { return Math.ceil(this); });
  def(N, "abs", function () { return Math.abs(this); });
  def(N, "isEven", function () { return this % 2 === 0; });
  def(N, "isOdd", function () { return Math.abs(this % 2) === 1; });
  def(N, "isInteger", function () { return Number.isInteger(Number(this)); });
  def(N, "toBoolean", function () { return Number(this) !== 0; });

  // Dates (luxon.js, compiled by the host into `__luxon`), set up on first
  // use; the host's zone lookups go to it and leave the global object.
  const luxonFactory = G.__luxon, zoneOffset = G.__zoneOffset, zoneName = G.__zoneName;
  delete G.__luxon; delete G.__zoneOffset; delete G.__zoneName;
  let luxon;
  const dates = () => luxon || (luxon = luxonFactory(zoneOffset, zoneName, freezer));
  const lazy = (name, get) => Object.defineProperty(G, name, { get, enumerable: false, configurable: false });
  lazy("DateTime", () => dates().DateTime);
  lazy("Duration", () => dates().Duration);
  lazy("$now", () => dates().DateTime.now());
  lazy("$today", () => dates().DateTime.now().startOf("day"));
  def(String.prototype, "toDateTime", function (...args) { return dates().stringToDateTime.apply(this, args); });
  def(Number.prototype, "toDateTime", function (...args) { return dates().numberToDateTime.apply(this, args); });
  def(Date.prototype, "toDateTime", function () { return dates().dateToDateTime.call(this); });

  // Context accessors over the per-evaluation data the host sets.
  const item = (json) => ({ json: json });
  const nodeAccess = (name) => {
    const nodes = G.__nodes;
    if (!nodes || !Object.prototype.hasOwnProperty.call(nodes, name))
      throw new ReferenceError("no node named `" + name + "` has run before this one");
    const items = nodes[name];
    const idx = G.$itemIndex;
    return {
      get item() { return item(items[idx] !== undefined ? items[idx] : items[0]); },
      get json() { return (items[idx] !== undefined ? items[idx] : items[0]); },
      first() { return item(items[0]); },
      last() { return item(items[items.length - 1]); },
      all() { return items.map(item); },
      isExecuted: true,
    };
  };
  Object.defineProperty(G, "$", { value: nodeAccess, writable: false, enumerable: false, configurable: false });
  Object.defineProperty(G, "$node", {
    value: new Proxy({}, { get: (t, name) => (typeof name === "string" ? nodeAccess(name) : undefined) }),
    writable: false, enumerable: false, configurable: false,
  });
  Object.defineProperty(G, "$input", {
    value: Object.freeze({
      all() { return (G.__inputItems || []).map(item); },
      first() { const a = G.__inputItems || []; return a.length ? item(a[0]) : undefined; },
      last() { const a = G.__inputItems || []; return a.length ? item(a[a.length - 1]) : undefined; },
      get item() { const a = G.__inputItems || []; return item(a[G.$itemIndex]); },
    }),
    writable: false, enumerable: false, configurable: false,
  });

  // More of n8n's extension functions (n8n-workflow's extensions, 1.119).
  const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const utf8 = (s) => {
    const e = encodeURIComponent(s), out = [];
    for (let i = 0; i < e.length; i++) {
      if (e[i] === "%") { out.push(parseInt(e.slice(i + 1, i + 3), 16)); i += 2; } else out.push(e.charCodeAt(i));
    }
    return out;
  };
  def(S, "base64Encode", function () {
    const b = utf8(String(this)); let o = "";
    for (let i = 0; i < b.length; i += 3) {
      const n = (b[i] << 16) | ((b[i + 1] || 0) << 8) | (b[i + 2] || 0);
      o += B64[(n >> 18) & 63] + B64[(n >> 12) & 63] + (i + 1 < b.length ? B64[(n >> 6) & 63] : "=") + (i + 2 < b.length ? B64[n & 63] : "=");
    }
    return o;
  });
  def(S, "base64Decode", function () {
    const s = String(this).replace(/[^A-Za-z0-9+/]/g, ""); let pct = "";
    const hex = (b) => "%" + (b < 16 ? "0" : "") + b.toString(16);
    for (let i = 0; i < s.length; i += 4) {
      const n = (B64.indexOf(s[i]) << 18) | (B64.indexOf(s[i + 1]) << 12) | ((B64.indexOf(s[i + 2]) & 63) << 6) | (B64.indexOf(s[i + 3]) & 63);
      pct += hex((n >> 16) & 255);
      if (s[i + 2] !== undefined) pct += hex((n >> 8) & 255);
      if (s[i + 3] !== undefined) pct += hex(n & 255);
    }
    return decodeURIComponent(pct);
  });
  def(S, "urlEncode", function (all) { return all ? encodeURIComponent(String(this)) : encodeURI(String(this)).replace(/[&=+?#]/g, (c) => encodeURIComponent(c)); });
  def(S, "urlDecode", function (all) { return all ? decodeURIComponent(String(this)) : decodeURIComponent(String(this)); });
  def(S, "extractUrlPath", function () { const m = /^[a-z][a-z0-9+.-]*:\/\/[^\/?#]*([^?#]*)/i.exec(String(this)); return m ? (m[1] || "/") : undefined; });
  def(S, "removeMarkdown", function () {
    return String(this).replace(/!\[([^\]]*)\]\([^)]*\)/g, "$1").replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
      .replace(/^#{1,6}\s+/gm, "").replace(/(\*\*|__)(.*?)\1/g, "$2").replace(/(\*|_)(.*?)\1/g, "$2")
      .replace(/`{1,3}([^`]*)`{1,3}/g, "$1").replace(/^\s*>\s?/gm, "").replace(/^\s*[-*+]\s+/gm, "");
  });
  def(S, "replaceSpecialChars", function () { return String(this).normalize("NFD").replace(/[\u0300-\u036f]/g, ""); });
  def(S, "parseJson", function () { return JSON.parse(String(this)); });

  const group = (n, locale) => {
    const seps = { de: [".", ","], es: [".", ","], it: [".", ","], nl: [".", ","], pt: [".", ","], fr: ["\u202f", ","] };
    const [g, d] = seps[String(locale || "en").slice(0, 2)] || [",", "."];
    const neg = n < 0; const fixed = String(Math.round(Math.abs(n) * 1000) / 1000);
    const [int, frac] = fixed.split(".");
    const grouped = int.replace(/\B(?=(\d{3})+(?!\d))/g, g);
    return (neg ? "-" : "") + grouped + (frac ? d + frac : "");
  };
  def(N, "format", function (locale) { return group(Number(this), locale); });

  def(A, "difference", function (other) { return this.filter((v) => !other.includes(v)); });
  def(A, "intersection", function (other) { return this.filter((v, i) => other.includes(v) && this.indexOf(v) === i); });
  def(A, "union", function (other) { return this.concat(other).unique(); });
  def(A, "append", function (...values) { return this.concat(values); });
  def(A, "toJsonString", function () { return JSON.stringify(this); });
  def(A, "randomItem", function () { return this[Math.floor(Math.random() * this.length)]; });
  def(A, "smartJoin", function (keyField, valueField) {
    const out = {}; for (const o of this) if (o && typeof o === "object") out[o[keyField]] = o[valueField]; return out;
  });
  def(A, "renameKeys", function (...pairs) {
    return this.map((o) => {
      if (o === null || typeof o !== "object") return o;
      const r = { ...o };
      for (let i = 0; i + 1 < pairs.length; i += 2) if (pairs[i] in r) { const v = r[pairs[i]]; delete r[pairs[i]]; r[pairs[i + 1]] = v; }
      return r;
    });
  });
  def(A, "merge", function () {
    const out = {}; for (const o of this) if (o && typeof o === "object" && !Array.isArray(o)) for (const k of Object.keys(o)) if (!(k in out)) out[k] = o[k]; return out;
  });

  // Object extensions as accessors, so that assigning a field of the same
  // name on a data object (`o.keys = 1`, `Object.assign`) still works.
  const O = Object.prototype;
  const objectFn = (name, fn) => Object.defineProperty(O, name, {
    get() { return fn; },
    set(v) { Object.defineProperty(this, name, { value: v, writable: true, enumerable: true, configurable: true }); },
    enumerable: false, configurable: false,
  });
  const compactObject = (o) => {
    const out = {};
    for (const [k, v] of Object.entries(o)) {
      if (v === null || v === undefined || v === "") continue;
      out[k] = typeof v === "object" ? compactObject(v) : v;
    }
    return out;
  };
  objectFn("isEmpty", function () { return Object.keys(this).length === 0; });
  objectFn("isNotEmpty", function () { return Object.keys(this).length > 0; });
  objectFn("hasField", function (k) { return Object.prototype.hasOwnProperty.call(this, k); });
  objectFn("removeField", function (k) { const r = { ...this }; delete r[k]; return r; });
  objectFn("compact", function () { return compactObject(this); });
  objectFn("keys", function () { return Object.keys(this); });
  objectFn("values", function () { return Object.values(this); });
  objectFn("toJsonString", function () { return JSON.stringify(this); });
  objectFn("urlEncode", function () {
    return Object.entries(this).map(([k, v]) => encodeURIComponent(k) + "=" + encodeURIComponent(String(v))).join("&");
  });
  objectFn("merge", function () { throw new TypeError('merge() is only callable on type "Array"'); });

  Object.defineProperty(G, "$runIndex", { value: 0, writable: false, enumerable: false, configurable: false });
  const emptyish = (v) => v === undefined || v === null || v === "" ||
    (Array.isArray(v) && v.length === 0) || (typeof v === "object" && v !== null && !Array.isArray(v) && Object.keys(v).length === 0);
  Object.defineProperty(G, "$ifEmpty", { value: (v, d) => (emptyish(v) ? d : v), writable: false, enumerable: false, configurable: false });
  Object.defineProperty(G, "$max", { value: (...a) => Math.max(...a), writable: false, enumerable: false, configurable: false });
  Object.defineProperty(G, "$min", { value: (...a) => Math.min(...a), writable: false, enumerable: false, configurable: false });
})();
