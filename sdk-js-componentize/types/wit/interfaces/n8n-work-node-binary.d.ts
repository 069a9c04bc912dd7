/** @module Interface n8n-work:node/binary@0.1.0 **/
/**
 * Up to `len` bytes of binary `id`, starting at `offset`. Fewer bytes
 * than asked means the end was reached.
 */
export function read(id: string, offset: bigint, len: number): Uint8Array;
export type BinaryRef = import('./n8n-work-node-types.js').BinaryRef;

export class Writer {
  constructor(mimeType: string, fileName: string | undefined)
  append(chunk: Uint8Array): void;
  /**
  * Seals the binary and returns its reference; the writer is spent.
  */
  finish(): BinaryRef;
}
