// Network addresses as people write them: `host:port`, with IPv6 hosts in brackets.

/** The host and port of an address as people write it. */
export interface HostPort {
  hostname: string;
  port: number;
}

/** `host:port`, with an IPv6 host in brackets. */
export function formatAddr(addr: HostPort): string {
  return addr.hostname.includes(":")
    ? `[${addr.hostname}]:${addr.port}`
    : `${addr.hostname}:${addr.port}`;
}

/**
 * Reads `[HOST][:PORT]`: `example.org`, `example.org:7000`, `:7000`, `[::1]:7000`, `::1`.
 * What is left out comes from `defaults`.
 *
 * @throws {TypeError} If the port is not a number from 1 to 65535 or brackets do not match.
 */
export function parseAddr(text: string, defaults: HostPort): HostPort {
  let hostname = text;
  let port: string | undefined;
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close === -1) throw new TypeError(`Address "${text}" has "[" without "]"`);
    hostname = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (rest !== "" && !rest.startsWith(":")) {
      throw new TypeError(`Address "${text}" has text after "]" that is not ":PORT"`);
    }
    port = rest === "" ? undefined : rest.slice(1);
  } else if (text.indexOf(":") === text.lastIndexOf(":") && text.includes(":")) {
    [hostname, port] = text.split(":") as [string, string];
  }
  return {
    hostname: hostname === "" ? defaults.hostname : hostname,
    port: port === undefined ? defaults.port : parsePort(port),
  };
}

/**
 * Reads a port number.
 *
 * @throws {TypeError} If it is not a whole number from 0 to 65535.
 */
export function parsePort(text: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= 0 && port <= 65535)) {
    throw new TypeError(`Port "${text}" is not a number from 0 to 65535`);
  }
  return port;
}
