// Decoding raw terminal input into key events: a state machine fed the bytes a raw-mode TTY
// delivers, which keeps a UTF-8 character, an escape sequence or a bracketed paste that is split
// across reads until its end arrives. No I/O here.

/** The name of a key that carries no data; see {@linkcode KeyDecoder} for what produces each. */
export type KeyName =
  | "enter"
  | "newline"
  | "tab"
  | "escape"
  | "backspace"
  | "delete"
  | "left"
  | "right"
  | "up"
  | "down"
  | "home"
  | "end"
  | "pageUp"
  | "pageDown"
  | "wordLeft"
  | "wordRight"
  | "deleteWordBack"
  | "deleteToStart"
  | "deleteToEnd"
  | "redraw"
  | "interrupt"
  | "eof";

/** A key that carries no data. */
export interface NamedKey {
  /** Which key. */
  type: KeyName;
}

/** Typed text: one or more printable characters, never a control character. */
export interface TextKey {
  /** Always `"text"`. */
  type: "text";
  /** The characters, in order. */
  text: string;
}

/** A bracketed paste, delivered whole once its end marker arrives. */
export interface PasteKey {
  /** Always `"paste"`. */
  type: "paste";
  /** What was pasted, with CR LF and lone CR turned into `"\n"` and every other control
   * character except tab removed, so a paste cannot smuggle an escape sequence in. */
  text: string;
}

/** An escape sequence or control character with no binding: to be ignored, never inserted. */
export interface UnknownKey {
  /** Always `"unknown"`. */
  type: "unknown";
  /** The whole sequence as received, ESC included. */
  sequence: string;
}

/** One key event decoded from terminal input. */
export type Key = NamedKey | TextKey | PasteKey | UnknownKey;

const ESC = "\x1b";
const PASTE_START = "\x1b[200~";
const PASTE_END = "\x1b[201~";

/** The longest unfinished CSI sequence kept waiting for its final byte; longer is garbage. */
const MAX_SEQUENCE_LENGTH = 32;

const CONTROL_KEYS: Readonly<Record<string, KeyName>> = {
  "\x01": "home", // Ctrl-A
  "\x02": "left", // Ctrl-B
  "\x03": "interrupt", // Ctrl-C
  "\x04": "eof", // Ctrl-D
  "\x05": "end", // Ctrl-E
  "\x06": "right", // Ctrl-F
  "\x08": "backspace", // Ctrl-H
  "\t": "tab", // Ctrl-I
  "\n": "newline", // Ctrl-J
  "\x0b": "deleteToEnd", // Ctrl-K
  "\x0c": "redraw", // Ctrl-L
  "\r": "enter", // Ctrl-M
  "\x0e": "down", // Ctrl-N
  "\x10": "up", // Ctrl-P
  "\x15": "deleteToStart", // Ctrl-U
  "\x17": "deleteWordBack", // Ctrl-W
  "\x7f": "backspace",
};

// ESC followed by one character: what Alt plus that key sends.
const ALT_KEYS: Readonly<Record<string, KeyName>> = {
  "\r": "newline",
  "\n": "newline",
  "\x7f": "deleteWordBack",
  "\x08": "deleteWordBack",
  "b": "wordLeft",
  "f": "wordRight",
};

// ESC [ number ~
const TILDE_KEYS: Readonly<Record<string, KeyName>> = {
  "1": "home",
  "3": "delete",
  "4": "end",
  "5": "pageUp",
  "6": "pageDown",
  "7": "home",
  "8": "end",
};

// ESC [ final, or ESC [ 1 ; modifier final
const CURSOR_KEYS: Readonly<Record<string, KeyName>> = {
  A: "up",
  B: "down",
  C: "right",
  D: "left",
  H: "home",
  F: "end",
};

// ESC O followed by one character (application cursor keys mode): the same, and keypad Enter.
const SS3_KEYS: Readonly<Record<string, KeyName>> = { ...CURSOR_KEYS, M: "enter" };

// deno-lint-ignore no-control-regex
const PASTE_DROPPED = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;

/**
 * Turns the bytes a terminal in raw mode sends into {@linkcode Key} events. It is stateful:
 * a UTF-8 character, an escape sequence or a bracketed paste split across chunks is held until
 * the rest arrives, so chunks can be fed exactly as they are read.
 *
 * The bindings (Emacs-style, as in readline):
 *
 * | Input | Key |
 * | --- | --- |
 * | printable characters | `text`, a run of them as one event |
 * | `ESC[200~` … `ESC[201~` | `paste`, the text between, once the end marker arrives |
 * | CR (Enter, Ctrl-M), `ESC O M`; CR LF in one chunk counts once | `enter` |
 * | ESC CR or ESC LF (Alt+Enter), LF (Ctrl-J) | `newline` |
 * | Tab (Ctrl-I) | `tab` |
 * | DEL, BS (Ctrl-H) | `backspace` |
 * | `ESC[3~` | `delete` |
 * | `ESC[A`, `ESC O A`, Ctrl-P; `ESC[B`, `ESC O B`, Ctrl-N | `up`; `down` |
 * | `ESC[C`, `ESC O C`, Ctrl-F; `ESC[D`, `ESC O D`, Ctrl-B | `right`; `left` |
 * | `ESC[H`, `ESC[1~`, `ESC[7~`, `ESC O H`, Ctrl-A | `home` |
 * | `ESC[F`, `ESC[4~`, `ESC[8~`, `ESC O F`, Ctrl-E | `end` |
 * | `ESC[5~`; `ESC[6~` | `pageUp`; `pageDown` |
 * | Ctrl or Alt with Left (`ESC[1;5D`, `ESC[1;3D`), Alt+B | `wordLeft` |
 * | Ctrl or Alt with Right (`ESC[1;5C`, `ESC[1;3C`), Alt+F | `wordRight` |
 * | Ctrl-W, Alt+Backspace | `deleteWordBack` |
 * | Ctrl-U; Ctrl-K | `deleteToStart`; `deleteToEnd` |
 * | Ctrl-L | `redraw` |
 * | Ctrl-C; Ctrl-D | `interrupt`; `eof` |
 * | ESC, when `flush` finds it alone or ESC or a control character follows | `escape` |
 *
 * Other modifiers on the cursor and editing keys are ignored (Shift+Left is `left`). Anything
 * else, be it a CSI sequence with no binding, Alt with another key, or an unbound control
 * character, is one `unknown` event, swallowed whole. Only CSI (`ESC[`) and SS3 (`ESC O`)
 * sequences are parsed, as keys send nothing else: `ESC ]` is taken as Alt+] and not as the
 * start of a string that would swallow what follows.
 *
 * @example
 * ```ts
 * import { KeyDecoder } from "./keys.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const decoder = new KeyDecoder();
 * const bytes = new TextEncoder().encode("hi\x1b[D\r");
 * assertEquals(decoder.decode(bytes.subarray(0, 3)), [{ type: "text", text: "hi" }]);
 * assertEquals(decoder.decode(bytes.subarray(3)), [{ type: "left" }, { type: "enter" }]);
 * ```
 */
export class KeyDecoder {
  #decoder = new TextDecoder();
  // The start of an escape sequence whose end has not arrived.
  #pending = "";
  // While inside a bracketed paste: its text so far, and the last characters of it, where the
  // start of a split end marker may be.
  #paste: string[] | undefined;
  #pasteTail = "";
  // Whether the rest of an over-long CSI sequence, already reported, is being dropped.
  #skipping = false;

  /**
   * Decodes one chunk of input.
   *
   * @param chunk Bytes as read from the terminal.
   * @returns The keys completed by this chunk, in order; possibly none.
   */
  decode(chunk: Uint8Array): Key[] {
    const input = this.#pending + this.#decoder.decode(chunk, { stream: true });
    this.#pending = "";
    const keys: Key[] = [];
    this.#parse(input, keys);
    return keys;
  }

  /**
   * Ends a sequence left unfinished: a lone ESC becomes `escape`, an incomplete sequence such
   * as `ESC[1;` becomes `unknown`. Call it when no input has arrived for a short while (a few
   * tens of milliseconds): a terminal sends a sequence in one write, so a lone ESC that nothing
   * follows was the Escape key. An unfinished paste or UTF-8 character is kept.
   *
   * @returns The key the pending input stood for, if any.
   */
  flush(): Key[] {
    const pending = this.#pending;
    this.#pending = "";
    if (pending === "") return [];
    return [pending === ESC ? { type: "escape" } : { type: "unknown", sequence: pending }];
  }

  #parse(input: string, keys: Key[]): void {
    let index = 0;
    while (index < input.length) {
      if (this.#skipping) {
        const code = input.charCodeAt(index);
        if (code >= 0x20 && code <= 0x3f) {
          index++;
        } else {
          this.#skipping = false;
          if (code >= 0x40 && code <= 0x7e) index++; // the final byte
        }
        continue;
      }
      if (this.#paste !== undefined) {
        const end = this.#endPaste(input.slice(index), keys);
        if (end === undefined) return;
        index += end;
        continue;
      }
      const char = input[index]!;
      if (char === ESC) {
        const end = this.#escape(input, index, keys);
        if (end === undefined) {
          this.#pending = input.slice(index);
          return;
        }
        index = end;
        continue;
      }
      if (isControl(input.charCodeAt(index))) {
        const name = CONTROL_KEYS[char];
        keys.push(name ? { type: name } : { type: "unknown", sequence: char });
        index += char === "\r" && input[index + 1] === "\n" ? 2 : 1;
        continue;
      }
      let end = index + 1;
      while (end < input.length && !isControl(input.charCodeAt(end))) end++;
      keys.push({ type: "text", text: input.slice(index, end) });
      index = end;
    }
  }

  // Decodes the escape sequence at `start`. Returns where the input after it begins, or
  // undefined if the input ends before the sequence does.
  #escape(input: string, start: number, keys: Key[]): number | undefined {
    const next = input[start + 1];
    if (next === undefined) return undefined;
    if (next === "[") return this.#csi(input, start, keys);
    if (next === "O") {
      const final = input[start + 2];
      if (final === undefined) return undefined;
      const code = final.charCodeAt(0);
      if (code < 0x40 || code > 0x7e) {
        // Not a final byte: Alt+O, then a key of its own.
        keys.push(unknown(input.slice(start, start + 2)));
        return start + 2;
      }
      const name = SS3_KEYS[final];
      keys.push(name ? { type: name } : unknown(input.slice(start, start + 3)));
      return start + 3;
    }
    const alt = ALT_KEYS[next];
    if (alt) {
      keys.push({ type: alt });
      return start + 2;
    }
    if (isControl(next.charCodeAt(0))) {
      // ESC ESC, or ESC then Ctrl-C: the Escape key, then a key of its own.
      keys.push({ type: "escape" });
      return start + 1;
    }
    const end = start + 1 + (next.charCodeAt(0) >= 0xd800 && next.charCodeAt(0) < 0xdc00 ? 2 : 1);
    keys.push(unknown(input.slice(start, end)));
    return end;
  }

  #csi(input: string, start: number, keys: Key[]): number | undefined {
    let index = start + 2;
    if (input[index] === "[") {
      // The Linux console's F1 to F5: ESC [ [ A to ESC [ [ E.
      if (index + 1 >= input.length) return undefined;
      keys.push(unknown(input.slice(start, index + 2)));
      return index + 2;
    }
    for (; index < input.length; index++) {
      const code = input.charCodeAt(index);
      if (code >= 0x40 && code <= 0x7e) {
        const sequence = input.slice(start, index + 1);
        if (sequence === PASTE_START) {
          this.#paste = [];
          this.#pasteTail = "";
        } else {
          const name = csiKey(input.slice(start + 2, index), input[index]!);
          keys.push(name ? { type: name } : unknown(sequence));
        }
        return index + 1;
      }
      if (code < 0x20 || code > 0x3f) {
        // Not a parameter or intermediate byte: the sequence is broken off here, and what
        // comes next is read as input of its own.
        keys.push(unknown(input.slice(start, index)));
        return index;
      }
      if (index - start >= MAX_SEQUENCE_LENGTH) {
        // Too long for a key: reported now, the rest dropped up to its final byte.
        keys.push(unknown(input.slice(start, index)));
        this.#skipping = true;
        return index;
      }
    }
    return undefined;
  }

  // Adds `input` to the paste under way. Once the end marker is found, pushes the paste and
  // returns where the input after the marker begins; until then returns undefined.
  #endPaste(input: string, keys: Key[]): number | undefined {
    const parts = this.#paste!;
    const window = this.#pasteTail + input;
    const found = window.indexOf(PASTE_END);
    if (found === -1) {
      parts.push(input);
      this.#pasteTail = window.slice(-(PASTE_END.length - 1));
      return undefined;
    }
    // Where the marker starts in `input`: before its start when the marker began in a
    // previous chunk.
    const markerStart = found - this.#pasteTail.length;
    let text = parts.join("") + input.slice(0, Math.max(markerStart, 0));
    if (markerStart < 0) text = text.slice(0, markerStart);
    keys.push({ type: "paste", text: text.replace(/\r\n?/g, "\n").replace(PASTE_DROPPED, "") });
    this.#paste = undefined;
    this.#pasteTail = "";
    return markerStart + PASTE_END.length;
  }
}

function isControl(code: number): boolean {
  return code < 0x20 || (code >= 0x7f && code < 0xa0);
}

function unknown(sequence: string): UnknownKey {
  return { type: "unknown", sequence };
}

// The key of the CSI sequence `ESC [ params final`, if it has one.
function csiKey(params: string, final: string): KeyName | undefined {
  if (!/^\d*(?:;\d*)?$/.test(params)) return undefined;
  const [first = "", modifiers = ""] = params.split(";");
  if (final === "~") return TILDE_KEYS[first];
  if (first !== "" && first !== "1") return undefined;
  const name = CURSOR_KEYS[final];
  // xterm's modifier parameter is 1 plus a bit set: 1 Shift, 2 Alt, 4 Ctrl, 8 Meta.
  const bits = modifiers === "" ? 0 : Number(modifiers) - 1;
  if ((bits & 6) !== 0) {
    if (name === "left") return "wordLeft";
    if (name === "right") return "wordRight";
  }
  return name;
}
