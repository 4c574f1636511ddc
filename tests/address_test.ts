// Addresses as people write them: what reads, what does not and with which error class, port 0
// refused where a port to connect to is read and kept where a server is told to pick one, and
// the command line naming the option that was wrong.

import { assertEquals, assertMatch, assertThrows } from "./_assert.ts";
import { formatAddr, type HostPort, parseAddr, parsePort } from "../_net/address.ts";
import { runParley } from "./_helpers.ts";

const DEFAULTS: HostPort = { hostname: "127.0.0.1", port: 7342 };

Deno.test("parseAddr reads every form of [HOST][:PORT]", () => {
  const cases: [string, HostPort][] = [
    ["", DEFAULTS],
    ["example.org", { hostname: "example.org", port: 7342 }],
    ["example.org:7000", { hostname: "example.org", port: 7000 }],
    [":7000", { hostname: "127.0.0.1", port: 7000 }],
    ["[::1]:7000", { hostname: "::1", port: 7000 }],
    ["[::1]", { hostname: "::1", port: 7342 }],
    ["::1", { hostname: "::1", port: 7342 }],
    ["[]:7000", { hostname: "127.0.0.1", port: 7000 }],
    ["host:1", { hostname: "host", port: 1 }],
    ["host:65535", { hostname: "host", port: 65535 }],
    ["host:00080", { hostname: "host", port: 80 }],
  ];
  for (const [text, expected] of cases) assertEquals(parseAddr(text, DEFAULTS), expected, text);
});

Deno.test("parseAddr throws SyntaxError for text it cannot read, naming the address", () => {
  const cases: [string, string][] = [
    ["[::1", 'Cannot parse address "[::1": "[" has no matching "]"'],
    ["[::1]7000", 'Cannot parse address "[::1]7000": text after "]" must be ":PORT"'],
    ["[::1]x:7000", 'Cannot parse address "[::1]x:7000": text after "]" must be ":PORT"'],
    ["host:", 'Cannot parse address "host:": port "" is not a whole number'],
    ["host:http", 'Cannot parse address "host:http": port "http" is not a whole number'],
    ["host:-1", 'Cannot parse address "host:-1": port "-1" is not a whole number'],
    ["host:7e3", 'Cannot parse address "host:7e3": port "7e3" is not a whole number'],
    ["host: 80", 'Cannot parse address "host: 80": port " 80" is not a whole number'],
    ["[::1]:", 'Cannot parse address "[::1]:": port "" is not a whole number'],
    ["[::1]:x", 'Cannot parse address "[::1]:x": port "x" is not a whole number'],
  ];
  for (const [text, message] of cases) {
    const error = assertThrows(() => parseAddr(text, DEFAULTS), SyntaxError);
    assertEquals(error.message, message, text);
  }
});

Deno.test("parseAddr refuses port 0 and ports past 65535 with a RangeError", () => {
  const cases: [string, string][] = [
    [":0", 'Port "0" in address ":0" is not a number from 1 to 65535'],
    ["host:0", 'Port "0" in address "host:0" is not a number from 1 to 65535'],
    ["[::1]:00000", 'Port "00000" in address "[::1]:00000" is not a number from 1 to 65535'],
    ["host:65536", 'Port "65536" in address "host:65536" is not a number from 1 to 65535'],
    ["host:123456", 'Port "123456" in address "host:123456" is not a number from 1 to 65535'],
    ["host:000080", 'Port "000080" in address "host:000080" is not a number from 1 to 65535'],
  ];
  for (const [text, message] of cases) {
    const error = assertThrows(() => parseAddr(text, DEFAULTS), RangeError);
    assertEquals(error.message, message, text);
  }
});

Deno.test("parsePort takes 0 (any free port) to 65535 and refuses the rest", () => {
  for (const [text, port] of [["0", 0], ["1", 1], ["7342", 7342], ["65535", 65535]] as const) {
    assertEquals(parsePort(text), port, text);
  }
  for (const text of ["", "http", "-1", "1.5", "0x50", " 80"]) {
    const error = assertThrows(() => parsePort(text), SyntaxError);
    assertEquals(error.message, `Cannot parse port "${text}": not a whole number`);
  }
  for (const text of ["65536", "99999", "100000"]) {
    const error = assertThrows(() => parsePort(text), RangeError);
    assertEquals(error.message, `Port "${text}" is not a number from 0 to 65535`);
  }
});

Deno.test("formatAddr brackets IPv6 hosts, and parseAddr reads what it writes", () => {
  for (
    const [addr, text] of [
      [{ hostname: "example.org", port: 7000 }, "example.org:7000"],
      [{ hostname: "::1", port: 7343 }, "[::1]:7343"],
      [{ hostname: "fe80::1%eth0", port: 1 }, "[fe80::1%eth0]:1"],
    ] as const
  ) {
    assertEquals(formatAddr(addr), text);
    assertEquals(parseAddr(text, DEFAULTS), addr);
  }
});

Deno.test("the command line names the option or address that was wrong", async () => {
  const cases: [string[], RegExp][] = [
    [["serve", "--port", "http"], /^parley: serve: --port: Cannot parse port "http"/],
    [
      ["serve", "--tls-cert", "cert.pem", "--tls-key", "key.pem", "--tls-port", "70000"],
      /^parley: serve: --tls-port: Port "70000" is not a number from 0 to 65535$/,
    ],
    [["connect", "127.0.0.1:0"], /^parley: connect: Port "0" in address "127.0.0.1:0" is not/],
    [["connect", "[::1"], /^parley: connect: Cannot parse address "\[::1": "\[" has no/],
  ];
  for (const [args, expected] of cases) {
    const result = await runParley(args);
    assertEquals(result.code, 2, args.join(" "));
    assertEquals(result.stderr.trim().split("\n").length, 1, result.stderr);
    assertMatch(result.stderr.trim(), expected);
  }
});
