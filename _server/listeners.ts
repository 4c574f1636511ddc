// The server's sockets: a plain TCP listener, a TLS one, or both, each with its own accept loop,
// and the TLS certificate reloaded in place (for a renewal) without touching open connections.

import { X509Certificate } from "node:crypto";
import { closeQuietly } from "../_net/disconnect.ts";
import type { Logger } from "./log.ts";
import { errorMessage } from "../_protocol/error_message.ts";

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

/**
 * Whether the TLS listener can share its port with SO_REUSEPORT, so that a reload opens the new
 * listener before it closes the old one. Deno 2.9 offers `reusePort` only under `--unstable-net`
 * (deno.json's `"unstable": ["net"]`), and asking for it without that flag ends the process
 * (exit 70) rather than throwing, so it is looked for, not tried: `Deno.listenDatagram` exists
 * exactly when the flag is on. Only Linux has it; elsewhere Deno ignores the option.
 */
export const REUSE_PORT: boolean = Deno.build.os === "linux" && "listenDatagram" in Deno;

/** How long before its end a certificate is warned about. */
export const EXPIRY_WARNING_DAYS = 14;

/** How often a TLS port lost while reloading (only possible without SO_REUSEPORT) is tried. */
const RELISTEN_INTERVAL_MS = 1000;

const DAY_MS = 24 * 60 * 60 * 1000;

/** A server's listeners. */
export class Listeners {
  #options: ListenerOptions;
  #onConn: (conn: ServerConn) => void;
  #log: Logger;
  #plain: Deno.TcpListener | undefined;
  #tls: Deno.TlsListener | undefined;
  /** The TLS port (chosen once, if 0 was asked for), kept while the listener is lost. */
  #tlsPort = 0;
  #loops = new Set<Promise<void>>();
  #loopOf = new Map<Deno.Listener<ServerConn, Deno.NetAddr>, Promise<void>>();
  #closed = false;
  /** Reloads, one after the other. */
  #reloading: Promise<void> = Promise.resolve();
  /** Set while the TLS port is lost: tries it again with `#retryPem`. */
  #relistenTimer: ReturnType<typeof setTimeout> | undefined;
  #retryPem: Deno.TlsCertifiedKeyPem | undefined;

  /**
   * Opens the listeners and starts accepting; each connection goes to `onConn`. Warns about a
   * certificate that has expired, is not valid yet or expires within
   * {@linkcode EXPIRY_WARNING_DAYS} days.
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
        const pem = readPem(options.tls);
        this.#tls = this.#listenTls(options.tls.port, pem, true);
        this.#tlsPort = this.#tls.addr.port;
        this.#start(this.#tls);
        this.#checkDates(options.tls.certFile, pem.cert);
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

  /** The TLS listener's address, if there is one (none while its port is lost). */
  get tlsAddr(): Deno.NetAddr | undefined {
    return this.#tls?.addr;
  }

  /**
   * Reads the certificate and key again and listens with them on the same port; connections
   * already open are not touched. Reloads run one after the other.
   *
   * With {@linkcode REUSE_PORT}, the new listener opens beside the old one, which then closes:
   * the port is never free. Without it, the new files are first tried on a spare port, then the
   * old listener closes and the port is listened on again; should another process take the port
   * in that moment, TLS is down and the port is tried again every second until it is back.
   *
   * @throws {Error} If the new files cannot be read or used: the old listener goes on, untouched,
   * as the message says. Or, without SO_REUSEPORT, if the port was taken: the message says TLS is
   * down until it is back.
   */
  reloadTls(): Promise<void> {
    const reload = this.#reloading.catch(() => {}).then(() => this.#reload());
    this.#reloading = reload;
    return reload;
  }

  /** Stops accepting. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#relistenTimer);
    if (this.#plain) closeQuietly(this.#plain);
    if (this.#tls) closeQuietly(this.#tls);
  }

  /** Resolves once every accept loop has ended, after {@linkcode close}. */
  async closed(): Promise<void> {
    await this.#reloading.catch(() => {});
    while (this.#loops.size > 0) await Promise.all(this.#loops);
  }

  async #reload(): Promise<void> {
    const files = this.#options.tls;
    if (files === undefined || this.#closed) return;
    const old = this.#tls;
    const port = this.#tlsPort;
    let pem: Deno.TlsCertifiedKeyPem;
    let fresh: Deno.TlsListener;
    try {
      pem = readPem(files);
      // With SO_REUSEPORT the new listener opens on the port itself, beside the old one;
      // without, on a spare port, only to find out whether the files work.
      fresh = this.#listenTls(REUSE_PORT && old ? port : 0, pem, false);
    } catch (error) {
      const stays = old
        ? "the old one stays in use"
        : `TLS is still down, port ${port} is tried again every second`;
      throw new Error(`TLS certificate not reloaded, ${stays}: ${errorMessage(error)}`, {
        cause: error,
      });
    }
    this.#checkDates(files.certFile, pem.cert);
    if (REUSE_PORT && old) {
      // Accept on the new one before the old one stops. The old socket is let go only once its
      // pending accept has ended, a turn of the event loop later; until then the kernel still
      // hands it a share of new connections, which its closing resets. Waiting for that keeps
      // the reload from being reported done while it can still happen.
      this.#tls = fresh;
      this.#start(fresh);
      old.close();
      await this.#loopOf.get(old);
      return;
    }
    fresh.close();
    this.#retryPem = pem;
    if (old) {
      // Without SO_REUSEPORT two listeners cannot share the port: close, wait for the port to
      // be let go, then listen again. A connection attempt in between is refused.
      this.#tls = undefined;
      old.close();
      await this.#loopOf.get(old);
    } else {
      clearTimeout(this.#relistenTimer);
      this.#relistenTimer = undefined;
    }
    if (this.#closed) return;
    try {
      this.#tls = this.#listenTls(port, pem, false);
    } catch (error) {
      this.#relistenLater();
      throw new Error(
        `TLS listener lost: the new certificate works, but port ${port} cannot be listened on ` +
          `again (${errorMessage(error)}); TLS is down, the port is tried again every second`,
        { cause: error },
      );
    }
    this.#start(this.#tls);
  }

  /** Tries the lost TLS port again every second, and says when it is back. */
  #relistenLater(): void {
    this.#relistenTimer = setTimeout(() => {
      this.#relistenTimer = undefined;
      if (this.#closed || this.#tls !== undefined) return;
      try {
        this.#tls = this.#listenTls(this.#tlsPort, this.#retryPem!, false);
      } catch {
        return this.#relistenLater();
      }
      this.#start(this.#tls);
      this.#log("warn", `TLS listener is back on port ${this.#tlsPort}`);
    }, RELISTEN_INTERVAL_MS);
  }

  /**
   * Listens for TLS on `port`. With SO_REUSEPORT, `probe` first binds the port plainly, without
   * it: SO_REUSEPORT lets any socket of the same user that sets it too listen on the port
   * beside this one, another Parley server included, and the probe finds such a port taken as it
   * would be without SO_REUSEPORT.
   */
  #listenTls(port: number, pem: Deno.TlsCertifiedKeyPem, probe: boolean): Deno.TlsListener {
    const hostname = this.#options.hostname;
    // Typed so, since `reusePort` is in Deno's types only under `--unstable-net`.
    const options: Deno.ListenTlsOptions & Deno.TlsCertifiedKeyPem & { reusePort?: boolean } = {
      hostname,
      port,
      ...pem,
    };
    if (!REUSE_PORT) return Deno.listenTls(options);
    if (probe) {
      const taken = Deno.listen({ hostname, port });
      options.port = taken.addr.port;
      taken.close();
    }
    options.reusePort = true;
    return Deno.listenTls(options);
  }

  /** Warns about a certificate that has expired, is not valid yet or expires soon. */
  #checkDates(file: string, cert: string): void {
    let problem: string | undefined;
    try {
      problem = certificateDateProblem(cert, new Date());
    } catch (error) {
      problem = `has dates that cannot be read (${errorMessage(error)})`;
    }
    if (problem !== undefined) this.#log("warn", `TLS certificate ${file} ${problem}`);
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

/**
 * What is wrong with the dates of the first certificate in `pem` (the server's own, in a chain)
 * at `now`, as the end of a sentence about the certificate; undefined if nothing is. Clients
 * refuse a certificate that has expired or is not valid yet; one that expires within
 * {@linkcode EXPIRY_WARNING_DAYS} days is due for renewal.
 *
 * @throws {Error} If `pem` holds no certificate that can be read.
 */
export function certificateDateProblem(pem: string, now: Date): string | undefined {
  const certificate = new X509Certificate(pem);
  const from = certificate.validFromDate;
  const to = certificate.validToDate;
  if (now < from) {
    return `is not valid until ${from.toISOString()}: clients refuse it until then`;
  }
  if (now > to) return `expired on ${to.toISOString()}: clients refuse it; renew it`;
  const left = to.getTime() - now.getTime();
  if (left > EXPIRY_WARNING_DAYS * DAY_MS) return undefined;
  const days = Math.floor(left / DAY_MS);
  const within = days === 0 ? "within a day" : `in ${days} day${days === 1 ? "" : "s"}`;
  return `expires on ${to.toISOString()}, ${within}: renew it`;
}

function readPem(files: TlsFiles): Deno.TlsCertifiedKeyPem {
  return {
    cert: Deno.readTextFileSync(files.certFile),
    key: Deno.readTextFileSync(files.keyFile),
  };
}
