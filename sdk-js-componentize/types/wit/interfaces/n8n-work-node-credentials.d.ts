/** @module Interface n8n-work:node/credentials@0.1.0 **/
/**
 * The credential in slot `name` as a JSON object, or why it is refused.
 */
export function get(name: string): Json;
export type Json = import('./n8n-work-node-types.js').Json;
