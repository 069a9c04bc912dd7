// world n8n-work:node/node@0.1.0
export type NodeSpec = import('./interfaces/n8n-work-node-types.js').NodeSpec;
export type Context = import('./interfaces/n8n-work-node-types.js').Context;
export type Item = import('./interfaces/n8n-work-node-types.js').Item;
export type Outcome = import('./interfaces/n8n-work-node-types.js').Outcome;
export type NodeError = import('./interfaces/n8n-work-node-types.js').NodeError;
export type * as N8nWorkNodeBinary010 from './interfaces/n8n-work-node-binary.js'; // import n8n-work:node/binary@0.1.0
export type * as N8nWorkNodeCredentials010 from './interfaces/n8n-work-node-credentials.js'; // import n8n-work:node/credentials@0.1.0
export type * as N8nWorkNodeLog010 from './interfaces/n8n-work-node-log.js'; // import n8n-work:node/log@0.1.0
export type * as N8nWorkNodeState010 from './interfaces/n8n-work-node-state.js'; // import n8n-work:node/state@0.1.0
export type * as N8nWorkNodeTypes010 from './interfaces/n8n-work-node-types.js'; // import n8n-work:node/types@0.1.0
export type * as WasiClocksMonotonicClock0212 from './interfaces/wasi-clocks-monotonic-clock.js'; // import wasi:clocks/monotonic-clock@0.2.12
export type * as WasiClocksWallClock0212 from './interfaces/wasi-clocks-wall-clock.js'; // import wasi:clocks/wall-clock@0.2.12
export type * as WasiHttpOutgoingHandler0212 from './interfaces/wasi-http-outgoing-handler.js'; // import wasi:http/outgoing-handler@0.2.12
export type * as WasiHttpTypes0212 from './interfaces/wasi-http-types.js'; // import wasi:http/types@0.2.12
export type * as WasiIoError0212 from './interfaces/wasi-io-error.js'; // import wasi:io/error@0.2.12
export type * as WasiIoPoll0212 from './interfaces/wasi-io-poll.js'; // import wasi:io/poll@0.2.12
export type * as WasiIoStreams0212 from './interfaces/wasi-io-streams.js'; // import wasi:io/streams@0.2.12
export type * as WasiRandomRandom0212 from './interfaces/wasi-random-random.js'; // import wasi:random/random@0.2.12
/**
* The node's spec. Must not do I/O; the host may call it at any time.
*/
export function describe(): NodeSpec;
/**
* Runs one step over the input items.
*/
export function execute(ctx: Context, items: Array<Item>): Outcome;
