// The chat itself, knowing no transport: users and their names, rooms and their members, private
// messages, and history. It is handed each decoded frame with the peer that sent it, and answers
// by giving peers frames (peer.ts); a peer that closes reaches it through `leave`. Room messages
// are stored, then delivered, by the fan-out (fanout.ts); who may come in and what they may do is
// the guard's to say (guard.ts); lists and history come a page at a time (pages.ts); the rooms
// that exist are in rooms.ts, and what operators do in moderation.ts.

import type { ClusterHandlers, ClusterLink, Presence } from "./cluster/link.ts";
import { RemotePeer } from "./cluster/remote_peer.ts";
import type { Guard, Verdict } from "./guard.ts";
import type { Logger } from "./log.ts";
import { Member } from "./member.ts";
import { banMessage, Moderation } from "./moderation.ts";
import { deliverEach, Fanout } from "./fanout.ts";
import { historyFrame, LARGE_ROOM, listBudget, roomsPage, someNames, usersPage } from "./pages.ts";
import { Outgoing, type Peer, send } from "./peer.ts";
import { Room, Rooms } from "./rooms.ts";
import {
  type HistoryPage,
  type RetentionPolicy,
  type Store,
  StoreError,
  UnavailableError,
} from "./store.ts";
import {
  byteCost,
  type ClientFrame,
  type EnteredFrame,
  type ErrorCode,
  foldName,
  type HelloFrame,
  type LeaveReason,
  MAX_HISTORY_LIMIT,
  MAX_TOPIC_LENGTH,
  type MessageFrame,
  nameProblem,
  type PrivateFrame,
  PROTOCOL_VERSION,
  roomProblem,
  type ServerFrame,
  type WelcomeFrame,
} from "../protocol.ts";
import { VERSION } from "../_protocol/version.ts";

export { LARGE_ROOM, LIST_PAGE_BYTES, LIST_PAGE_ITEMS } from "./pages.ts";
export { MAX_ROOMS_PER_USER } from "./rooms.ts";

/** The frames the chat handles: all but the connection's own `ping` and `pong`. */
export type ChatFrame = Exclude<ClientFrame, { type: "ping" | "pong" }>;

/** How often old history is pruned when a retention policy is set. */
const PRUNE_INTERVAL_MS = 10 * 60 * 1000;

/** How the chat behaves. */
export interface ChatOptions {
  store: Store;
  guard: Guard;
  log: Logger;
  /** Open connections, for `stats`. */
  connectionCount: () => number;
  maxUsers: number;
  maxFrameBytes: number;
  /** The bound of each client's queue: a history page stays well under it. */
  maxQueueBytes: number;
  /** The flood limits, told to clients in `welcome`. */
  rate: number;
  burst: number;
  /** The byte rate per connection, told to clients in `welcome`. */
  byteRate: number;
  byteBurst: number;
  /** The most rooms at once; joining a new one past it is `too_many_rooms`. */
  maxRooms: number;
  /** The most rooms one address may have made that exist at once. */
  maxRoomsPerIp: number;
  /** Messages replayed on entering a room, unless the client asks for fewer. */
  history: number;
  defaultRoom: string;
  /** When given, the only rooms there are. */
  fixedRooms: readonly string[] | undefined;
  retention: RetentionPolicy;
  /** On a cluster node, its link: messages, names and presence go through it. */
  cluster?: ClusterLink | undefined;
}

/** Users, rooms and messages. */
export class Chat {
  #options: ChatOptions;
  #store: Store;
  #log: Logger;
  #guard: Guard;
  /** Every peer that has sent a frame and not left, and what the chat knows of it. */
  #members = new Map<Peer, Member>();
  /** Joined users by folded name, in the order they joined. */
  #users = new Map<string, Member>();
  #rooms: Rooms;
  #fanout: Fanout;
  #moderation: Moderation;
  /** Counts arrivals, of users and in rooms: the places `who` pages by. */
  #arrivals = 0;
  /** The bytes a page of a list may take. */
  #listBudget: number;
  #nextMessageId: number;
  #cluster: ClusterLink | undefined;
  #pruneTimer: ReturnType<typeof setInterval> | undefined;

  constructor(options: ChatOptions) {
    this.#options = options;
    this.#store = options.store;
    this.#log = options.log;
    this.#guard = options.guard;
    this.#listBudget = listBudget(options.maxQueueBytes);
    this.#nextMessageId = this.#store.lastMessageId() + 1;
    this.#rooms = new Rooms(this.#store, options);
    const cluster = this.#cluster = options.cluster;
    this.#fanout = new Fanout(
      this.#store,
      (senders, error) =>
        // One error per message, to its sender.
        this.#storeFailed(
          senders,
          `storing ${senders.length} message(s)`,
          error,
          "Your message could not be stored, so it was not sent",
        ),
      cluster &&
        (({ room, sender, frame }) =>
          cluster.publish(room.key, frame, `${cluster.node}:${sender!.key}`)),
    );
    this.#moderation = new Moderation({
      guard: this.#guard,
      log: this.#log,
      users: this.#users,
      roomCount: () => this.#rooms.size,
      connectionCount: options.connectionCount,
    });
    const { days, messagesPerRoom } = options.retention;
    if (days !== undefined || messagesPerRoom !== undefined) {
      this.#prune();
      this.#pruneTimer = setInterval(() => this.#prune(), PRUNE_INTERVAL_MS);
    }
    cluster?.attach(this.#clusterHandlers(cluster));
  }

  /** How many users have joined. */
  get userCount(): number {
    return this.#users.size;
  }

  /** Whether `peer` has joined: said `hello` and been welcomed, and not left. */
  joined(peer: Peer): boolean {
    return this.#members.get(peer)?.name !== undefined;
  }

  /**
   * Handles one frame from `peer`, `bytes` long as it came (without its newline): text that is
   * sent on is charged to the peer (see {@linkcode byteCost}). Checking a password takes time:
   * then it returns a promise, and the peer's next frame should wait for it. Never throws: a
   * frame whose handling fails is answered with `store_failed` (storage failed) or
   * `internal_error`, and the connection stays open.
   */
  receive(peer: Peer, frame: ChatFrame, bytes = 0): void | Promise<void> {
    let member = this.#members.get(peer);
    if (member === undefined) this.#members.set(peer, member = new Member(peer));
    try {
      const handling = this.#handle(member, frame, bytes);
      if (handling instanceof Promise) {
        return handling.catch((error) => this.#failed(member, frame, error));
      }
    } catch (error) {
      this.#failed(member, frame, error);
    }
  }

  /**
   * Stores and delivers the room messages waiting for the end of the turn, now; on a cluster
   * node, those the stream has delivered (what is still being published is not waited for).
   */
  flush(): void {
    this.#fanout.flush();
  }

  /**
   * Takes `peer` out of the chat, telling everyone who shared a room with it why. Work for it
   * still under way (a password check) finds it gone and stops.
   */
  leave(peer: Peer, reason: LeaveReason): void {
    const member = this.#members.get(peer);
    if (member === undefined) return;
    this.#members.delete(peer);
    member.checking?.abort();
    if (member.key === undefined) return;
    this.#users.delete(member.key);
    this.#log("info", `${member.label} "${member.name}" left: ${reason}`);
    this.#cluster?.release(member.key, { ...this.#presence(member), rooms: [], gone: reason });
    for (const room of member.rooms.values()) this.#leaveRoom(member, room, reason);
  }

  /**
   * Stores and delivers what is pending, stops pruning, and forgets every peer without telling
   * anyone (the server is going): work still under way finds its peer gone. The store is the
   * caller's to close.
   */
  close(): void {
    this.#fanout.flush();
    clearInterval(this.#pruneTimer);
    for (const member of this.#members.values()) {
      member.checking?.abort();
      if (member.key !== undefined) {
        this.#cluster?.release(member.key, {
          ...this.#presence(member),
          rooms: [],
          gone: "server_shutdown",
        });
      }
    }
    this.#members.clear();
  }

  #handle(member: Member, frame: ChatFrame, bytes: number): void | Promise<void> {
    if (frame.type === "hello") return this.#hello(member, frame);
    if (frame.type === "quit") return member.peer.close("quit");
    const name = member.name;
    if (name === undefined) {
      return this.#reject(member, "not_joined", 'Say "hello" with a name first');
    }
    switch (frame.type) {
      case "send": {
        const room = this.#memberRoom(member, frame.room ?? this.#options.defaultRoom);
        if (room === undefined || !this.#charge(member, frame, bytes)) return;
        const message: MessageFrame = {
          type: "message",
          // On a cluster node, the stream's sequence, given as it comes back.
          id: this.#cluster === undefined ? this.#nextMessageId++ : 0,
          room: room.name,
          from: name,
          text: frame.text,
          ts: new Date().toISOString(),
        };
        if (frame.action) message.action = true;
        this.#moderation.countMessage();
        return this.#fanout.queue({ room, sender: member, frame: message });
      }
      case "msg": {
        const target = this.#users.get(foldName(frame.to));
        if (target === undefined) {
          return this.#reject(member, "no_such_user", `Nobody here is called "${frame.to}"`);
        }
        if (!this.#charge(member, frame, bytes)) return;
        const message: PrivateFrame = {
          type: "private",
          from: name,
          to: target.name!,
          text: frame.text,
          ts: new Date().toISOString(),
        };
        if (target.peer instanceof RemotePeer) return this.#sendRemote(member, target, message);
        return this.#send(target, message);
      }
      case "join":
        return this.#join(member, frame.room, frame.history);
      case "part": {
        const room = this.#memberRoom(member, frame.room);
        if (room === undefined) return;
        return this.#leaveRoom(member, room, "part");
      }
      case "rooms":
        return this.#listRooms(member, frame.after);
      case "who":
        return this.#who(member, frame.room, frame.after);
      case "topic": {
        const room = this.#memberRoom(member, frame.room);
        if (room === undefined) return;
        if (!frame.topic.isWellFormed() || codePoints(frame.topic) > MAX_TOPIC_LENGTH) {
          return this.#reject(
            member,
            "invalid_text",
            `A topic is at most ${MAX_TOPIC_LENGTH} characters`,
          );
        }
        if (this.#guard.hasOperators && !this.#guard.isOperator(member, name)) {
          return this.#reject(member, "not_operator", "Only operators set topics here");
        }
        if (!this.#charge(member, frame, bytes)) return;
        const ts = new Date().toISOString();
        try {
          this.#store.setTopic(room.key, frame.topic, name, ts);
        } catch (error) {
          return this.#storeFailed(
            [member],
            `storing the topic of #${room.name}`,
            error,
            `The topic of #${room.name} could not be stored, so it is unchanged`,
          );
        }
        room.topic = frame.topic === "" ? undefined : frame.topic;
        room.topicSetter = frame.topic === "" ? undefined : { by: name, ts };
        return this.#fanout.notify(room.members, {
          type: "topic",
          room: room.name,
          topic: frame.topic,
          by: name,
          ts,
        });
      }
      case "history": {
        const room = this.#memberRoom(member, frame.room);
        if (room === undefined) return;
        // Messages accepted but not yet stored belong in the answer too.
        this.#fanout.flush();
        const limit = Math.min(frame.limit ?? this.#options.history, MAX_HISTORY_LIMIT);
        return this.#sendHistory(member, room, limit, frame.before);
      }
      case "nick":
        return this.#rename(member, frame.name, frame.password);
      case "register":
        return this.#register(member, name, frame.password, frame.token);
      case "kick":
      case "ban":
      case "unban":
      case "stats": {
        if (!this.#guard.isOperator(member, name)) {
          return this.#reject(member, "not_operator", `Only operators may ${frame.type}`);
        }
        const answer = this.#moderation.run(member, name, frame);
        if ("type" in answer) return this.#send(member, answer);
        return this.#reject(member, answer.code, answer.message);
      }
      default:
        frame satisfies never;
    }
  }

  async #hello(member: Member, frame: HelloFrame): Promise<void> {
    const name = frame.name;
    if (member.name !== undefined) {
      return this.#reject(member, "already_joined", `You have joined as "${member.name}"`);
    }
    if (frame.protocol !== undefined && frame.protocol !== PROTOCOL_VERSION) {
      return this.#reject(
        member,
        "unsupported_protocol",
        `Protocol ${frame.protocol} is not supported; this server speaks ${PROTOCOL_VERSION}`,
      );
    }
    if (this.#claimableName(member, name) === undefined) return;
    const ban = this.#guard.bans.inForce(member, name);
    if (ban !== undefined) return member.peer.close("banned", banMessage(ban.until, ban.reason));
    const verdict = await this.#check(
      member,
      (signal) => this.#guard.admit(member, name, frame, signal),
    );
    if (verdict === undefined) return;
    if ("code" in verdict) return this.#reject(member, verdict.code, verdict.message);
    if (verdict.proven !== undefined) member.proven = verdict.proven;
    // Checked again: the name may have been taken while the password was checked.
    const key = this.#claimableName(member, name);
    if (key === undefined || member.name !== undefined) return;
    if (this.#users.size >= this.#options.maxUsers) {
      return member.peer.close(
        "server_full",
        `The server is full (${this.#options.maxUsers} users)`,
      );
    }
    if (this.#cluster !== undefined) {
      const presence = { ...this.#presence(member), name, rooms: [this.#options.defaultRoom] };
      if (!await this.#claim(member, key, presence)) return;
    }
    member.name = name;
    member.key = key;
    member.arrival = ++this.#arrivals;
    this.#users.set(key, member);
    this.#log("info", `${member.label} joined as "${name}"`);
    const { room: lobby, failure } = this.#rooms.open(this.#options.defaultRoom);
    const welcome: WelcomeFrame = {
      type: "welcome",
      name,
      users: someNames(lobby.members, this.#listBudget),
      room: lobby.name,
      maxFrameBytes: this.#options.maxFrameBytes,
      rate: this.#options.rate,
      burst: this.#options.burst,
      byteRate: this.#options.byteRate,
      byteBurst: this.#options.byteBurst,
      server: `parley/${VERSION}`,
      protocol: PROTOCOL_VERSION,
    };
    if (this.#guard.isOperator(member, name)) welcome.operator = true;
    this.#send(member, welcome);
    this.#enter(member, lobby, frame.history, failure);
  }

  async #register(
    member: Member,
    name: string,
    password: string,
    token: string | undefined,
  ): Promise<void> {
    const verdict = await this.#check(
      member,
      (signal) => this.#guard.register(member, name, password, token, signal),
    );
    if (verdict === undefined) return;
    if ("code" in verdict) return this.#reject(member, verdict.code, verdict.message);
    if (verdict.proven !== undefined) member.proven = verdict.proven;
    this.#log("info", `${member.label} registered "${name}"`);
    this.#send(member, {
      type: "notice",
      text: `Name "${name}" is registered to you: from now on it needs your password`,
    });
  }

  async #rename(member: Member, to: string, password: string | undefined): Promise<void> {
    if (this.#claimableName(member, to) === undefined) return;
    const ban = this.#guard.bans.inForce(member, to);
    if (ban !== undefined) return this.#reject(member, "banned", banMessage(ban.until, ban.reason));
    const verdict = await this.#check(
      member,
      (signal) => this.#guard.prove(member, to, password, signal),
    );
    if (verdict === undefined || member.key === undefined) return;
    if ("code" in verdict) return this.#reject(member, verdict.code, verdict.message);
    if (verdict.proven !== undefined) member.proven = verdict.proven;
    // Checked again: the name may have been taken while the password was checked.
    const key = this.#claimableName(member, to);
    if (key === undefined) return;
    const from = member.name!;
    if (this.#cluster !== undefined && key !== member.key) {
      const presence = { ...this.#presence(member), name: to, from };
      if (!await this.#claim(member, key, presence) || member.key === undefined) return;
      this.#cluster.release(member.key);
    }
    this.#renamed(member, to, key);
  }

  /** Gives `member` the name `to`, of key `key`, and tells everyone who shares a room. */
  #renamed(member: Member, to: string, key: string): void {
    const from = member.name!;
    this.#users.delete(member.key!);
    this.#users.set(key, member);
    member.name = to;
    member.key = key;
    member.arrival = ++this.#arrivals;
    if (member.peer instanceof RemotePeer) member.peer.key = key;
    this.#log("info", `${member.label} "${from}" is now "${to}"`);
    const audience = new Set<Member>([member]);
    for (const room of member.rooms.values()) {
      for (const other of room.members) audience.add(other);
    }
    this.#fanout.notify(audience, { type: "renamed", from, to, ts: new Date().toISOString() });
  }

  /**
   * Runs a password check for `member`, which its leaving cancels (a hash still waiting for its
   * turn is then skipped). Resolves with the guard's verdict, or undefined if the member left
   * meanwhile: then there is nobody to answer or record anything for.
   */
  async #check(
    member: Member,
    check: (signal: AbortSignal) => Promise<Verdict>,
  ): Promise<Verdict | undefined> {
    const checking = new AbortController();
    member.checking = checking;
    try {
      const verdict = await check(checking.signal);
      return this.#present(member) ? verdict : undefined;
    } finally {
      if (member.checking === checking) member.checking = undefined;
    }
  }

  /** Whether `member` is still here: it has not left, and the chat is not closed. */
  #present(member: Member): boolean {
    return this.#members.get(member.peer) === member;
  }

  #join(member: Member, roomName: string, history: number | undefined): void {
    const refusal = this.#rooms.refuseJoin(member, roomName);
    if (refusal !== undefined) return this.#reject(member, refusal.code, refusal.message);
    const { room, failure } = this.#rooms.open(roomName, member.ip);
    this.#enter(member, room, history, failure);
  }

  /**
   * Puts `member` in `room`: the others are told, the member gets the room's state and its
   * history. What is stored is replayed; what is still pending reaches the member live when it
   * is flushed, since it is a member by then: each message exactly once. `topicFailure` is why
   * the room's topic could not be read, if it could not: the member is told after `entered`.
   */
  #enter(
    member: Member,
    room: Room,
    history: number | undefined,
    topicFailure?: unknown,
  ): void {
    const others = someNames(room.members, this.#listBudget);
    if (room.members.size < LARGE_ROOM) {
      this.#fanout.notify(room.members, {
        type: "joined",
        room: room.name,
        name: member.name!,
        ts: new Date().toISOString(),
      });
    }
    room.members.add(member);
    room.arrivals.set(member, ++this.#arrivals);
    member.rooms.set(room.key, room);
    this.#announce(member);
    const entered: EnteredFrame = { type: "entered", room: room.name, users: others };
    if (room.topic !== undefined) {
      entered.topic = room.topic;
      if (room.topicSetter !== undefined) {
        entered.topicBy = room.topicSetter.by;
        entered.topicTs = room.topicSetter.ts;
      }
    }
    this.#send(member, entered);
    if (topicFailure !== undefined) {
      this.#storeFailed(
        [member],
        `reading the topic of #${room.name}`,
        topicFailure,
        `The topic of #${room.name} could not be read: the server's storage failed`,
      );
    }
    const limit = Math.min(history ?? this.#options.history, MAX_HISTORY_LIMIT);
    if (limit > 0) this.#sendHistory(member, room, limit, undefined);
  }

  /**
   * Sends a page of a room's history: up to `limit` messages, and no more than half a client's
   * queue, so that a replay of long messages cannot get its reader dropped as a slow consumer.
   * What is left out is marked with `more`, to page back to.
   */
  #sendHistory(member: Member, room: Room, limit: number, before: number | undefined): void {
    let page: HistoryPage;
    try {
      page = this.#store.history(room.key, limit, before);
    } catch (error) {
      return this.#storeFailed(
        [member],
        `reading the history of #${room.name}`,
        error,
        `The history of #${room.name} could not be read: the server's storage failed`,
      );
    }
    this.#send(member, historyFrame(room, page, this.#options.maxQueueBytes / 2));
  }

  /** Sends a page of the rooms, by folded name, from the first after `after`. */
  #listRooms(member: Member, after: string | undefined): void {
    if (after !== undefined) {
      const problem = roomProblem(after);
      if (problem !== undefined) return this.#reject(member, "invalid_room", problem);
    }
    this.#send(member, roomsPage(this.#rooms.from(after), this.#listBudget));
  }

  /** Sends a page of who is in a room, or on the server, in the order they arrived, from the
   * first who arrived after place `after`. */
  #who(member: Member, roomName: string | undefined, after: number | undefined): void {
    if (roomName === undefined) {
      const users = this.#users.values().map((user): [Member, number] => [user, user.arrival]);
      return this.#send(member, usersPage(users, after, this.#listBudget));
    }
    const room = this.#rooms.get(roomName);
    if (room === undefined) {
      return this.#reject(member, "no_such_room", `There is no room "${roomName}"`);
    }
    this.#send(member, usersPage(room.arrivals.entries(), after, this.#listBudget, room));
  }

  #leaveRoom(member: Member, room: Room, reason: LeaveReason): void {
    // What was sent to the room before the member left still reaches the member.
    this.#fanout.flush();
    const left: ServerFrame = {
      type: "left",
      room: room.name,
      name: member.name!,
      reason,
      ts: new Date().toISOString(),
    };
    room.members.delete(member);
    room.arrivals.delete(member);
    member.rooms.delete(room.key);
    if (reason === "part") this.#announce(member);
    if (reason === "part") this.#send(member, left);
    if (room.members.size < LARGE_ROOM) this.#fanout.broadcast(room.members, left);
    this.#rooms.vacated(room);
  }

  /** The folded form of `name` if `member` may take it; otherwise says why not and returns
   * undefined. A user may take a name that folds like their own (a change of case). */
  #claimableName(member: Member, name: string): string | undefined {
    const problem = nameProblem(name);
    if (problem !== undefined) {
      this.#reject(member, "invalid_name", problem);
      return undefined;
    }
    const key = foldName(name);
    const holder = this.#users.get(key);
    if (holder !== undefined && holder !== member) {
      this.#reject(member, "name_taken", `Name "${name}" is taken`);
      return undefined;
    }
    return key;
  }

  /** The room called `name` that `member` is in; otherwise says why not. */
  #memberRoom(member: Member, name: string): Room | undefined {
    const room = member.rooms.get(foldName(name));
    if (room === undefined) {
      this.#reject(member, "not_in_room", `You are not in room "${name}"`);
    }
    return room;
  }

  #send(member: Member, frame: ServerFrame): void {
    send(member.peer, frame);
  }

  /** Where a user of this node is, as the cluster keeps it. */
  #presence(member: Member): Presence {
    return {
      name: member.name!,
      node: this.#cluster!.node,
      ip: member.ip,
      rooms: [...member.rooms.values()].map((room) => room.name),
    };
  }

  /** Tells the cluster which rooms a user of this node is in now. */
  #announce(member: Member): void {
    if (this.#cluster === undefined || member.peer instanceof RemotePeer) return;
    this.#cluster.announce(member.key!, this.#presence(member));
  }

  /**
   * Claims the name of key `key` across the cluster for `member`; says why not and resolves
   * false if it cannot (taken on another node, NATS out of reach, or the member left meanwhile).
   */
  async #claim(member: Member, key: string, presence: Presence): Promise<boolean> {
    let claimed: boolean;
    try {
      claimed = await this.#cluster!.claim(key, presence);
    } catch (error) {
      this.#storeFailed(
        [member],
        `claiming "${presence.name}"`,
        error,
        "Your name could not be claimed",
      );
      return false;
    }
    if (!claimed) this.#reject(member, "name_taken", `Name "${presence.name}" is taken`);
    else if (!this.#present(member)) this.#cluster!.release(key);
    else return true;
    return false;
  }

  /** Sends a private message to a user of another node, through it. */
  async #sendRemote(member: Member, target: Member, frame: PrivateFrame): Promise<void> {
    const peer = target.peer as RemotePeer;
    if (!await this.#cluster!.request(peer.node, { op: "private", to: peer.key, frame })) {
      this.#reject(member, "no_such_user", `Nobody here is called "${frame.to}"`);
    }
  }

  /** What this chat does with what the cluster sends. */
  #clusterHandlers(cluster: ClusterLink): ClusterHandlers {
    const local = (key: string) => {
      const member = this.#users.get(key);
      return member?.peer instanceof RemotePeer ? undefined : member;
    };
    return {
      message: (frame, origin) => {
        const at = origin.indexOf(":");
        const sender = origin.slice(0, at) === cluster.node
          ? local(origin.slice(at + 1))
          : undefined;
        const room = this.#rooms.get(frame.room) ??
          new Room(frame.room, foldName(frame.room), undefined, undefined, undefined);
        this.#fanout.arrived({ room, sender, frame });
      },
      presence: (key, presence) => this.#remotePresence(cluster, key, presence),
      private: (to, frame) => {
        const member = local(to);
        if (member !== undefined) this.#send(member, frame);
        return member !== undefined;
      },
      close: (to, reason, message) => {
        const member = local(to);
        member?.peer.close(reason, message);
        return member !== undefined;
      },
      restored: () => {
        for (const member of this.#users.values()) this.#announce(member);
      },
      topic: (key, { topic, by, ts }) => {
        const room = this.#rooms.get(key);
        if (room === undefined) return;
        room.topic = topic === "" ? undefined : topic;
        room.topicSetter = topic === "" ? undefined : { by, ts };
        this.#fanout.notify(room.members, { type: "topic", room: room.name, topic, by, ts });
      },
      bans: () => this.#guard.bans.reload(),
    };
  }

  /** Brings a user of another node up to date: arrived, renamed, in other rooms, or gone. */
  #remotePresence(cluster: ClusterLink, key: string, presence: Presence | undefined): void {
    const member = this.#users.get(key);
    if (presence?.node === cluster.node) {
      // This node's own, unless another took its users out, having lost its heartbeat.
      if (
        presence.by !== undefined && member !== undefined && !(member.peer instanceof RemotePeer)
      ) {
        member.peer.close(
          "cluster_unavailable",
          "This server lost touch with the cluster, which took its users out; connect again",
        );
      }
      return;
    }
    if (member !== undefined && !(member.peer instanceof RemotePeer)) return;
    if (presence === undefined || presence.gone !== undefined) {
      if (member === undefined) return;
      this.#users.delete(key);
      for (const room of member.rooms.values()) {
        this.#leaveRoom(member, room, presence?.gone ?? "disconnected");
      }
      return;
    }
    let user = member;
    if (user === undefined) {
      const before = presence.from && this.#users.get(foldName(presence.from));
      if (before && before.peer instanceof RemotePeer && before.peer.node === presence.node) {
        this.#renamed(before, presence.name, key);
        user = before;
      } else {
        user = new Member(new RemotePeer(cluster, this.#log, presence.node, presence.ip, key));
        user.name = presence.name;
        user.key = key;
        user.arrival = ++this.#arrivals;
        this.#users.set(key, user);
      }
    }
    const rooms = new Set(presence.rooms.map((name) => foldName(name)));
    for (const room of [...user.rooms.values()]) {
      if (!rooms.has(room.key)) this.#leaveRoom(user, room, "part");
    }
    for (const name of presence.rooms) {
      if (!user.rooms.has(foldName(name))) this.#enter(user, this.#rooms.open(name).room, 0);
    }
  }

  #reject(member: Member, code: ErrorCode, message: string): void {
    this.#log("info", `${member.label} refused: ${code}: ${message}`);
    this.#send(member, { type: "error", code, message });
  }

  /**
   * Charges the text of a frame the chat is about to store or pass on to the member's byte
   * rates; if they have too little, refuses it with `rate_limited` (unlogged: a flood would
   * flood the log) and returns false. Frames refused for any other reason cost nothing.
   */
  #charge(member: Member, frame: ChatFrame, bytes: number): boolean {
    const refusal = member.peer.charge?.(byteCost(frame.type, bytes));
    if (refusal === undefined) return true;
    this.#send(member, { type: "error", code: "rate_limited", message: refusal });
    return false;
  }

  /**
   * Answers each of `askers` still here with `store_failed` after the store threw `error` while
   * `what`. The cause is logged in one line: by the store, for the failures it reports (a
   * {@linkcode StoreError}, logged once per cause in a while), or here, for anything else.
   */
  #storeFailed(askers: Iterable<Member>, what: string, error: unknown, message: string): void {
    if (!(error instanceof StoreError)) this.#log("error", `${what} failed: ${error}`);
    const out = Outgoing.of(
      error instanceof UnavailableError
        ? { type: "error", code: "cluster_unavailable", message: `${message}: ${error.message}` }
        : { type: "error", code: "store_failed", message },
    );
    deliverEach(askers, (member) => !this.#present(member) || member.peer.deliver(out));
  }

  /** Answers a frame whose handling threw: `store_failed` if the store failed, otherwise
   * `internal_error`. The connection stays open; the cause is logged in one line. */
  #failed(member: Member, frame: ChatFrame, error: unknown): void {
    if (isStoreFailure(error)) {
      return this.#storeFailed(
        [member],
        `${member.label} "${frame.type}"`,
        error,
        `Your "${frame.type}" failed: the server's storage failed`,
      );
    }
    this.#log("error", `${member.label} "${frame.type}" failed: ${error}`);
    if (error instanceof Error && error.stack) this.#log("debug", error.stack);
    if (!this.#present(member)) return;
    this.#send(member, {
      type: "error",
      code: "internal_error",
      message: `The server failed to handle your "${frame.type}"; its log says why`,
    });
  }

  #prune(): void {
    try {
      const removed = this.#store.prune(this.#options.retention);
      if (removed > 0) this.#log("info", `pruned ${removed} message(s) past retention`);
    } catch (error) {
      // The store logs its own failures.
      if (!(error instanceof StoreError)) this.#log("error", `pruning history failed: ${error}`);
    }
  }
}

/** Whether `error` is the store's: a {@linkcode StoreError}, or an SQLite error it let through. */
function isStoreFailure(error: unknown): boolean {
  return error instanceof StoreError ||
    (error instanceof Error && (error as { code?: unknown }).code === "ERR_SQLITE_ERROR");
}

/** How many characters (code points) `text` holds. */
function codePoints(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}
