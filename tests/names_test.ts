// Honest names (issue 11, hole 2): invisible characters, Hangul fillers and stacked marks make a
// name invalid; look-alikes from other scripts fold to the name they pass for, by Unicode's whole
// confusables table; text that renders as nothing is refused. Unit tests of the rules and the
// fold, then the same over a real socket.

import { assert, assertEquals, assertNotEquals, assertStringIncludes } from "./_assert.ts";
import { decodeClientFrame, foldName, nameProblem, roomProblem } from "../protocol.ts";
import { join, nextFrame, RawPeer, startServer, tempDir } from "./_helpers.ts";
import { skeletonTable } from "../_protocol/names.ts";

/** Every invisible spelling of `alice` the issue found accepted, and names with nothing to see. */
const INVISIBLE_NAMES: [string, string][] = [
  ["alice\u034f", "U+034F COMBINING GRAPHEME JOINER"],
  ["alice\ufe0f", "U+FE0F VARIATION SELECTOR-16"],
  ["alice\ufe00", "U+FE00 VARIATION SELECTOR-1"],
  ["alice\u180b", "U+180B MONGOLIAN FREE VARIATION SELECTOR ONE"],
  ["alice\u17b4", "U+17B4 KHMER VOWEL INHERENT AQ"],
  ["alice\u{e0100}", "U+E0100 VARIATION SELECTOR-17"],
  ["alice\u3164", "U+3164 HANGUL FILLER"],
  ["\u3164", "only U+3164 HANGUL FILLER"],
  ["\u115f\u1160", "only U+115F U+1160 HANGUL CHOSEONG and JUNGSEONG FILLER"],
  ["\uffa0", "only U+FFA0 HALFWIDTH HANGUL FILLER"],
  ["ali\u200bce", "U+200B ZERO WIDTH SPACE"],
  ["\u2060\ufeff", "only U+2060 WORD JOINER and U+FEFF"],
];

/** Spellings that look like a name already taken, in the same script or another. */
const LOOK_ALIKES: [string, string[]][] = [
  ["HANK", ["\u0397\u0391\u039d\u039a", "hank", "Hank"]], // Greek capitals ΗΑΝΚ
  ["MIKE", ["\u039c\u0399\u039a\u0395", "mike", "M1KE"]], // Greek capitals ΜΙΚΕ
  [
    "alice",
    [
      "\ua4ee\ua4e1\ua4f2\ua4da\ua4f0", // Lisu ꓮꓡꓲꓚꓰ
      "\u13aa\u13de\u13a5\u13df\u13ac", // Cherokee ᎪᏞᎥᏟᎬ
      "\u0430lice", // Cyrillic а among Latin letters
      "ALICE",
      "\uff41\uff4c\uff49\uff43\uff45", // fullwidth ａｌｉｃｅ
      "AL1CE",
    ],
  ],
  ["modem", ["rnodern", "MODEM"]], // rn for m
  ["Ian", ["lan", "1an", "IAN"]], // I, l and 1
  ["bob0", ["bobo", "BOBO"]], // 0 for o
];

const A_WITH_20_MARKS = "a" +
  "\u0300\u0301\u0302\u0303\u0304\u0306\u0307\u0308\u030a\u030b".repeat(2);

Deno.test("names: invisible characters and Hangul fillers make a name or room name invalid", () => {
  for (const [name, what] of INVISIBLE_NAMES) {
    const problem = nameProblem(name);
    assert(problem !== undefined, `a name with ${what} is refused`);
    assertStringIncludes(problem, "invisible", what);
    assert(roomProblem(name) !== undefined, `a room name with ${what} is refused`);
  }
  assertEquals(nameProblem("\u3164"), "Name is made only of invisible characters");
  assertEquals(
    nameProblem("alice\u034f"),
    'Name "alice\u034f" holds an invisible character, U+034F',
  );
  // The fold drops them too, so a stored name holding one still compares as what it shows.
  assertEquals(foldName("alice\ufe0f"), foldName("alice"));
  assertEquals(foldName("alice\u3164"), foldName("alice"));
});

Deno.test("names: a letter carries at most 4 stacked marks, none of them twice", () => {
  assert(nameProblem(A_WITH_20_MARKS) !== undefined, "a with 20 marks");
  assertStringIncludes(nameProblem(A_WITH_20_MARKS)!, "more than 4 combining marks");
  assert(roomProblem(A_WITH_20_MARKS) !== undefined, "a room name with 20 marks");
  assert(nameProblem("a\u0300\u0301\u0302\u0303\u0304") !== undefined, "5 marks");
  assert(nameProblem("e\u0301\u0301") !== undefined, "one mark twice");
  // Marks as languages use them stay valid: Vietnamese has two on a letter, decomposed.
  for (const name of ["a\u0300\u0301\u0302\u0303", "Vi\u1ec7t", "Vie\u0323\u0302t", "zo\u00eb"]) {
    assertEquals(nameProblem(name), undefined, name);
  }
});

Deno.test("names: look-alikes fold alike, across scripts, case and compatibility forms", () => {
  for (const [name, others] of LOOK_ALIKES) {
    for (const other of others) {
      assertEquals(foldName(other), foldName(name), `${other} folds like ${name}`);
    }
  }
  // The other-script spellings are valid names of one script: the fold is what stops them.
  for (
    const name of ["\u0397\u0391\u039d\u039a", "\ua4ee\ua4e1\ua4f2\ua4da\ua4f0", "\u13aa\u13de"]
  ) {
    assertEquals(nameProblem(name), undefined, name);
  }
  // A small letter folds to what it looks like too: Greek ν and ο pass for v and o.
  assertEquals(foldName("\u03bd\u03bf\u03bd\u03bf"), foldName("vovo"));
});

Deno.test("names: the fold keeps apart names that look different", () => {
  const distinct = [
    ["bob", "rob"],
    ["hank", "nank"],
    ["alice", "alicia"],
    ["mike", "nike"],
    // Greek capital Η looks like H and small η like n, so the two cases fold apart.
    ["\u0397\u0391\u039d\u039a", "\u03b7\u03b1\u03bd\u03ba"],
  ];
  for (const [a, b] of distinct) assertNotEquals(foldName(a!), foldName(b!), `${a} and ${b}`);
});

Deno.test("names: the confusables table is Unicode's, closed, and pinned to FOLD_VERSION", async () => {
  const { FOLD_VERSION } = await import("../protocol.ts");
  const { CONFUSABLES_VERSION, SKELETONS } = await import("../_protocol/confusables.ts");
  assertEquals(CONFUSABLES_VERSION, "13.0.0");
  const table = skeletonTable();
  for (const [point, skeleton] of table) {
    assertEquals(
      foldName(String.fromCodePoint(point)),
      skeleton.normalize("NFD"),
      `U+${point.toString(16)}`,
    );
    // A skeleton folds to itself: folding twice changes nothing.
    assertEquals(
      foldName(skeleton),
      skeleton.normalize("NFD"),
      `the skeleton of U+${point.toString(16)}`,
    );
  }
  assert(table.size > 2500, `${table.size} characters in the table`);
  // Whoever regenerates the table with other data changes how names fold, and stored names
  // must be re-keyed: bump FOLD_VERSION in protocol.ts, then update this fingerprint.
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(SKELETONS.join("\n")),
  );
  const fingerprint = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join(
    "",
  );
  assertEquals([FOLD_VERSION, fingerprint], [
    2,
    "e81403c9d0007d136a281b00e7d51495d0101723ce141f559cb33283977a52b4",
  ]);
});

Deno.test("text that renders as nothing is refused as invalid_text; a topic may still be cleared", () => {
  const decode = (frame: unknown) =>
    decodeClientFrame(new TextEncoder().encode(JSON.stringify(frame)));
  const code = (frame: unknown) => {
    const result = decode(frame);
    return result.ok ? "ok" : result.code;
  };
  const blanks = [
    "  \u200b ",
    "\u3164",
    "\u3164\u3164",
    "\u115f\u1160",
    "\u2800",
    "\u200d\ufe0f\n",
    "",
  ];
  for (const text of blanks) {
    assertEquals(code({ type: "send", text }), "invalid_text", JSON.stringify(text));
    assertEquals(code({ type: "msg", to: "bob", text }), "invalid_text", JSON.stringify(text));
    if (text !== "") {
      assertEquals(
        code({ type: "topic", room: "r", topic: text }),
        "invalid_text",
        JSON.stringify(text),
      );
    }
  }
  assertEquals(code({ type: "topic", room: "r", topic: "" }), "ok");
  for (const text of ["hi", " hi\u200b ", "\u3164x", "\u0301", "."]) {
    assertEquals(code({ type: "send", text }), "ok", JSON.stringify(text));
  }
});

Deno.test("over a socket: a look-alike of a present user is name_taken, invisible names invalid_name", async () => {
  await using server = startServer();
  await using _alice = await join(server, "alice");
  await using _hank = await join(server, "HANK");
  await using _mike = await join(server, "MIKE");
  await using peer = await RawPeer.connect(server);
  const answers: string[] = [];
  const expected: string[] = [];
  for (const [name, others] of LOOK_ALIKES.slice(0, 3)) {
    for (const other of others) {
      const answer = await peer.hello(other);
      answers.push(`${other}: ${answer.type} ${answer.code}`);
      // Cyrillic а among Latin letters is refused before the fold: it mixes scripts.
      expected.push(`${other}: error ${other === "\u0430lice" ? "invalid_name" : "name_taken"}`);
    }
    assert(others.length > 0, name);
  }
  for (const [name] of [...INVISIBLE_NAMES, [A_WITH_20_MARKS]]) {
    const answer = await peer.hello(name!);
    answers.push(`${name}: ${answer.type} ${answer.code}`);
    expected.push(`${name}: error invalid_name`);
  }
  assertEquals(answers, expected);
  // Refused as often as that, the connection may still join under an honest name.
  assertEquals((await peer.hello("mallory")).type, "welcome");
});

Deno.test("over a socket: blank text is refused as invalid_text and the connection stays usable", async () => {
  await using server = startServer();
  await using alice = await join(server, "alice");
  await using peer = await RawPeer.connect(server);
  assertEquals((await peer.hello("mallory")).type, "welcome");
  const refused: unknown[] = [];
  for (const text of ["  \u200b ", "\u3164"]) {
    await peer.send({ type: "send", text });
    refused.push((await peer.frame()).code);
    await peer.send({ type: "msg", to: "alice", text });
    refused.push((await peer.frame()).code);
    await peer.send({ type: "topic", room: "lobby", topic: text });
    refused.push((await peer.frame()).code);
  }
  assertEquals(refused, Array(6).fill("invalid_text"));
  // Still joined: what follows arrives, and it is the first thing alice gets from mallory.
  await peer.send({ type: "msg", to: "alice", text: "psst" });
  await peer.send({ type: "send", text: "hi" });
  assertEquals((await nextFrame(alice, "private")).text, "psst");
  assertEquals((await nextFrame(alice, "message", (m) => m.from === "mallory")).text, "hi");
  await peer.send({ type: "ping", id: "still-there" });
  let pong: Record<string, unknown> | undefined;
  for (let i = 0; i < 10 && pong === undefined; i++) {
    const frame = await peer.frame();
    if (frame.type === "pong") pong = frame;
  }
  assertEquals(pong, { type: "pong", id: "still-there" });
  // An empty topic still clears the topic.
  await peer.send({ type: "topic", room: "lobby", topic: "" });
  assertEquals((await nextFrame(alice, "topic")).topic, "");
});

Deno.test("over a socket: room names fold the same way and refuse invisible characters", async () => {
  await using server = startServer();
  await using alice = await join(server, "alice");
  alice.join("MIKE");
  await nextFrame(alice, "entered", (frame) => frame.room === "MIKE");
  await using peer = await RawPeer.connect(server);
  assertEquals((await peer.hello("mallory")).type, "welcome");
  await peer.send({ type: "join", room: "lobby\u034f" });
  assertEquals((await peer.frame()).code, "invalid_room");
  await peer.send({ type: "join", room: A_WITH_20_MARKS });
  assertEquals((await peer.frame()).code, "invalid_room");
  // Greek ΜΙΚΕ is the room MIKE, shown as its maker spelled it.
  await peer.send({ type: "join", room: "\u039c\u0399\u039a\u0395", history: 0 });
  const entered = await peer.frame();
  assertEquals([entered.type, entered.room], ["entered", "MIKE"]);
});

Deno.test("over a socket: a look-alike of a registered name needs its password", async () => {
  await using dir = await tempDir();
  await using server = startServer({ db: `${dir.path}/names.db` });
  {
    await using hank = await join(server, "HANK");
    hank.register("correct horse battery");
    assertStringIncludes((await nextFrame(hank, "notice")).text, "registered");
    await hank.quit();
  }
  await using peer = await RawPeer.connect(server);
  assertEquals((await peer.hello("\u0397\u0391\u039d\u039a")).code, "wrong_password");
});
