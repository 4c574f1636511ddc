// The server's sockets: a plain TCP listener, a TLS one, or both, each with its own accept loop,
// and the TLS certificate reloaded in place (for a renewal) without touching open connections.

import { closeQuietly } from "./_disconnect.ts";
import type { Logger } from "./_log.ts";

/** Where a TLS listener finds its certificate chain and private key (PEM files). */
export interface TlsFiles {
  /** The certificate chain, PEM. */
  certFile: string;
  /** The private key, PEM. */
  keyFile: string;
}

/** What to listen on. */
export interface ListenerOptions {
  hostname: string;
  /** The plain TCP port, or undefined for none. */
  port: number | undefined;
  /** The TLS port and its certificate, or undefined for none. */
  tls: (TlsFiles & { port: number }) | undefined;
}

/** A connection from either listener. */
export type ServerConn = Deno.TcpConn | Deno.TlsConn;

/** A server's listeners. */
export class Listeners {
  #options: ListenerOptions;
  #onConn: (conn: ServerConn) => void;
  #log: Logger;
  #plain: Deno.TcpListener | undefined;
  #tls: Deno.TlsListener | undefined;
  #loops = new Set<Promise<void>>();
  #loopOf = new Map<Deno.Listener<ServerConn, Deno.NetAddr>, Promise<void>>();
  #closed = false;
  /** The certificate and key in use, to fall back on when new ones do not work. */
  #pem: Deno.TlsCertifiedKeyPem | undefined;

  /**
   * Opens the listeners and starts accepting; each connection goes to `onConn`.
   *
   * @throws {Deno.errors.AddrInUse} If a port is taken; nothing is left open then.
   */
  constructor(options: ListenerOptions, onConn: (conn: ServerConn) => void, log: Logger) {
    this.#options = options;
    this.#onConn = onConn;
    this.#log = log;
    try {
      if (options.port !== undefined) {
        this.#plain = Deno.listen({ hostname: options.hostname, port: options.port });
        this.#start(this.#plain);
      }
      if (options.tls !== undefined) {
        this.#tls = this.#listenTls(options.tls.port, readPem(options.tls));
        this.#start(this.#tls);
      }
    } catch (error) {
      this.close();
      throw error;
    }
  }

  /** The plain listener's address, if there is one. */
  get plainAddr(): Deno.NetAddr | undefined {
    return this.#plain?.addr;
  }

  /** The TLS listener's address, if there is one. */
  get tlsAddr(): Deno.NetAddr | undefined {
    return this.#tls?.addr;
  }

  /**
   * Reads the certificate and key again and listens with them on the same port; connections
   * already open are not touched. If the new files do not work, the old ones stay in use and
   * this throws.
   */
  async reloadTls(): Promise<void> {
    const tls = this.#options.tls;
    const old = this.#tls;
    if (tls === undefined || old === undefined || this.#closed) return;
    const pem = readPem(tls);
    const port = old.addr.port;
    // Without SO_REUSEPORT two listeners cannot share the port: close, wait for the port to
    // be let go, then listen again. A connection attempt in between is refused, and the client
    // tries again.
    this.#tls = undefined;
    old.close();
    await this.#loopOf.get(old);
    let failure: unknown;
    try {
      this.#tls = this.#listenTls(port, pem);
    } catch (error) {
      failure = error;
      this.#tls = this.#listenTls(port, this.#pem!);
    }
    this.#start(this.#tls);
    if (failure !== undefined) throw failure;
  }

  /** Stops accepting. */
  close(): void {
    this.#closed = true;
    if (this.#plain) closeQuietly(this.#plain);
    if (this.#tls) closeQuietly(this.#tls);
  }

  /** Resolves once every accept loop has ended, after {@linkcode close}. */
  async closed(): Promise<void> {
    while (this.#loops.size > 0) await Promise.all(this.#loops);
  }

  #listenTls(port: number, pem: Deno.TlsCertifiedKeyPem): Deno.TlsListener {
    const listener = Deno.listenTls({ hostname: this.#options.hostname, port, ...pem });
    this.#pem = pem;
    return listener;
  }

  #start(listener: Deno.Listener<ServerConn, Deno.NetAddr>): void {
    const loop = this.#accept(listener).finally(() => {
      this.#loops.delete(loop);
      this.#loopOf.delete(listener);
    });
    this.#loops.add(loop);
    this.#loopOf.set(listener, loop);
  }

  async #accept(listener: Deno.Listener<ServerConn, Deno.NetAddr>): Promise<void> {
    const current = () => listener === this.#plain || listener === this.#tls;
    while (!this.#closed && current()) {
      try {
        for await (const conn of listener) this.#onConn(conn);
      } catch (error) {
        if (this.#closed || !current()) break;
        // Running out of file descriptors, for one: wait for some to be freed.
        this.#log("error", `accept failed: ${error}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }
}

function readPem(files: TlsFiles): Deno.TlsCertifiedKeyPem {
  return {
    cert: Deno.readTextFileSync(files.certFile),
    key: Deno.readTextFileSync(files.keyFile),
  };
}
