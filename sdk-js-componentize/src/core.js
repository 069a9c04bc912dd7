// The parts of the SDK that do not touch the host: the conversions between
// the author's plain objects and the WIT records of wit/node.wit. Kept apart
// from index.js so that they run, and are tested, under plain Node.js too.

/** A failure of the node's own making. Throw it from `execute`. */
export class NodeError extends Error {
  /**
   * @param {string} message what went wrong and what to do about it
   * @param {{retryable?: boolean, code?: string, retryAfterMs?: number}} [options]
   */
  constructor(message, options = {}) {
    super(message);
    this.name = "NodeError";
    this.retryable = Boolean(options.retryable);
    this.code = options.code;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** Ask the host to run the step again after `afterMs`, with `state` in `ctx.resume`. */
export function pending(afterMs, state = new Uint8Array()) {
  return { [PENDING]: true, afterMs, state };
}

const PENDING = Symbol("pending");

/** A logger over the host's `log(level, message)`. */
export function makeLog(write) {
  const at = (level) => (...args) => write(level, format(args));
  return Object.freeze({ trace: at("trace"), debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") });
}

export function format(args) {
  return args
    .map((a) => {
      if (typeof a === "string") return a;
      try {
        return JSON.stringify(a) ?? String(a);
      } catch (_) {
        return String(a);
      }
    })
    .join(" ");
}

/**
 * Defines a node. `describe` is the node's spec (an object, or a function
 * returning one); `execute(ctx, items)` returns the output items (an array,
 * for port `main`), `{ ports: { name: items } }`, or `pending(ms, state)`.
 * Items are plain objects or `{ json, binary }`.
 *
 * `host` gives `credential(name)` (JSON text) and `log`; index.js passes
 * the WIT imports.
 */
export function defineNodeWith(host, node) {
  if (!node || typeof node.execute !== "function") {
    throw new TypeError("defineNode needs { describe, execute }, with execute a function (ctx, items) => items");
  }
  return {
    describe: () => toSpec(typeof node.describe === "function" ? node.describe() : node.describe),
    execute: async (ctx, items) => {
      try {
        const result = await node.execute(toContext(host, ctx), items.map(fromWitItem));
        return toOutcome(result);
      } catch (error) {
        // ComponentizeJS turns a thrown `{ payload }` into the `err` case.
        throw { payload: toWitError(error) };
      }
    },
  };
}

/** The spec as the WIT `node-spec` record. */
export function toSpec(spec) {
  if (!spec || typeof spec.name !== "string" || !spec.name) {
    throw new TypeError("describe must give at least { name, displayName }");
  }
  return {
    name: spec.name,
    version: spec.version ?? "0.1.0",
    displayName: spec.displayName ?? spec.name,
    description: spec.description ?? "",
    icon: spec.icon,
    paramsSchema: JSON.stringify(spec.params ?? { type: "object" }),
    credentials: (spec.credentials ?? []).map((c) => ({
      name: c.name,
      types: c.types ?? [],
      required: Boolean(c.required),
      description: c.description ?? "",
    })),
    egress: (spec.egress ?? []).map((e) => ({ origin: e.origin, reason: e.reason ?? "" })),
    // Like the Rust SDK: one output, `main`, unless the node names its own.
    outputs: (spec.outputs ?? [{ name: "main", displayName: "Output" }]).map((o) =>
      typeof o === "string" ? { name: o, displayName: o } : { name: o.name, displayName: o.displayName ?? o.name },
    ),
  };
}

function toContext(host, ctx) {
  let params;
  try {
    params = JSON.parse(ctx.params);
  } catch (_) {
    params = {};
  }
  return {
    params,
    workflowId: ctx.workflowId,
    executionId: ctx.executionId,
    nodeId: ctx.nodeId,
    idempotencyKey: ctx.idempotencyKey,
    attempt: ctx.attempt,
    resume: ctx.resume,
    /** The credential in slot `name` as an object; throws a NodeError when refused. */
    credential(name) {
      let text;
      try {
        text = host.credential(name);
      } catch (e) {
        const why = e && typeof e === "object" && "payload" in e ? e.payload : String(e);
        throw new NodeError(`credential \`${name}\` was refused: ${why}`, { code: "credential_refused" });
      }
      return JSON.parse(text);
    },
    log: host.log,
  };
}

/** A WIT item as `{ json, binary }` with parsed JSON. */
export function fromWitItem(item) {
  return { json: JSON.parse(item.json), binary: Object.fromEntries(item.binary) };
}

/** An item (a plain object, or `{ json, binary }`) as a WIT item. */
export function toWitItem(item, index) {
  if (item === null || typeof item !== "object" || Array.isArray(item)) {
    throw new NodeError(`output item ${index} is not an object; return objects or { json: {...} }`, {
      code: "invalid_output",
    });
  }
  const isItem = "json" in item && item.json !== null && typeof item.json === "object" && !Array.isArray(item.json);
  const json = isItem ? item.json : item;
  const binary = isItem && item.binary ? Object.entries(item.binary) : [];
  return { json: JSON.stringify(json), binary };
}

/** What `execute` returned, as the WIT `outcome`. */
export function toOutcome(result) {
  if (result && result[PENDING]) {
    return { tag: "pending", val: { pollAfterMs: BigInt(Math.max(0, Math.round(result.afterMs))), state: result.state } };
  }
  if (result === undefined || result === null) {
    return { tag: "done", val: [] };
  }
  if (Array.isArray(result)) {
    return { tag: "done", val: [{ port: "main", items: result.map(toWitItem) }] };
  }
  if (typeof result === "object" && result.ports && typeof result.ports === "object") {
    return {
      tag: "done",
      val: Object.entries(result.ports).map(([port, items]) => ({ port, items: items.map(toWitItem) })),
    };
  }
  return { tag: "done", val: [{ port: "main", items: [toWitItem(result, 0)] }] };
}

/** Any thrown value as the WIT `node-error`. */
export function toWitError(error) {
  if (error instanceof NodeError) {
    return {
      message: error.message,
      retryable: error.retryable,
      retryAfterMs: error.retryAfterMs === undefined ? undefined : BigInt(error.retryAfterMs),
      code: error.code,
    };
  }
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return { message, retryable: false, retryAfterMs: undefined, code: undefined };
}
