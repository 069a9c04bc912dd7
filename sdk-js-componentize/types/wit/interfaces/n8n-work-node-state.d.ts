/** @module Interface n8n-work:node/state@0.1.0 **/
export function get(key: string): Uint8Array | undefined;
export function set(key: string, value: Uint8Array): void;
export { _delete as delete };
declare function _delete(key: string): void;
