// Keys of the chat (folded names, which may be any Unicode) as NATS subject tokens and bucket
// keys, which may not: their UTF-8 bytes in hex.

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * A key as a subject token or bucket key.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { hexKey, unhexKey } from "./keys.ts";
 *
 * assertEquals(hexKey("é.b"), "c3a92e62");
 * assertEquals(unhexKey("c3a92e62"), "é.b");
 * ```
 */
export function hexKey(key: string): string {
  let hex = "";
  for (const byte of encoder.encode(key)) hex += byte.toString(16).padStart(2, "0");
  return hex;
}

/** The key a {@linkcode hexKey} came from. */
export function unhexKey(hex: string): string {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return decoder.decode(bytes);
}
