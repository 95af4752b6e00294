/**
 * Byte helpers shared by everything that reads or writes raw streams (the gate, the Unix-socket
 * HTTP client, the MCP server's stdio, the hook's stdin).
 *
 * @module
 */

/** Anything with `Deno.Conn`'s or `Deno.stdout`'s `write`: it may take fewer bytes than given. */
export interface ByteWriter {
  write(bytes: Uint8Array): Promise<number>;
}

/** `parts` in one array. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(parts.reduce((size, part) => size + part.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    bytes.set(part, offset);
    offset += part.byteLength;
  }
  return bytes;
}

/** Writes all of `bytes`, however few each write takes. */
export async function writeAll(writer: ByteWriter, bytes: Uint8Array): Promise<void> {
  for (let written = 0; written < bytes.byteLength;) {
    written += await writer.write(bytes.subarray(written));
  }
}
