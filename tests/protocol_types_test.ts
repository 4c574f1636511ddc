// The decoder's schemas are tied to the frame interfaces at the type level, and `code` and
// `reason` decode against their closed lists. The first half of this file is checked by the type
// checker (`deno check`, and `deno test` before it runs): each `@ts-expect-error` marks a schema
// that must not compile, and an unused one is itself an error, so a `Schema` that stopped catching
// the mismatch would fail the check.

import { assert, assertEquals } from "./_assert.ts";
import {
  decodeServerFrame,
  encodeFrame,
  ERROR_CODES,
  type LeaveReason,
  type LeftFrame,
  type RoomInfo,
  type SendFrame,
  type ServerFrame,
} from "../protocol.ts";
import type { Kind, Schema, Schemas } from "../_protocol/schema.ts";

/** A frame with one field of each shape a schema must tell apart. */
interface ProbeFrame {
  type: "probe";
  name: string;
  count?: number;
  id?: string | number | boolean | null;
  reason: LeaveReason;
}

/** A frame with a field that no kind decodes to. */
interface OddFrame {
  type: "odd";
  mixed: string | number;
}

Deno.test("a schema that matches its frame type-checks", () => {
  const probe = {
    name: "string",
    count: "count?",
    id: "scalar?",
    reason: "leaveReason",
  } satisfies Schema<ProbeFrame>;
  const send = { text: "text", room: "string?", action: "boolean?" } satisfies Schema<SendFrame>;
  // Every kind of a string field will do for it: which one is the decoder's choice.
  const room = { name: "text", users: "number", topic: "topic?" } satisfies Schema<RoomInfo>;
  const kinds: Record<string, Kind>[] = [probe, send, room];
  assertEquals(kinds.length, 3);
});

Deno.test("a schema that does not match its frame fails to type-check", () => {
  const schemas: unknown[] = [
    // A field of the frame missing from the schema.
    // @ts-expect-error: "action" is missing
    { text: "text", room: "string?" } satisfies Schema<SendFrame>,
    // A field in the schema that the frame lacks.
    // @ts-expect-error: "colour" is not a field of SendFrame
    { text: "text", room: "string?", action: "boolean?", colour: "string?" } satisfies Schema<
      SendFrame
    >,
    // An optional field given a kind that must be present, and the other way round.
    // @ts-expect-error: "room" is optional
    { text: "text", room: "string", action: "boolean?" } satisfies Schema<SendFrame>,
    // @ts-expect-error: "text" is required
    { text: "text?", room: "string?", action: "boolean?" } satisfies Schema<SendFrame>,
    // A kind whose values are not the field's type.
    // @ts-expect-error: "text" is a string, not a number
    { text: "number", room: "string?", action: "boolean?" } satisfies Schema<SendFrame>,
    // A closed list decoded as a plain string.
    // @ts-expect-error: "reason" is a LeaveReason, not any string
    { room: "string", name: "string", reason: "string", ts: "string" } satisfies Schema<LeftFrame>,
    // The wrong closed list: a leave reason is not always an error code.
    // @ts-expect-error: "reason" is a LeaveReason, not an ErrorCode
    { room: "string", name: "string", reason: "errorCode", ts: "string" } satisfies Schema<
      LeftFrame
    >,
    // @ts-expect-error: "id" may be any scalar, not only a string
    { name: "string", count: "count?", id: "string?", reason: "leaveReason" } satisfies Schema<
      ProbeFrame
    >,
    // A field whose type no kind decodes to: none will do, not even the widest.
    // @ts-expect-error: no kind is string | number
    { mixed: "scalar" } satisfies Schema<OddFrame>,
    // @ts-expect-error: no kind is string | number
    { mixed: "string" } satisfies Schema<OddFrame>,
  ];
  assertEquals(schemas.length, 10);
});

Deno.test("a set of schemas needs one for each frame type, and no other", () => {
  type Two = { type: "a"; x: string } | { type: "b" };
  const both = { a: { x: "string" }, b: {} } satisfies Schemas<Two>;
  // @ts-expect-error: no schema for "b"
  const missing = { a: { x: "string" } } satisfies Schemas<Two>;
  // @ts-expect-error: "c" is no frame type
  const extra = { a: { x: "string" }, b: {}, c: {} } satisfies Schemas<Two>;
  assertEquals([both, missing, extra].length, 3);
});

const encoder = new TextEncoder();

function decode(frame: object) {
  return decodeServerFrame(encoder.encode(JSON.stringify(frame)));
}

const ts = "2026-11-21T10:00:00.000Z";

Deno.test("every error code decodes in `error`, and every leave reason in `left`", () => {
  for (const code of ERROR_CODES) {
    const frame: ServerFrame = { type: "error", code, message: "m" };
    assertEquals(decode(frame), { ok: true, frame }, code);
  }
  const reasons: LeaveReason[] = ["part", "quit", "disconnected", ...ERROR_CODES];
  for (const reason of reasons) {
    const frame: ServerFrame = { type: "left", room: "r", name: "n", reason, ts };
    assertEquals(decode(frame), { ok: true, frame }, reason);
  }
  // What the server's encoder writes, the client's decoder reads.
  const line = encodeFrame({ type: "left", room: "r", name: "n", reason: "slow_consumer", ts });
  assert(decodeServerFrame(line.subarray(0, -1)).ok);
});

Deno.test("an unknown error code in `error` is refused, naming the field and the value", () => {
  for (const code of ["frobnicate", "", "NAME_TAKEN", "part", "quit", "disconnected"]) {
    assertEquals(decode({ type: "error", code, message: "m" }), {
      ok: false,
      code: "invalid_frame",
      message: `Field "code" of a "error" frame must be a known error code, not "${code}"`,
    });
  }
  for (const code of [5, null, ["name_taken"]]) {
    assertEquals(decode({ type: "error", code, message: "m" }), {
      ok: false,
      code: "invalid_frame",
      message: 'Field "code" of a "error" frame must be a string',
    });
  }
  const long = "x".repeat(100);
  const result = decode({ type: "error", code: long, message: "m" });
  assert(!result.ok);
  assertEquals(
    result.message,
    `Field "code" of a "error" frame must be a known error code, not "${"x".repeat(40)}…"`,
  );
});

Deno.test("an unknown reason in `left` is refused, naming the field and the value", () => {
  for (const reason of ["frobnicate", "", "Part", "kicked "]) {
    assertEquals(decode({ type: "left", room: "r", name: "n", reason, ts }), {
      ok: false,
      code: "invalid_frame",
      message:
        `Field "reason" of a "left" frame must be a known reason for leaving, not "${reason}"`,
    });
  }
  assertEquals(decode({ type: "left", room: "r", name: "n", ts }), {
    ok: false,
    code: "invalid_frame",
    message: 'Field "reason" of a "left" frame must be a string',
  });
});

Deno.test("a reason that names an inherited property is refused too", () => {
  for (const reason of ["toString", "__proto__", "constructor", "hasOwnProperty"]) {
    const result = decode({ type: "left", room: "r", name: "n", reason, ts });
    assert(!result.ok, reason);
    assertEquals(result.code, "invalid_frame");
  }
});
