// The chat itself, apart from sockets: users and their names, rooms and their members, private
// messages, and history. The server hands it each decoded frame with the member that sent it;
// it answers by queueing encoded frames on members. Room messages are stored before anyone
// receives them: they collect for one event-loop turn, are written in one transaction, then
// fanned out, each encoded once for all its recipients.

import { clearImmediate, setImmediate } from "node:timers";
import type { Guard } from "./guard.ts";
import type { Logger } from "./log.ts";
import {
  type HistoryPage,
  type RetentionPolicy,
  type RoomMessage,
  type Store,
  StoreError,
} from "./store.ts";
import { concat } from "../_net/framing.ts";
import {
  byteCost,
  type ClientFrame,
  encodeFrame,
  type ErrorCode,
  foldName,
  type HelloFrame,
  type LeaveReason,
  MAX_HISTORY_LIMIT,
  MAX_TOPIC_LENGTH,
  type MessageFrame,
  nameProblem,
  PROTOCOL_VERSION,
  type RoomInfo,
  roomProblem,
  type RoomsFrame,
  type ServerFrame,
  type UsersFrame,
  type WelcomeFrame,
} from "../protocol.ts";
import { VERSION } from "../_protocol/version.ts";

/**
 * A room this big no longer announces every join and leave to everyone (a room of n members
 * churning would cost n notices per change, n² in all), and lists only this many members on
 * entering; `who` still lists them all, page by page.
 */
export const LARGE_ROOM = 500;

/** The most entries in one page of `rooms` or `who`. */
export const LIST_PAGE_ITEMS = 1000;

/**
 * The most bytes of entries in one page of `rooms` or `who`, and in the names `welcome` and
 * `entered` list; never more than a quarter of a client's queue bound either. An answer that
 * passed the asker's queue bound would get the asker dropped as a slow consumer.
 */
export const LIST_PAGE_BYTES = 64 * 1024;

/** The most rooms one user may be in at once. */
export const MAX_ROOMS_PER_USER = 100;

/** The frames the chat handles: all but the connection's own `ping` and `pong`. */
export type ChatFrame = Exclude<ClientFrame, { type: "ping" | "pong" }>;

/** The most messages stored in one transaction: a larger batch is written at once, so that a
 * burst reaches recipients in pieces their queues can hold. */
const MAX_BATCH = 256;

/** How often old history is pruned when a retention policy is set. */
const PRUNE_INTERVAL_MS = 10 * 60 * 1000;

/** A connection as the chat sees it: who it is, where it is, and how to reach it. */
export class Member {
  /** Its name once `hello` has succeeded. */
  name: string | undefined;
  /** Its folded name, the key in the chat's user table. */
  key: string | undefined;
  /** The registered name (by key) whose password it has given. */
  proven: string | undefined;
  /** False once the connection is ending: work finishing after an `await` must check. */
  open = true;
  /** When it last asked to register a name. */
  registeredAt = -Infinity;
  /** Its place in the order users arrived (a new name counts as arriving again): where a page
   * of `who` ends. */
  arrival = 0;
  /** The rooms it is in, by key. */
  readonly rooms = new Map<string, Room>();
  /** Takes `cost` bytes from the connection's byte rates for text it sends; says why not if it
   * may not send them now. The server sets it; by default nothing is counted. */
  charge: (cost: number) => string | undefined = () => undefined;

  constructor(
    /** The peer's IP address. */
    readonly ip: string,
    /** The peer's address and port, for log lines. */
    readonly label: string,
    /** Queues bytes for the peer; false if its queue is full. */
    readonly deliver: (bytes: Uint8Array) => boolean,
    /** Closes the connection, first sending `error` with `reason` as its code if a `message`
     * is given; the server then calls {@linkcode Chat.leave}. */
    readonly drop: (reason: LeaveReason, message?: string) => void,
  ) {}
}

/** A room, who is in it, and who made it. */
export class Room {
  readonly members = new Set<Member>();
  /** Each member's place in the order they entered: where a page of `who` ends. */
  readonly arrivals = new Map<Member, number>();
  constructor(
    readonly name: string,
    readonly key: string,
    public topic: string | undefined,
    /** The address that made the room by joining it; none for the default and fixed rooms. */
    readonly creator: string | undefined,
  ) {}
}

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
}

interface Pending {
  room: Room;
  sender: Member;
  frame: MessageFrame;
}

/** Users, rooms and messages. */
export class Chat {
  #options: ChatOptions;
  #store: Store;
  #log: Logger;
  /** Joined users by folded name, in the order they joined. */
  #users = new Map<string, Member>();
  /** Rooms with members, and the fixed rooms, by folded name. */
  #rooms = new Map<string, Room>();
  /** The rooms sorted by key, for paging `rooms`; made again after a room comes or goes. */
  #roomOrder: Room[] | undefined;
  /** How many of the rooms each address made. */
  #roomsPerIp = new Map<string, number>();
  /** Counts arrivals, of users and in rooms: the places `who` pages by. */
  #arrivals = 0;
  /** The bytes a page of a list may take. */
  #listBudget: number;
  #nextMessageId: number;
  #pending: Pending[] = [];
  #flushTimer: ReturnType<typeof setImmediate> | undefined;
  #pruneTimer: ReturnType<typeof setInterval> | undefined;
  #guard: Guard;
  #started = performance.now();
  /** Room messages in each of the last 60 seconds, for `stats`. */
  #perSecond = new Array<number>(60).fill(0);
  #second = 0;

  constructor(options: ChatOptions) {
    this.#options = options;
    this.#store = options.store;
    this.#log = options.log;
    this.#guard = options.guard;
    this.#listBudget = Math.min(LIST_PAGE_BYTES, options.maxQueueBytes / 4);
    this.#nextMessageId = this.#store.lastMessageId() + 1;
    if (options.fixedRooms !== undefined) {
      for (const name of [options.defaultRoom, ...options.fixedRooms]) {
        const { failure } = this.#room(name);
        if (failure !== undefined) throw failure;
      }
    }
    const { days, messagesPerRoom } = options.retention;
    if (days !== undefined || messagesPerRoom !== undefined) {
      this.#prune();
      this.#pruneTimer = setInterval(() => this.#prune(), PRUNE_INTERVAL_MS);
    }
  }

  /** How many users have joined. */
  get userCount(): number {
    return this.#users.size;
  }

  /**
   * Handles one frame from `member`, `bytes` long as it came (without its newline): text that
   * is sent on is charged to the member (see {@linkcode byteCost}). Checking a password takes
   * time: then it returns a promise, and the member's next frame should wait for it. Never
   * throws: a frame whose handling fails is answered with `store_failed` (storage failed) or
   * `internal_error`, and the connection stays open.
   */
  receive(member: Member, frame: ChatFrame, bytes = 0): void | Promise<void> {
    try {
      const handling = this.#handle(member, frame, bytes);
      if (handling instanceof Promise) {
        return handling.catch((error) => this.#failed(member, frame, error));
      }
    } catch (error) {
      this.#failed(member, frame, error);
    }
  }

  #handle(member: Member, frame: ChatFrame, bytes: number): void | Promise<void> {
    if (frame.type === "hello") return this.#hello(member, frame);
    if (frame.type === "quit") return member.drop("quit");
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
          id: this.#nextMessageId++,
          room: room.name,
          from: name,
          text: frame.text,
          ts: new Date().toISOString(),
        };
        if (frame.action) message.action = true;
        this.#count();
        return this.#queue({ room, sender: member, frame: message });
      }
      case "msg": {
        const target = this.#users.get(foldName(frame.to));
        if (target === undefined) {
          return this.#reject(member, "no_such_user", `Nobody here is called "${frame.to}"`);
        }
        if (!this.#charge(member, frame, bytes)) return;
        return this.#send(target, {
          type: "private",
          from: name,
          to: target.name!,
          text: frame.text,
          ts: new Date().toISOString(),
        });
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
        try {
          this.#store.setTopic(room.key, frame.topic);
        } catch (error) {
          return this.#storeFailed(
            [member],
            `storing the topic of #${room.name}`,
            error,
            `The topic of #${room.name} could not be stored, so it is unchanged`,
          );
        }
        room.topic = frame.topic === "" ? undefined : frame.topic;
        return this.#notify(room.members, {
          type: "topic",
          room: room.name,
          topic: frame.topic,
          by: name,
          ts: new Date().toISOString(),
        });
      }
      case "history": {
        const room = this.#memberRoom(member, frame.room);
        if (room === undefined) return;
        // Messages accepted but not yet stored belong in the answer too.
        this.#flush();
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
      case "stats":
        if (!this.#guard.isOperator(member, name)) {
          return this.#reject(member, "not_operator", `Only operators may ${frame.type}`);
        }
        return this.#moderate(member, name, frame);
      default:
        frame satisfies never;
    }
  }

  /** Takes `member` out of the chat, telling everyone who shared a room with it why. */
  leave(member: Member, reason: LeaveReason): void {
    if (member.key === undefined) return;
    this.#users.delete(member.key);
    this.#log("info", `${member.label} "${member.name}" left: ${reason}`);
    for (const room of member.rooms.values()) this.#leaveRoom(member, room, reason);
  }

  /** Stores and delivers what is pending, stops pruning; the store is the caller's to close. */
  close(): void {
    this.#flush();
    clearInterval(this.#pruneTimer);
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
    const ban = this.#guard.banOn(member, name);
    if (ban !== undefined) return member.drop("banned", banMessage(ban.until, ban.reason));
    const refusal = await this.#guard.admit(member, name, frame);
    if (!member.open) return;
    if (refusal !== undefined) return this.#reject(member, refusal.code, refusal.message);
    // Checked again: the name may have been taken while the password was checked.
    const key = this.#claimableName(member, name);
    if (key === undefined || member.name !== undefined) return;
    if (this.#users.size >= this.#options.maxUsers) {
      return member.drop("server_full", `The server is full (${this.#options.maxUsers} users)`);
    }
    member.name = name;
    member.key = key;
    member.arrival = ++this.#arrivals;
    this.#users.set(key, member);
    this.#log("info", `${member.label} joined as "${name}"`);
    const { room: lobby, failure } = this.#room(this.#options.defaultRoom);
    const welcome: WelcomeFrame = {
      type: "welcome",
      name,
      users: this.#someNames(lobby.members),
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
    const refusal = await this.#guard.register(member, name, password, token);
    if (!member.open) return;
    if (refusal !== undefined) return this.#reject(member, refusal.code, refusal.message);
    this.#log("info", `${member.label} registered "${name}"`);
    this.#send(member, {
      type: "notice",
      text: `Name "${name}" is registered to you: from now on it needs your password`,
    });
  }

  #moderate(
    member: Member,
    operator: string,
    frame: Extract<ChatFrame, { type: "kick" | "ban" | "unban" | "stats" }>,
  ): void {
    const done = (text: string) => {
      this.#log("info", `${member.label} operator "${operator}": ${text}`);
      this.#send(member, { type: "notice", text });
    };
    switch (frame.type) {
      case "kick": {
        const target = this.#users.get(foldName(frame.name));
        if (target === undefined) {
          return this.#reject(member, "no_such_user", `Nobody here is called "${frame.name}"`);
        }
        const reason = frame.reason ?? "no reason given";
        target.drop("kicked", `Kicked by ${operator}: ${reason}`);
        return done(`Kicked ${target.name ?? frame.name} (${reason})`);
      }
      case "ban": {
        const reason = frame.reason ?? "no reason given";
        const ban = this.#guard.ban(operator, frame.target, frame.duration, reason);
        if (!("kind" in ban)) return this.#reject(member, ban.code, ban.message);
        const message = banMessage(ban.until, reason);
        for (const user of [...this.#users.values()]) {
          if (this.#guard.covers(ban, user)) {
            user.drop("banned", message);
          }
        }
        const target = ban.kind === "ip" ? ban.value : frame.target;
        return done(`Banned ${target} ${ban.until ? `until ${ban.until}` : "for good"}`);
      }
      case "unban":
        if (!this.#guard.unban(frame.target)) {
          return this.#reject(member, "no_such_ban", `"${frame.target}" is not banned`);
        }
        return done(`Unbanned ${frame.target}`);
      case "stats":
        return this.#send(member, {
          type: "stats",
          connections: this.#options.connectionCount(),
          users: this.#users.size,
          rooms: this.#rooms.size,
          messagesPerSecond: this.#perSecond.reduce((sum, count) => sum + count, 0) / 60,
          memoryBytes: Deno.memoryUsage().rss,
          uptimeSeconds: Math.round((performance.now() - this.#started) / 1000),
        });
      default:
        frame satisfies never;
    }
  }

  /** Counts a room message in the current second. */
  #count(): void {
    const second = Math.floor(performance.now() / 1000);
    for (let s = Math.max(this.#second + 1, second - 59); s <= second; s++) {
      this.#perSecond[s % 60] = 0;
    }
    this.#second = second;
    this.#perSecond[second % 60]!++;
  }

  #join(member: Member, roomName: string, history: number | undefined): void {
    const problem = roomProblem(roomName);
    if (problem !== undefined) return this.#reject(member, "invalid_room", problem);
    const key = foldName(roomName);
    if (member.rooms.has(key)) {
      return this.#reject(member, "already_in_room", `You are in "${roomName}" already`);
    }
    if (this.#options.fixedRooms !== undefined && !this.#rooms.has(key)) {
      return this.#reject(
        member,
        "no_such_room",
        `There is no room "${roomName}"; rooms: ${this.#options.fixedRooms.join(", ")}`,
      );
    }
    if (member.rooms.size >= MAX_ROOMS_PER_USER) {
      return this.#reject(
        member,
        "too_many_rooms",
        `You are in ${MAX_ROOMS_PER_USER} rooms, the most there may be; part one first`,
      );
    }
    if (!this.#rooms.has(key)) {
      if (this.#rooms.size >= this.#options.maxRooms) {
        return this.#reject(
          member,
          "too_many_rooms",
          `The server has ${this.#rooms.size} rooms, the most there may be; join one of them`,
        );
      }
      const made = this.#roomsPerIp.get(member.ip) ?? 0;
      if (made >= this.#options.maxRoomsPerIp) {
        return this.#reject(
          member,
          "too_many_rooms",
          `Your address has made ${made} rooms that still exist, the most it may; join one ` +
            "that exists, or wait until one of yours is empty",
        );
      }
    }
    const { room, failure } = this.#room(roomName, member.ip);
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
    const others = this.#someNames(room.members);
    if (room.members.size < LARGE_ROOM) {
      this.#notify(room.members, {
        type: "joined",
        room: room.name,
        name: member.name!,
        ts: new Date().toISOString(),
      });
    }
    room.members.add(member);
    room.arrivals.set(member, ++this.#arrivals);
    member.rooms.set(room.key, room);
    this.#send(
      member,
      room.topic === undefined
        ? { type: "entered", room: room.name, users: others }
        : { type: "entered", room: room.name, users: others, topic: room.topic },
    );
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
    // Newest first, so that what is left out is the oldest.
    const fit = fill(page.messages.toReversed(), this.#options.maxQueueBytes / 2);
    this.#send(member, {
      type: "history",
      room: room.name,
      messages: fit.taken.reverse(),
      more: page.more || fit.more,
    });
  }

  /** Sends a page of the rooms, by folded name, from the first after `after`. */
  #listRooms(member: Member, after: string | undefined): void {
    if (after !== undefined) {
      const problem = roomProblem(after);
      if (problem !== undefined) return this.#reject(member, "invalid_room", problem);
    }
    this.#roomOrder ??= [...this.#rooms.values()].sort((a, b) => compare(a.key, b.key));
    const order = this.#roomOrder;
    let start = 0;
    if (after !== undefined) {
      // The first room whose key sorts after that of `after`.
      const key = foldName(after);
      for (let end = order.length; start < end;) {
        const middle = (start + end) >>> 1;
        if (compare(order[middle]!.key, key) <= 0) start = middle + 1;
        else end = middle;
      }
    }
    const fit = fill(
      order.values().drop(start).map((room): RoomInfo =>
        room.topic === undefined
          ? { name: room.name, users: room.members.size }
          : { name: room.name, users: room.members.size, topic: room.topic }
      ),
      this.#listBudget,
      LIST_PAGE_ITEMS,
    );
    const frame: RoomsFrame = { type: "rooms", rooms: fit.taken };
    if (fit.more) {
      frame.more = true;
      frame.next = fit.taken.at(-1)!.name;
    }
    this.#send(member, frame);
  }

  /** Sends a page of who is in a room, or on the server, in the order they arrived, from the
   * first who arrived after place `after`. */
  #who(member: Member, roomName: string | undefined, after: number | undefined): void {
    let present: IteratorObject<[Member, number], unknown>;
    let room: Room | undefined;
    if (roomName === undefined) {
      present = this.#users.values().map((user) => [user, user.arrival]);
    } else {
      room = this.#rooms.get(foldName(roomName));
      if (room === undefined) {
        return this.#reject(member, "no_such_room", `There is no room "${roomName}"`);
      }
      present = room.arrivals.entries();
    }
    // Both are in the order of arrival.
    const fit = fill(
      after === undefined ? present : present.filter(([, place]) => place > after),
      this.#listBudget,
      LIST_PAGE_ITEMS,
      ([user]) => user.name!,
    );
    const frame: UsersFrame = room === undefined
      ? { type: "users", users: fit.entries }
      : { type: "users", room: room.name, users: fit.entries };
    if (fit.more) {
      frame.more = true;
      frame.next = fit.taken.at(-1)![1];
    }
    this.#send(member, frame);
  }

  /** The names of up to {@linkcode LARGE_ROOM} of `members`, as many as fit a page. */
  #someNames(members: Iterable<Member>): string[] {
    return fill(members, this.#listBudget, LARGE_ROOM, (member) => member.name!).entries;
  }

  #leaveRoom(member: Member, room: Room, reason: LeaveReason): void {
    // What was sent to the room before the member left still reaches the member.
    this.#flush();
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
    if (reason === "part") this.#send(member, left);
    if (room.members.size < LARGE_ROOM) this.#broadcast(room.members, left);
    if (room.members.size === 0 && this.#options.fixedRooms === undefined) {
      this.#rooms.delete(room.key);
      this.#roomOrder = undefined;
      if (room.creator !== undefined) {
        const made = this.#roomsPerIp.get(room.creator)! - 1;
        if (made === 0) this.#roomsPerIp.delete(room.creator);
        else this.#roomsPerIp.set(room.creator, made);
      }
    }
  }

  async #rename(member: Member, to: string, password: string | undefined): Promise<void> {
    if (this.#claimableName(member, to) === undefined) return;
    const ban = this.#guard.banOn(member, to);
    if (ban !== undefined) return this.#reject(member, "banned", banMessage(ban.until, ban.reason));
    const refusal = await this.#guard.prove(member, to, password);
    if (!member.open || member.key === undefined) return;
    if (refusal !== undefined) return this.#reject(member, refusal.code, refusal.message);
    // Checked again: the name may have been taken while the password was checked.
    const key = this.#claimableName(member, to);
    if (key === undefined) return;
    const from = member.name!;
    this.#users.delete(member.key);
    this.#users.set(key, member);
    member.name = to;
    member.key = key;
    member.arrival = ++this.#arrivals;
    this.#log("info", `${member.label} "${from}" is now "${to}"`);
    const audience = new Set<Member>([member]);
    for (const room of member.rooms.values()) {
      for (const other of room.members) audience.add(other);
    }
    this.#notify(audience, { type: "renamed", from, to, ts: new Date().toISOString() });
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

  /** The room called `name`, made if need be, with its stored topic. */
  #room(name: string, creator?: string): { room: Room; failure?: unknown } {
    const key = foldName(name);
    let room = this.#rooms.get(key);
    if (room !== undefined) return { room };
    let topic: string | undefined;
    let failure: unknown;
    try {
      topic = this.#store.topic(key);
    } catch (error) {
      // The room is made without its topic; the member entering it is told.
      failure = error;
    }
    room = new Room(name, key, topic, creator);
    this.#rooms.set(key, room);
    this.#roomOrder = undefined;
    if (creator !== undefined) {
      this.#roomsPerIp.set(creator, (this.#roomsPerIp.get(creator) ?? 0) + 1);
    }
    return failure === undefined ? { room } : { room, failure };
  }

  // Room messages: queued, stored in one transaction per event-loop turn, then delivered.

  #queue(pending: Pending): void {
    this.#pending.push(pending);
    if (this.#pending.length >= MAX_BATCH) this.#flush();
    // setImmediate, not setTimeout(…, 0): in Deno a zero timeout waits a millisecond or two.
    else this.#flushTimer ??= setImmediate(() => this.#flush());
  }

  #flush(): void {
    if (this.#flushTimer !== undefined) clearImmediate(this.#flushTimer);
    this.#flushTimer = undefined;
    const batch = this.#pending;
    if (batch.length === 0) return;
    this.#pending = [];
    try {
      this.#store.append(batch.map(({ room, frame }): RoomMessage => {
        const { type: _, ...message } = frame;
        return { ...message, room: room.key };
      }));
    } catch (error) {
      // One error per message, to its sender.
      return this.#storeFailed(
        batch.map(({ sender }) => sender),
        `storing ${batch.length} message(s)`,
        error,
        "Your message could not be stored, so it was not sent",
      );
    }
    for (let start = 0, end = 1; start < batch.length; start = end++) {
      while (end < batch.length && batch[end]!.room === batch[start]!.room) end++;
      this.#broadcastRun(batch.slice(start, end));
    }
  }

  /**
   * Sends a run of messages to one room: encoded once and joined into one buffer that every
   * member shares, but their senders, who are not sent their own and get the others one by one.
   */
  #broadcastRun(run: Pending[]): void {
    const frames = run.map(({ frame }) => encodeFrame(frame));
    const all = frames.length === 1 ? frames[0]! : concat(frames);
    const senders = new Set(run.map(({ sender }) => sender));
    deliverEach(
      run[0]!.room.members,
      (member) =>
        senders.has(member)
          ? frames.every((bytes, i) => run[i]!.sender === member || member.deliver(bytes))
          : member.deliver(all),
    );
  }

  // Sending.

  /**
   * Sends a notice about a room (a join, a leave, a topic) after the messages still pending,
   * so that everyone sees events in the order they happened.
   */
  #notify(members: Iterable<Member>, frame: ServerFrame): void {
    this.#flush();
    this.#broadcast(members, frame);
  }

  /** Sends `frame` to each of `members`: encoded once, queued everywhere. */
  #broadcast(members: Iterable<Member>, frame: ServerFrame): void {
    const bytes = encodeFrame(frame);
    deliverEach(members, (member) => member.deliver(bytes));
  }

  #send(member: Member, frame: ServerFrame): void {
    if (!member.deliver(encodeFrame(frame))) dropSlow(member);
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
    const refusal = member.charge(byteCost(frame.type, bytes));
    if (refusal === undefined) return true;
    this.#send(member, { type: "error", code: "rate_limited", message: refusal });
    return false;
  }

  /**
   * Answers each of `askers` with `store_failed` after the store threw `error` while `what`.
   * The cause is logged in one line: by the store, for the failures it reports (a
   * {@linkcode StoreError}, logged once per cause in a while), or here, for anything else.
   */
  #storeFailed(askers: Iterable<Member>, what: string, error: unknown, message: string): void {
    if (!(error instanceof StoreError)) this.#log("error", `${what} failed: ${error}`);
    const bytes = encodeFrame({ type: "error", code: "store_failed", message });
    deliverEach(askers, (member) => !member.open || member.deliver(bytes));
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
    if (!member.open) return;
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

function banMessage(until: string | undefined, reason: string): string {
  return `You are banned ${until ? `until ${until}` : "for good"}: ${reason}`;
}

/** Calls `deliver` for each of `members`, then drops those whose queue it found full. */
function deliverEach(members: Iterable<Member>, deliver: (member: Member) => boolean): void {
  const behind: Member[] = [];
  for (const member of members) if (!deliver(member)) behind.push(member);
  for (const member of behind) dropSlow(member);
}

function dropSlow(member: Member): void {
  member.drop("slow_consumer", "You fell too far behind; closing the connection");
}

/** Whether `error` is the store's: a {@linkcode StoreError}, or an SQLite error it let through. */
function isStoreFailure(error: unknown): boolean {
  return error instanceof StoreError ||
    (error instanceof Error && (error as { code?: unknown }).code === "ERR_SQLITE_ERROR");
}

/**
 * Takes from `items`, in order, what fits in one page: at most `most` entries (made by `entry`)
 * of at most `budget` bytes in all as JSON, and always one at least, so that paging moves on.
 * Returns the items taken, their entries, and whether any were left out.
 */
function fill<T, E = T>(
  items: Iterable<T>,
  budget: number,
  most = Infinity,
  entry: (item: T) => E = (item) => item as unknown as E,
): { taken: T[]; entries: E[]; more: boolean } {
  const taken: T[] = [];
  const entries: E[] = [];
  let bytes = 0;
  for (const item of items) {
    if (taken.length >= most) return { taken, entries, more: true };
    const made = entry(item);
    // Each entry is followed by a comma in its array.
    bytes += utf8Length(JSON.stringify(made)) + 1;
    if (bytes > budget && taken.length > 0) return { taken, entries, more: true };
    taken.push(item);
    entries.push(made);
  }
  return { taken, entries, more: false };
}

/** The length of `text` in UTF-8, without encoding it. */
function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    // Two bytes for U+0080 to U+07FF, three up to U+FFFF; a surrogate pair, two units, is four.
    if (unit >= 0x80) bytes += unit < 0x800 || (unit >= 0xd800 && unit < 0xe000) ? 1 : 2;
  }
  return bytes;
}

/** How many characters (code points) `text` holds. */
function codePoints(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}

/** Orders strings by UTF-16 code units, as `<` does. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
