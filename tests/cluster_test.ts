// Several `parley serve --cluster` nodes on a real nats-server with JetStream (tests/_nats.ts),
// as one chat: every room message reaches every member once, in one order, whichever node they
// are on; a name is won by one of two nodes racing for it; history comes from the stream to any
// node; and each fault ends as docs/CLUSTER.md says: a node killed (its users leave, nothing
// acknowledged is lost), NATS restarted (sends refused meanwhile, never lost), one of three
// NATS servers killed (the chat carries on), NATS unreachable at start (exit 1).

import { assert, assertEquals, assertGreater, assertLess } from "./_assert.ts";
import { deadline, type ParleyProcess, runParley, serveProcess } from "./_helpers.ts";
import { freePorts, NatsCluster, NatsServer } from "./_nats.ts";
import { ChatClient, ChatError } from "../client.ts";
import type { ServerFrame } from "../protocol.ts";

type Node = ParleyProcess & { port: number };
type MessageFrame = Extract<ServerFrame, { type: "message" }>;

/** How long a node has to tell a user that a node died: the bound docs/CLUSTER.md states. */
const DEAD_NODE_BOUND_MS = 10_000;
/** How long the NATS restart test keeps NATS down: past the 6 s after which a node that has not
 * beaten is taken for dead. */
const OUTAGE_MS = 8_000;

/** Something arrived at some {@linkcode Inbox}: the waits re-check their condition. */
let arrived = Promise.withResolvers<void>();

/**
 * Every frame a client receives, read in the background, so one wait can watch several clients
 * at once (did the message reach the receiver, or the sender an error?).
 */
class Inbox implements AsyncDisposable {
  readonly client: ChatClient;
  readonly frames: ServerFrame[] = [];
  /** Set once the connection has ended (with the error, if it broke). */
  ended: { error?: unknown } | undefined;
  #reading: Promise<void>;

  constructor(client: ChatClient) {
    this.client = client;
    this.#reading = this.#read();
  }

  /** The room messages received, in order. */
  messages(): MessageFrame[] {
    return this.frames.filter((frame): frame is MessageFrame => frame.type === "message");
  }

  /** The error codes received, in order. */
  errors(): string[] {
    return this.frames.flatMap((frame) => frame.type === "error" ? [frame.code] : []);
  }

  /** Who is in the lobby as this client has been told: its welcome, then joins and leaves. */
  present(): Set<string> {
    const names = new Set(this.client.welcome.users);
    for (const frame of this.frames) {
      if (frame.type === "joined" && frame.room === "lobby") names.add(frame.name);
      if (frame.type === "left" && frame.room === "lobby") names.delete(frame.name);
    }
    return names;
  }

  /** What arrived, for a failed wait's message. */
  toString(): string {
    const last = this.frames.slice(-3).map((frame) => JSON.stringify(frame).slice(0, 200));
    const end = this.ended ? `, connection ended ${String(this.ended.error ?? "")}` : "";
    return `${this.client.name}: ${this.frames.length} frames${end}, the last: ${last.join(" ")}`;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.client[Symbol.asyncDispose]();
    await this.#reading;
  }

  async #read(): Promise<void> {
    try {
      for await (const frame of this.client) {
        this.frames.push(frame);
        arrived.resolve();
      }
      this.ended = {};
    } catch (error) {
      this.ended = { error };
    }
    arrived.resolve();
  }
}

/** Waits until `done` holds, re-checking whenever a frame arrives anywhere; fails after `ms`,
 * naming `what` and what each of `inboxes` has. */
async function until(
  done: () => boolean,
  ms: number,
  what: string,
  inboxes: Inbox[],
): Promise<void> {
  const end = Date.now() + ms;
  while (!done()) {
    const left = end - Date.now();
    if (left <= 0) {
      throw new Error(`Timed out after ${ms} ms waiting for ${what}; ${inboxes.join("; ")}`);
    }
    const next = arrived.promise;
    await deadline(next, Math.min(left, 250), what).catch(() => {});
    if (next === arrived.promise) arrived = Promise.withResolvers<void>();
  }
}

/** Starts `parley serve` nodes `ids` on NATS at `nats`, with `args`, and no flood limit (the
 * bursts are the point); each is disposed of with `stack`. */
async function startNodes(
  stack: AsyncDisposableStack,
  nats: string,
  ids: string[],
  args: string[] = [],
): Promise<Node[]> {
  const started = await Promise.allSettled(
    ids.map((id) =>
      serveProcess(["--cluster", nats, "--node", id, "--rate", "0", ...args], { store: false })
    ),
  );
  const nodes = started.flatMap((result) => result.status === "fulfilled" ? [result.value] : []);
  for (const node of nodes) stack.use(node);
  const failed = started.find((result) => result.status === "rejected");
  if (failed) throw failed.reason;
  for (const [index, node] of nodes.entries()) {
    await node.waitFor(new RegExp(`cluster node ${ids[index]} of "parley" at nats://`));
  }
  return nodes;
}

/** Joins `node` as `name`, in the lobby, with no history replayed (unless `history` says). */
async function enter(
  stack: AsyncDisposableStack,
  node: Node,
  name: string,
  history = 0,
): Promise<Inbox> {
  return stack.use(new Inbox(await ChatClient.connect({ port: node.port, name, history })));
}

/** A message as every node must tell it alike: its id, sender and text. */
type Said = { id: number; from: string; text: string };

/** `messages` as {@linkcode Said}: what is compared across nodes. */
function said(messages: Said[]): Said[] {
  return messages.map(({ id, from, text }) => ({ id, from, text }));
}

/** The texts of `messages`. */
function texts(messages: { text: string }[]): string[] {
  return messages.map((message) => message.text);
}

/** Reads the lobby's whole history through `inbox`, a page of 200 at a time with `before`,
 * oldest first. */
async function wholeHistory(inbox: Inbox): Promise<Said[]> {
  const pages: Said[][] = [];
  let before: number | undefined;
  while (true) {
    const seen = inbox.frames.length;
    inbox.client.history("lobby", before === undefined ? { limit: 200 } : { before, limit: 200 });
    const page = () =>
      inbox.frames.slice(seen).find((frame) => frame.type === "history" || frame.type === "error");
    await until(() => page() !== undefined, 10_000, "a page of history", [inbox]);
    const frame = page()!;
    if (frame.type !== "history") throw new Error(`History refused: ${JSON.stringify(frame)}`);
    pages.unshift(said(frame.messages));
    if (!frame.more) return pages.flat();
    before = frame.messages[0]!.id;
  }
}

/**
 * One message sent by `sender` and its outcome: `"delivered"` once `receiver` (on another node)
 * has it, `"refused"` once the sender gets an error. Sent one at a time, so an error belongs to
 * the message it follows.
 */
async function sendOne(
  sender: Inbox,
  receiver: Inbox,
  text: string,
): Promise<"delivered" | "refused"> {
  const errors = sender.errors().length;
  if (sender.ended) throw new Error(`Cannot send "${text}": ${sender}`);
  sender.client.send(text);
  const delivered = () => receiver.messages().some((message) => message.text === text);
  const refused = () => sender.errors().length > errors;
  // Generous: after a NATS server of a cluster dies, JetStream itself may take 20 s or more to
  // elect new leaders; until then what was stored waits to be delivered.
  await until(() => delivered() || refused(), 60_000, `"${text}" delivered or refused`, [
    sender,
    receiver,
  ]);
  return refused() ? "refused" : "delivered";
}

/** Asserts that each of `inboxes` got exactly the messages `expected` (texts, in order) once,
 * with ids increasing. */
function assertDeliveredOnce(inboxes: Inbox[], expected: string[]): void {
  for (const inbox of inboxes) {
    const messages = inbox.messages();
    assertEquals(texts(messages), expected, `what ${inbox.client.name} received`);
    for (let index = 1; index < messages.length; index++) {
      assertGreater(messages[index]!.id, messages[index - 1]!.id, `ids at ${inbox.client.name}`);
    }
  }
}

Deno.test("three nodes: every member gets every room message once, all in one order", async () => {
  await using stack = new AsyncDisposableStack();
  const nats = stack.use(await NatsServer.start());
  const nodes = await startNodes(stack, nats.url, ["a", "b", "c"]);
  const clients: Inbox[] = [];
  for (const [index, node] of nodes.entries()) {
    for (const suffix of ["1", "2"]) {
      clients.push(await enter(stack, node, `${"abc"[index]}${suffix}`));
    }
  }
  const names = clients.map((inbox) => inbox.client.name);
  // The lobby's member list is the cluster's: each sees the five on all three nodes.
  await until(
    () => clients.every((inbox) => inbox.present().size === names.length - 1),
    15_000,
    "everyone to see the five others",
    clients,
  );

  const PER_CLIENT = 40;
  for (let index = 0; index < PER_CLIENT; index++) {
    for (const inbox of clients) inbox.client.send(`${inbox.client.name} ${index}`);
  }
  const others = (names.length - 1) * PER_CLIENT;
  await until(
    () => clients.every((inbox) => inbox.messages().length >= others),
    30_000,
    `${others} messages at each client`,
    clients,
  );
  // Anything twice would come right behind: a private message from another node closes the run.
  clients[0]!.client.msg("c2", "psst");
  await until(
    () => clients[5]!.frames.some((frame) => frame.type === "private" && frame.text === "psst"),
    10_000,
    "a private message from node a at node c",
    clients,
  );

  const byId = new Map<number, string>();
  for (const inbox of clients) {
    const messages = inbox.messages();
    assertEquals(messages.length, others, `messages at ${inbox.client.name}`);
    assertEquals(inbox.errors(), [], `errors at ${inbox.client.name}`);
    for (const [index, message] of messages.entries()) {
      // One order: the id is the stream sequence, so every client's ids increase, and an id
      // names the same message everywhere.
      if (index > 0) assertGreater(message.id, messages[index - 1]!.id);
      const said = `${message.from}: ${message.text}`;
      assertEquals(byId.get(message.id) ?? said, said, `message ${message.id}`);
      byId.set(message.id, said);
    }
    for (const from of names) {
      const fromOne = messages.filter((message) => message.from === from);
      const expected = from === inbox.client.name
        ? []
        : Array.from({ length: PER_CLIENT }, (_, index) => `${from} ${index}`);
      // Each sender's messages arrive all, once, in the order they were sent.
      assertEquals(texts(fromOne), expected, `from ${from} at ${inbox.client.name}`);
    }
  }
  assertEquals(byId.size, names.length * PER_CLIENT);
});

Deno.test("two nodes: two clients racing for one name never both win", async () => {
  await using stack = new AsyncDisposableStack();
  const nats = stack.use(await NatsServer.start());
  const [a, b] = await startNodes(stack, nats.url, ["a", "b"]);
  const ROUNDS = 30;
  let wonByA = 0;
  for (let round = 0; round < ROUNDS; round++) {
    // The same name as names compare, spelt differently on each side.
    const spellings = [`Racer${round}`, `rACER${round}`];
    const results = await Promise.allSettled(
      [a!, b!].map((node, index) =>
        ChatClient.connect({ port: node.port, name: spellings[index]!, history: 0 })
      ),
    );
    const winners = results.flatMap((result) =>
      result.status === "fulfilled" ? [result.value] : []
    );
    for (const winner of winners) stack.use(winner);
    const losers = results.flatMap((result) => result.status === "rejected" ? [result.reason] : []);
    assertEquals(winners.length, 1, `round ${round}: one winner of ${spellings.join(" and ")}`);
    assert(losers[0] instanceof ChatError, String(losers[0]));
    assertEquals(losers[0].code, "name_taken");
    if (results[0]!.status === "fulfilled") wonByA++;
  }
  console.log(`node a won ${wonByA} of ${ROUNDS} races, node b ${ROUNDS - wonByA}`);
});

Deno.test("history from the stream: replayed and paged on another node, and on a new one", async () => {
  await using stack = new AsyncDisposableStack();
  const nats = stack.use(await NatsServer.start());
  const [a, b] = await startNodes(stack, nats.url, ["a", "b"]);
  const writer = await enter(stack, a!, "writer");
  const reader = await enter(stack, b!, "reader");
  const COUNT = 30;
  for (let index = 0; index < COUNT; index++) writer.client.send(`line ${index}`);
  await until(() => reader.messages().length === COUNT, 15_000, "the lines at b", [reader]);
  const sent = said(reader.messages());

  // Entering on node b replays the last 10; `before` pages back through the rest.
  const newcomer = await enter(stack, b!, "newcomer", 10);
  const pages: Said[][] = [];
  const replayed = () => newcomer.frames.filter((frame) => frame.type === "history");
  await until(() => replayed().length === 1, 10_000, "the replay on entering", [newcomer]);
  for (let page = 1; page < 3; page++) {
    const last = replayed().at(-1)!;
    assert(last.type === "history" && last.more, "more history to page");
    newcomer.client.history("lobby", { before: last.messages[0]!.id, limit: 10 });
    await until(() => replayed().length === page + 1, 10_000, `page ${page}`, [newcomer]);
  }
  for (const frame of replayed()) {
    if (frame.type === "history") pages.unshift(said(frame.messages));
  }
  assertEquals(pages.map((page) => page.length), [10, 10, 10]);
  assertEquals(pages.flat(), sent);
  const lastPage = replayed().at(-1)!;
  assert(lastPage.type === "history" && !lastPage.more, "the third page is the last");

  // A node started after the messages fills its replica from the stream before it listens.
  const [c] = await startNodes(stack, nats.url, ["c"]);
  const late = await enter(stack, c!, "late", 50);
  await until(() => late.frames.some((f) => f.type === "history"), 10_000, "the replay at c", [
    late,
  ]);
  const replay = late.frames.find((frame) => frame.type === "history");
  assert(replay?.type === "history");
  assertEquals(said(replay.messages), sent);
  assertEquals(await wholeHistory(late), sent);
});

Deno.test("a node killed with kill -9 mid-burst: its users leave, nothing acknowledged is lost", async () => {
  await using stack = new AsyncDisposableStack();
  const nats = stack.use(await NatsServer.start());
  const [a, b, c] = await startNodes(stack, nats.url, ["a", "b", "c"]);
  const victims = [await enter(stack, c!, "victim1"), await enter(stack, c!, "victim2")];
  const senders = [await enter(stack, a!, "sender-a"), await enter(stack, b!, "sender-b")];
  await until(
    () =>
      senders.every((sender) => sender.present().has("victim1") && sender.present().has("victim2")),
    15_000,
    "the senders to see the victims",
    senders,
  );

  const BATCHES = 6;
  const PER_BATCH = 50;
  let killed = 0;
  for (let batch = 0; batch < BATCHES; batch++) {
    for (let index = 0; index < PER_BATCH; index++) {
      for (const sender of senders) sender.client.send(`${sender.client.name} ${batch}.${index}`);
    }
    if (batch === 2) {
      c!.child.kill("SIGKILL");
      killed = Date.now();
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const sent = BATCHES * PER_BATCH;

  // Every message reaches the other sender or is refused to its own: none lost in between.
  const [senderA, senderB] = senders as [Inbox, Inbox];
  const accounted = (from: Inbox, to: Inbox) =>
    to.messages().filter((message) => message.from === from.client.name).length +
    from.errors().length;
  await until(
    () => accounted(senderA, senderB) >= sent && accounted(senderB, senderA) >= sent,
    30_000,
    `each sender's ${sent} messages delivered or refused`,
    senders,
  );

  // The dead node's users leave everyone's lists, as disconnected, within the bound.
  const gone = (sender: Inbox) =>
    ["victim1", "victim2"].every((name) =>
      sender.frames.some((frame) =>
        frame.type === "left" && frame.name === name && frame.reason === "disconnected"
      )
    );
  await until(() => senders.every(gone), 30_000, "the victims to leave", senders);
  const took = Date.now() - killed;
  console.log(`the killed node's users left within ${took} ms of the kill`);
  // The bound, with 2 s to spare for a busy machine.
  assertLess(took, DEAD_NODE_BOUND_MS + 2_000);
  for (const sender of senders) {
    assertEquals(
      sender.present(),
      new Set([senders.find((s) => s !== sender)!.client.name]),
    );
  }
  for (const victim of victims) await victim.client.closed;

  // Their names are free again, and the history holds every message not refused.
  const heir = await enter(stack, a!, "victim1");
  const history = await wholeHistory(heir);
  for (const [sender, other] of [[senderA, senderB], [senderB, senderA]] as const) {
    const received = texts(
      other.messages().filter((message) => message.from === sender.client.name),
    );
    const stored = texts(history.filter((message) => message.from === sender.client.name));
    assertEquals(stored, received, `${sender.client.name}'s messages in the history`);
    assertEquals(stored.length, sent - sender.errors().length);
  }
  assertEquals(new Set(history.map((message) => message.id)).size, history.length);
});

Deno.test("a node stopped with SIGTERM: its users leave at once with server_shutdown, names free", async () => {
  await using stack = new AsyncDisposableStack();
  const nats = stack.use(await NatsServer.start());
  const [a, b] = await startNodes(stack, nats.url, ["a", "b"]);
  const staying = await enter(stack, a!, "staying");
  const going = await enter(stack, b!, "going");
  await until(() => staying.present().has("going"), 10_000, "staying to see going", [staying]);
  const stopped = Date.now();
  b!.child.kill("SIGTERM");
  assertEquals(await b!.exitCode(), 0, b!.stderr);
  const left = () =>
    staying.frames.find((frame) => frame.type === "left" && frame.name === "going");
  // Well under the 6 s after which a silent node is taken for dead: it said so itself.
  await until(() => left() !== undefined, 3_000, "going to leave", [staying, going]);
  assertLess(Date.now() - stopped, 3_000);
  assertEquals(left(), { ...left()!, room: "lobby", reason: "server_shutdown" } as ServerFrame);
  assertEquals(going.errors(), ["server_shutdown"]);
  const again = await enter(stack, a!, "going");
  assertEquals(again.client.name, "going", "the name is free again");
});

Deno.test("nats-server restarted mid-traffic: sends refused meanwhile, never lost; then they work", async () => {
  await using stack = new AsyncDisposableStack();
  const nats = stack.use(await NatsServer.start());
  const [a, b] = await startNodes(stack, nats.url, ["a", "b"]);
  const sender = await enter(stack, a!, "sender");
  const near = await enter(stack, a!, "near");
  const far = await enter(stack, b!, "far");
  const outcomes: { text: string; outcome: "delivered" | "refused" }[] = [];
  const send = async (text: string) =>
    outcomes.push({ text, outcome: await sendOne(sender, far, text) });

  for (let index = 0; index < 5; index++) await send(`before ${index}`);
  await nats.kill();
  const killed = Date.now();
  // Sends while NATS is down are refused. It stays down longer than a node may go without a
  // heartbeat: all nodes were cut off alike, so none may take the others' users out for it.
  for (let index = 0; Date.now() - killed < OUTAGE_MS; index++) {
    await send(`during ${index}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  assertGreater(outcomes.filter((o) => o.outcome === "refused").length, 3, "refused meanwhile");
  await nats.restart();
  // Once NATS is back, the nodes reconnect and sends go through again: five in a row.
  const restarted = Date.now();
  for (let index = 0, streak = 0; streak < 5; index++) {
    assertLess(Date.now() - restarted, 30_000, "sending works again after NATS returned");
    const before = outcomes.length;
    await send(`after ${index}`);
    streak = outcomes[before]!.outcome === "delivered" ? streak + 1 : 0;
    if (streak === 0) await new Promise((resolve) => setTimeout(resolve, 200));
  }
  // A marker through the whole path, to both nodes: anything else still coming would arrive
  // before it.
  await send("end");
  await until(() => texts(near.messages()).includes("end"), 10_000, "the marker at a", [near]);

  const inboxes = [sender, near, far];
  assertEquals(sender.errors().length, outcomes.filter((o) => o.outcome === "refused").length);
  for (const code of sender.errors()) assertEquals(code, "cluster_unavailable");
  const delivered = outcomes.filter((o) => o.outcome === "delivered").map((o) => o.text);
  const refused = outcomes.filter((o) => o.outcome === "refused").map((o) => o.text);
  // A refusal is final: at most the one message in flight when NATS died (stored, its
  // acknowledgement lost) may arrive all the same.
  const refusedYetDelivered = texts(far.messages()).filter((text) => refused.includes(text));
  assertLess(refusedYetDelivered.length, 2, `refused yet delivered: ${refusedYetDelivered}`);
  const expected = texts(far.messages());
  assertEquals(expected.filter((text) => !refused.includes(text)), delivered);
  assertDeliveredOnce([near, far], expected);
  // Nobody was disconnected or taken out of the chat, names are still held, and the history
  // agrees.
  for (const inbox of inboxes) {
    assertEquals(inbox.ended, undefined, `${inbox.client.name} still connected`);
    await deadline(inbox.client.ping(), 5_000, `a ping from ${inbox.client.name}`);
    const others = inboxes.filter((other) => other !== inbox).map((other) => other.client.name);
    assertEquals(inbox.present(), new Set(others), `who ${inbox.client.name} sees`);
    const left = inbox.frames.filter((frame) => frame.type === "left");
    assertEquals(left, [], `nobody left, as ${inbox.client.name} was told`);
  }
  const taken = await ChatClient.connect({ port: a!.port, name: "far", history: 0 })
    .then((client) => (stack.use(client), "welcome"), (error) => error.code);
  assertEquals(taken, "name_taken", "the name of a user on the other node, after the outage");
  assertEquals(texts(await wholeHistory(far)), expected);
});

Deno.test("three NATS servers, one killed: the chat carries on, nothing acknowledged lost", async () => {
  await using stack = new AsyncDisposableStack();
  const cluster = stack.use(await NatsCluster.start());
  // One after the other: starting together is the test after this one.
  const [a] = await startNodes(stack, cluster.urls, ["a"], ["--cluster-replicas", "3"]);
  const [b] = await startNodes(stack, cluster.urls, ["b"], ["--cluster-replicas", "3"]);
  const senders = [await enter(stack, a!, "sender-a"), await enter(stack, b!, "sender-b")];
  const [senderA, senderB] = senders as [Inbox, Inbox];
  const outcomes = new Map<Inbox, { text: string; outcome: "delivered" | "refused" }[]>(
    senders.map((sender) => [sender, []]),
  );
  const round = async (label: string) => {
    for (const [sender, receiver] of [[senderA, senderB], [senderB, senderA]] as const) {
      const text = `${sender.client.name} ${label}`;
      outcomes.get(sender)!.push({ text, outcome: await sendOne(sender, receiver, text) });
    }
  };

  for (let index = 0; index < 5; index++) await round(`before ${index}`);
  // The NATS server with the most clients dies: at least one node loses its link.
  const busiest = await cluster.busiest();
  await busiest.kill();
  const killed = Date.now();
  for (let index = 0, streak = 0; streak < 5; index++) {
    assertLess(Date.now() - killed, 90_000, "sending works on two NATS servers");
    const before = [...outcomes.values()].map((list) => list.length);
    await round(`after ${index}`);
    const ok = [...outcomes.values()].every((list, at) =>
      list.slice(before[at]).every((o) => o.outcome === "delivered")
    );
    streak = ok ? streak + 1 : 0;
    if (!ok) await new Promise((resolve) => setTimeout(resolve, 200));
  }
  console.log(`refusals after a NATS server died: ${senders.map((s) => s.errors().length)}`);

  for (const [sender, receiver] of [[senderA, senderB], [senderB, senderA]] as const) {
    const list = outcomes.get(sender)!;
    const refused = list.filter((o) => o.outcome === "refused").map((o) => o.text);
    const received = texts(receiver.messages());
    const refusedYetDelivered = received.filter((text) => refused.includes(text));
    assertLess(refusedYetDelivered.length, 2, `refused yet delivered: ${refusedYetDelivered}`);
    // Everything not refused, in the order sent, each once.
    const expected = list.map((o) => o.text).filter((text) =>
      !refused.includes(text) || refusedYetDelivered.includes(text)
    );
    assertDeliveredOnce([receiver], expected);
  }
  // A node that moved to another NATS server was not taken for dead.
  for (const sender of senders) {
    assertEquals(sender.frames.filter((frame) => frame.type === "left"), [], "nobody left");
  }
  const history = await wholeHistory(senderA);
  assertEquals(new Set(history.map((message) => message.id)).size, history.length);
  for (const sender of senders) {
    const delivered = outcomes.get(sender)!.filter((o) => o.outcome === "delivered");
    const stored = new Set(texts(history));
    for (const { text } of delivered) assert(stored.has(text), `"${text}" in the history`);
  }
});

Deno.test("three NATS servers: three nodes started at once all come up and talk", async () => {
  await using stack = new AsyncDisposableStack();
  const cluster = stack.use(await NatsCluster.start());
  const nodes = await startNodes(stack, cluster.urls, ["a", "b", "c"], ["--cluster-replicas", "3"]);
  const clients: Inbox[] = [];
  for (const [index, node] of nodes.entries()) {
    clients.push(await enter(stack, node, `user${index}`));
  }
  clients[0]!.client.send("hello from a");
  await until(
    () => clients.slice(1).every((inbox) => texts(inbox.messages()).includes("hello from a")),
    15_000,
    "the message at b and c",
    clients,
  );
});

Deno.test("parley serve --cluster with NATS unreachable: one line, exit code 1", async () => {
  const [port] = freePorts(1);
  const url = `nats://127.0.0.1:${port}`;
  const started = Date.now();
  const result = await runParley(["serve", "--port", "0", "--cluster", url]);
  const took = Date.now() - started;
  assertEquals(result.code, 1, result.stderr);
  assert(!result.stdout.includes("listening"), result.stdout);
  const lines = result.stderr.split("\n").filter((line) => line.trim() !== "");
  assertEquals(lines.length, 1, result.stderr);
  assert(lines[0]!.includes(`cannot reach NATS at ${url}`), lines[0]);
  assertLess(took, 20_000, "it gives up within seconds");
});
