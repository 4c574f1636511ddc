// Network addresses as people write them: `host:port`, with IPv6 hosts in brackets. Text that
// cannot be read is a SyntaxError; a port that reads as a number but is not one to use is a
// RangeError. The callers (the command line) turn either into a usage error.

/** The host and port of an address as people write it. */
export interface HostPort {
  hostname: string;
  port: number;
}

/** The highest port number. */
const MAX_PORT = 65535;

/** `host:port`, with an IPv6 host in brackets. */
export function formatAddr(addr: HostPort): string {
  return addr.hostname.includes(":")
    ? `[${addr.hostname}]:${addr.port}`
    : `${addr.hostname}:${addr.port}`;
}

/**
 * Reads the address of a server to connect to, `[HOST][:PORT]`: `example.org`,
 * `example.org:7000`, `:7000`, `[::1]:7000`, `::1`. What is left out comes from `defaults`.
 *
 * @throws {SyntaxError} If brackets do not match, or the port is not a whole number.
 * @throws {RangeError} If the port is not from 1 to 65535: port 0 is "any free port", which
 * there is no connecting to.
 */
export function parseAddr(text: string, defaults: HostPort): HostPort {
  let hostname = text;
  let port: string | undefined;
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close === -1) {
      throw new SyntaxError(`Cannot parse address "${text}": "[" has no matching "]"`);
    }
    hostname = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (rest !== "" && !rest.startsWith(":")) {
      throw new SyntaxError(`Cannot parse address "${text}": text after "]" must be ":PORT"`);
    }
    port = rest === "" ? undefined : rest.slice(1);
  } else if (text.indexOf(":") === text.lastIndexOf(":") && text.includes(":")) {
    [hostname, port] = text.split(":") as [string, string];
  }
  return {
    hostname: hostname === "" ? defaults.hostname : hostname,
    port: port === undefined ? defaults.port : readPort(port, 1, text),
  };
}

/**
 * Reads a port number to listen on, where 0 means any free port.
 *
 * @throws {SyntaxError} If it is not a whole number.
 * @throws {RangeError} If it is above 65535.
 */
export function parsePort(text: string): number {
  return readPort(text, 0);
}

/** Reads a port of at least `min`, written alone or in `address` (for error messages). */
function readPort(text: string, min: number, address?: string): number {
  if (!/^\d+$/.test(text)) {
    throw new SyntaxError(
      address === undefined
        ? `Cannot parse port "${text}": not a whole number`
        : `Cannot parse address "${address}": port "${text}" is not a whole number`,
    );
  }
  // Up to 5 digits, so that a port is not written "0000080"; more is out of range.
  const port = text.length <= 5 ? Number(text) : NaN;
  if (!(port >= min && port <= MAX_PORT)) {
    const where = address === undefined ? "" : ` in address "${address}"`;
    throw new RangeError(`Port "${text}"${where} is not a number from ${min} to ${MAX_PORT}`);
  }
  return port;
}
