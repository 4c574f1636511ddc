// Addresses and ranges: every spelling of an address reads as the same one, the canonical
// spelling is RFC 5952's, ranges hold what they should, and anything else is a SyntaxError.

import { assertEquals, assertThrows } from "./_assert.ts";
import {
  canonicalIp,
  formatIpRange,
  parseIp,
  parseIpRange,
  peerIp,
  rangeContains,
  sameRange,
} from "../_server/ip.ts";

Deno.test("every spelling of an address has one canonical form", () => {
  const cases: [string, string][] = [
    ["127.0.0.1", "127.0.0.1"],
    ["127.000.000.001", "127.0.0.1"], // decimal, never octal
    ["010.0.0.1", "10.0.0.1"],
    ["255.255.255.255", "255.255.255.255"],
    ["::1", "::1"],
    ["0:0:0:0:0:0:0:1", "::1"],
    ["0::1", "::1"],
    ["::0001", "::1"],
    ["0000:0000:0000:0000:0000:0000:0000:0001", "::1"],
    ["::", "::"],
    ["::ffff:127.0.0.1", "127.0.0.1"], // IPv4-mapped: the IPv4 address
    ["::FFFF:7F00:1", "127.0.0.1"],
    ["0:0:0:0:0:ffff:127.0.0.1", "127.0.0.1"],
    ["::ffff:0:0", "0.0.0.0"],
    ["::127.0.0.1", "::7f00:1"], // IPv4-compatible (deprecated): an IPv6 address
    ["2001:DB8::1", "2001:db8::1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"], // the first of two equal runs
    ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"], // the longest run
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // a single zero group stays
    ["1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"],
    ["fe80::", "fe80::"],
    ["64:ff9b::192.0.2.33", "64:ff9b::c000:221"],
  ];
  for (const [text, canonical] of cases) assertEquals(canonicalIp(text), canonical, text);
});

Deno.test("ranges read, write and hold as CIDR says", () => {
  const cases: [string, string][] = [
    ["10.0.0.0/8", "10.0.0.0/8"],
    ["010.000.000.000/08", "10.0.0.0/8"],
    ["2001:DB8::/32", "2001:db8::/32"],
    ["2001:db8:0:0:0:0:0:0/32", "2001:db8::/32"],
    ["::ffff:10.0.0.0/104", "10.0.0.0/8"],
    ["0.0.0.0/0", "0.0.0.0/0"],
    ["::/0", "::/0"],
    ["127.0.0.1/32", "127.0.0.1"],
    ["::1/128", "::1"],
  ];
  for (const [text, canonical] of cases) {
    assertEquals(formatIpRange(parseIpRange(text)), canonical, text);
  }
  const holds = (range: string, address: string) =>
    rangeContains(parseIpRange(range), parseIp(address));
  assertEquals(holds("10.0.0.0/8", "10.255.1.2"), true);
  assertEquals(holds("10.0.0.0/8", "11.0.0.1"), false);
  assertEquals(holds("10.0.0.0/8", "::ffff:10.1.2.3"), true);
  assertEquals(holds("127.0.0.4/30", "127.0.0.7"), true);
  assertEquals(holds("127.0.0.4/30", "127.0.0.8"), false);
  assertEquals(holds("2001:db8::/32", "2001:db8:ffff::1"), true);
  assertEquals(holds("2001:db8::/32", "2001:db9::1"), false);
  assertEquals(holds("0.0.0.0/0", "203.0.113.7"), true);
  assertEquals(holds("::/0", "203.0.113.7"), false, "IPv4 addresses are matched by IPv4 ranges");
  assertEquals(holds("::/0", "::1"), true);
  assertEquals(holds("127.0.0.1", "0:0:0:0:0:ffff:7f00:1"), true);
  assertEquals(rangeContains(parseIpRange("10.0.0.0/8"), parseIpRange("10.1.0.0/16")), true);
  assertEquals(rangeContains(parseIpRange("10.1.0.0/16"), parseIpRange("10.0.0.0/8")), false);
  assertEquals(sameRange(parseIpRange("::ffff:a00:0/104"), parseIpRange("10.0.0.0/8")), true);
});

Deno.test("what is no address or range is a SyntaxError", () => {
  for (
    const text of [
      "",
      "localhost",
      "1.2.3",
      "1.2.3.4.5",
      "256.0.0.1",
      "1.2.3.1234",
      "0x7f.0.0.1",
      "127.1",
      " 127.0.0.1",
      "1::2::3",
      ":1:2:3:4:5:6:7",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7::8",
      "1:2:3:4:5:6:7",
      "12345::",
      "::g",
      "::1.2.3.4.5",
      "::1.2.3.4:5",
      "1.2.3.4::",
      "fe80::1%eth0",
      "[::1]",
      "10.0.0.0/33",
      "::/129",
      "10.0.0.0/",
      "10.0.0.0/-1",
      "10.0.0.0/8/8",
      "10.1.2.3/8", // bits past the prefix: a likely mistake
      "2001:db8::1/32",
    ]
  ) {
    assertThrows(() => parseIpRange(text), SyntaxError, `"${text}"`);
  }
  assertThrows(() => parseIp("10.0.0.0/8"), SyntaxError, "a range");
  assertThrows(() => parseIpRange("10.1.2.3/8"), SyntaxError, "did you mean 10.0.0.0/8?");
});

Deno.test("a peer's address as the socket reports it is made canonical", () => {
  assertEquals(peerIp("::ffff:127.0.0.1"), "127.0.0.1");
  assertEquals(peerIp("127.0.0.1"), "127.0.0.1");
  assertEquals(peerIp("::1"), "::1");
  assertEquals(peerIp("fe80::1%eth0"), "fe80::1");
  assertEquals(peerIp("not an address"), "not an address");
});
