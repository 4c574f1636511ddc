// The types that tie protocol.ts's decoder schemas to its frame interfaces. A schema names each
// field of a frame with a kind: what values the field may hold, and whether it may be absent. The
// type of a frame's schema is computed from the frame's interface, so that a field added to a
// frame and not to its schema, a field in a schema that its frame lacks, a kind whose values are
// not the field's type, or an optional field with a required kind (or the other way round) fails
// type checking. This module holds types only: the decoder itself is in protocol.ts.

import type { ErrorCode, LeaveReason, RoomInfo, Scalar, StoredMessage } from "../protocol.ts";

/** What a value of each kind of field decodes to, and what the decoder checks for it. */
export interface KindTypes {
  /** Any string. */
  string: string;
  /** A string that shows something: not empty, not only blanks, no lone surrogate. */
  text: string;
  /** Text, or the empty string (which clears a room's topic). */
  topic: string;
  /** A finite number. */
  number: number;
  /** A whole number, 0 or more, that is a safe integer. */
  count: number;
  /** `true` or `false`. */
  boolean: boolean;
  /** A string, a finite number, a boolean or `null`. */
  scalar: Scalar;
  /** An array of strings. */
  strings: string[];
  /** An array of stored messages, each checked against its own schema. */
  messages: StoredMessage[];
  /** An array of rooms, each checked against its own schema. */
  rooms: RoomInfo[];
  /** One of `ERROR_CODES`. */
  errorCode: ErrorCode;
  /** One of the reasons a `left` frame may give. */
  leaveReason: LeaveReason;
}

/** A kind of field that must be present. */
export type BaseKind = keyof KindTypes;

/** What a field may hold; a kind ending in `?` may also be absent. */
export type Kind = BaseKind | `${BaseKind}?`;

/**
 * The schema of an object type: each field but `type`, with the kinds whose values are exactly
 * the field's type, ending in `?` where the field is optional. A field whose type no kind holds
 * admits no kind at all, so it cannot be given a schema by mistake.
 */
export type Schema<T> = {
  readonly [K in Exclude<keyof T, "type">]-?: K extends OptionalKeys<T>
    ? `${KindsOf<Exclude<T[K], undefined>>}?`
    : KindsOf<T[K]>;
};

/** The schemas of a union of frames, by `type`: one for each frame, and no others. */
export type Schemas<T extends { type: string }> = {
  readonly [F in T as F["type"]]: Schema<F>;
};

/** The kinds whose decoded values have exactly type `T`: both assignable to the other. */
type KindsOf<T> = {
  [B in BaseKind]: [KindTypes[B]] extends [T] ? [T] extends [KindTypes[B]] ? B : never : never;
}[BaseKind];

/** The keys of `T` that may be absent. */
type OptionalKeys<T> = {
  // deno-lint-ignore ban-types
  [K in keyof T]-?: {} extends Pick<T, K> ? K : never;
}[keyof T];
