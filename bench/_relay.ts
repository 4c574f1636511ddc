// The reference relay: the smallest Deno program that does Parley's job on the bench's load,
// so its throughput is this runtime's ceiling on this machine. It answers a `hello` line with
// `{"type":"welcome"}` and copies every other line, once, to every other connection that said
// hello. No validation, no storage, no names. It has what makes Parley fast: TCP_NODELAY, a
// 4 KiB read buffer per connection as in _net/framing.ts, each line copied once for all its
// recipients, and one writer per connection that joins whatever queued up into one write.
//
//   deno run --allow-net bench/_relay.ts [PORT]    prints "relay listening on 127.0.0.1:PORT"

const encoder = new TextEncoder();
const HELLO = encoder.encode('{"type":"hello"');
const WELCOME = encoder.encode('{"type":"welcome"}\n');
const NEWLINE = 0x0a;

/** A connection and its queue of bytes to write. */
class Peer {
  joined = false;
  #queue: Uint8Array[] = [];
  #queued = 0;
  #writing = false;

  constructor(readonly conn: Deno.TcpConn) {}

  push(bytes: Uint8Array): void {
    this.#queue.push(bytes);
    this.#queued += bytes.length;
    if (!this.#writing) this.#drain();
  }

  async #drain(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#queue.length > 0) {
        let data = this.#queue.length === 1 ? this.#queue[0]! : concat(this.#queue, this.#queued);
        this.#queue = [];
        this.#queued = 0;
        while (data.length > 0) data = data.subarray(await this.conn.write(data));
      }
    } catch {
      this.#queue = [];
      this.#queued = 0;
    } finally {
      this.#writing = false;
    }
  }
}

const peers = new Set<Peer>();

async function serve(peer: Peer): Promise<void> {
  const buffer = new Uint8Array(4096);
  let partial: Uint8Array[] = [];
  let partialBytes = 0;
  try {
    while (true) {
      const count = await peer.conn.read(buffer);
      if (count === null) break;
      let start = 0;
      for (let end = buffer.indexOf(NEWLINE, 0); end !== -1 && end < count;) {
        const line = partialBytes === 0
          ? buffer.slice(start, end + 1)
          : concat([...partial, buffer.subarray(start, end + 1)], partialBytes + end + 1 - start);
        partial = [];
        partialBytes = 0;
        relay(peer, line);
        start = end + 1;
        end = buffer.indexOf(NEWLINE, start);
      }
      if (start < count) {
        partial.push(buffer.slice(start, count));
        partialBytes += count - start;
      }
    }
  } catch {
    // Reset: the peer is gone.
  } finally {
    peers.delete(peer);
    try {
      peer.conn.close();
    } catch {
      // Closed already.
    }
  }
}

function relay(from: Peer, line: Uint8Array): void {
  if (startsWith(line, HELLO)) {
    from.joined = true;
    return from.push(WELCOME);
  }
  if (!from.joined) return;
  for (const peer of peers) if (peer !== from && peer.joined) peer.push(line);
}

function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  if (bytes.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

function concat(parts: Uint8Array[], length: number): Uint8Array {
  const result = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    result.set(part, offset);
    offset += part.length;
  }
  return result;
}

if (import.meta.main) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: Number(Deno.args[0] ?? 0) });
  console.log(`relay listening on 127.0.0.1:${listener.addr.port}`);
  Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
  for await (const conn of listener) {
    conn.setNoDelay(true);
    const peer = new Peer(conn);
    peers.add(peer);
    serve(peer);
  }
}
