// IP addresses and ranges as people write them and as sockets report them: IPv4 dotted quads,
// IPv6 in any of its spellings, IPv4-mapped IPv6, and CIDR ranges. Each has one canonical
// spelling, so that a ban matches an address however either was written.

/**
 * A range of addresses: those whose first `prefix` bits are those of `address`. A single
 * address is the range of its full length (32 bits for IPv4, 128 for IPv6).
 */
export interface IpRange {
  /** 4 or 6. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are IPv4. */
  readonly family: 4 | 6;
  /** The first address of the range as an unsigned integer: the bits past `prefix` are 0. */
  readonly address: bigint;
  /** How many leading bits count: 0 to 32 for IPv4, 0 to 128 for IPv6. */
  readonly prefix: number;
}

const IPV4_PATTERN = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const GROUP_PATTERN = /^[0-9a-f]{1,4}$/;
/** The IPv4-mapped block, `::ffff:0:0/96`, as its first address. */
const MAPPED = 0xffffn << 32n;

/**
 * Reads an address or a CIDR range: `203.0.113.7`, `10.0.0.0/8`, `::1`, `0:0:0:0:0:0:0:1`,
 * `2001:db8::/32`, `::ffff:127.0.0.1`. IPv4 parts are decimal, leading zeros and all:
 * `127.000.000.001` is `127.0.0.1` (never octal, as some C libraries read it). IPv4-mapped
 * addresses and ranges within `::ffff:0:0/96` are read as the IPv4 ones they stand for.
 *
 * @param text The address or range.
 * @returns The range; a single address has the full prefix.
 * @throws {SyntaxError} If `text` is no address or range, or a range has bits set past its
 * prefix (`10.1.2.3/8`), which is likely a mistake.
 *
 * @example
 * ```ts
 * import { formatIpRange, parseIpRange } from "./ip.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(formatIpRange(parseIpRange("0::0001")), "::1");
 * assertEquals(formatIpRange(parseIpRange("::ffff:10.0.0.0/104")), "10.0.0.0/8");
 * ```
 */
export function parseIpRange(text: string): IpRange {
  const slash = text.indexOf("/");
  const range = parseAddress(slash === -1 ? text : text.slice(0, slash), text);
  if (slash === -1) return mappedToIpv4(range);
  const bits = range.family === 4 ? 32 : 128;
  const prefixText = text.slice(slash + 1);
  const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!(prefix <= bits)) {
    throw new SyntaxError(`"${text}" has a prefix length that is not a number from 0 to ${bits}`);
  }
  const network = range.address & mask(prefix, bits);
  if (network !== range.address) {
    const suggestion = formatIpRange(mappedToIpv4({ ...range, address: network, prefix }));
    throw new SyntaxError(
      `"${text}" has bits set past its /${prefix} prefix: did you mean ${suggestion}?`,
    );
  }
  return mappedToIpv4({ family: range.family, address: network, prefix });
}

/**
 * Reads a single address: {@linkcode parseIpRange} without a prefix.
 *
 * @throws {SyntaxError} If `text` is not an IPv4 or IPv6 address.
 */
export function parseIp(text: string): IpRange {
  if (text.includes("/")) throw new SyntaxError(`"${text}" is a range, not one address`);
  return parseIpRange(text);
}

/**
 * The canonical spelling of a range: a single address alone, a range as `address/prefix`;
 * IPv4 as a dotted quad without leading zeros; IPv6 as RFC 5952 says (lower case, no leading
 * zeros, the longest run of two or more zero groups as `::`).
 *
 * @example
 * ```ts
 * import { formatIpRange, parseIpRange } from "./ip.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(formatIpRange(parseIpRange("2001:DB8:0:0:0:0:0:0/32")), "2001:db8::/32");
 * ```
 */
export function formatIpRange(range: IpRange): string {
  const full = range.family === 4 ? 32 : 128;
  const address = range.family === 4 ? formatIpv4(range.address) : formatIpv6(range.address);
  return range.prefix === full ? address : `${address}/${range.prefix}`;
}

/**
 * The canonical spelling of an address, as {@linkcode formatIpRange} writes it.
 *
 * @throws {SyntaxError} If `text` is not an IPv4 or IPv6 address.
 */
export function canonicalIp(text: string): string {
  return formatIpRange(parseIp(text));
}

/**
 * The canonical spelling of a connection's peer address as the socket reports it: with a
 * dual-stack listener an IPv4 client shows as `::ffff:a.b.c.d`, and this makes it `a.b.c.d`. A
 * zone (`fe80::1%eth0`) is left out. Text that is no address is returned as it is.
 */
export function peerIp(hostname: string): string {
  try {
    return canonicalIp(hostname.replace(/%.*$/, ""));
  } catch {
    return hostname;
  }
}

/** Whether `range` holds every address of `inner` (an address is a range of one). */
export function rangeContains(range: IpRange, inner: IpRange): boolean {
  if (range.family !== inner.family || inner.prefix < range.prefix) return false;
  const bits = range.family === 4 ? 32 : 128;
  return (inner.address & mask(range.prefix, bits)) === range.address;
}

/** Whether two ranges are the same. */
export function sameRange(a: IpRange, b: IpRange): boolean {
  return a.family === b.family && a.address === b.address && a.prefix === b.prefix;
}

/** Reads the address part of `whole` (for messages). */
function parseAddress(text: string, whole: string): IpRange {
  if (text.includes(":")) return { family: 6, address: parseIpv6(text, whole), prefix: 128 };
  const address = parseIpv4(text);
  if (address === undefined) {
    throw new SyntaxError(`"${whole}" is not an IPv4 or IPv6 address or range`);
  }
  return { family: 4, address, prefix: 32 };
}

/** Four decimal parts of up to three digits, each at most 255; undefined otherwise. */
function parseIpv4(text: string): bigint | undefined {
  const match = text.match(IPV4_PATTERN);
  if (match === null) return undefined;
  let address = 0n;
  for (const part of match.slice(1)) {
    const value = Number(part);
    if (value > 255) return undefined;
    address = address << 8n | BigInt(value);
  }
  return address;
}

/** Eight groups of up to four hex digits, with one `::` for a run of zero groups, the last two
 * of which may be written as a dotted quad. */
function parseIpv6(text: string, whole: string): bigint {
  const invalid = () => new SyntaxError(`"${whole}" is not a valid IPv6 address or range`);
  const halves = text.toLowerCase().split("::");
  if (halves.length > 2) throw invalid();
  const groups = halves.map((half) => half === "" ? [] : half.split(":"));
  const last = groups.at(-1)!;
  let ipv4: bigint | undefined;
  if (last.length > 0 && last.at(-1)!.includes(".")) {
    ipv4 = parseIpv4(last.pop()!);
    if (ipv4 === undefined) throw invalid();
  }
  const values = groups.map((half) =>
    half.map((group) => {
      if (!GROUP_PATTERN.test(group)) throw invalid();
      return BigInt(parseInt(group, 16));
    })
  );
  if (ipv4 !== undefined) values.at(-1)!.push(ipv4 >> 16n, ipv4 & 0xffffn);
  const count = values.reduce((sum, half) => sum + half.length, 0);
  // "::" stands for at least one zero group; without it, all eight are written.
  if (values.length === 2 ? count > 7 : count !== 8) throw invalid();
  const [head, tail = []] = values;
  const all = [...head!, ...new Array<bigint>(8 - count).fill(0n), ...tail];
  return all.reduce((address, group) => address << 16n | group, 0n);
}

/** An IPv6 range within `::ffff:0:0/96` as the IPv4 range it stands for. */
function mappedToIpv4(range: IpRange): IpRange {
  if (range.family !== 6 || range.prefix < 96 || range.address >> 32n !== MAPPED >> 32n) {
    return range;
  }
  return { family: 4, address: range.address & 0xffffffffn, prefix: range.prefix - 96 };
}

/** The first `prefix` of `bits` bits set. */
function mask(prefix: number, bits: number): bigint {
  return ((1n << BigInt(prefix)) - 1n) << BigInt(bits - prefix);
}

function formatIpv4(address: bigint): string {
  return [24n, 16n, 8n, 0n].map((shift) => (address >> shift) & 0xffn).join(".");
}

function formatIpv6(address: bigint): string {
  const groups: number[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) {
    groups.push(Number((address >> shift) & 0xffffn));
  }
  // The longest run of two or more zero groups, the first of equals, becomes "::".
  let best = { start: -1, length: 1 };
  for (let start = 0; start < 8; start++) {
    let length = 0;
    while (start + length < 8 && groups[start + length] === 0) length++;
    if (length > best.length) best = { start, length };
    start += length;
  }
  const hex = groups.map((group) => group.toString(16));
  if (best.start === -1) return hex.join(":");
  const head = hex.slice(0, best.start).join(":");
  const tail = hex.slice(best.start + best.length).join(":");
  return `${head}::${tail}`;
}
