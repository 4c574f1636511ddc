// What operators may do: kick a user, ban and unban names and addresses, and see the server's
// figures. The chat checks that the asker is an operator and sends the answer; this carries the
// command out.

import type { Guard, Refusal } from "./guard.ts";
import type { Logger } from "./log.ts";
import type { Member } from "./member.ts";
import { type ClientFrame, foldName, type NoticeFrame, type StatsFrame } from "../protocol.ts";

/** The operators' frames. */
export type ModerationFrame = Extract<ClientFrame, { type: "kick" | "ban" | "unban" | "stats" }>;

/** What moderation needs to know of the chat. */
export interface ModerationOptions {
  guard: Guard;
  log: Logger;
  /** Joined users by folded name. */
  users: ReadonlyMap<string, Member>;
  /** How many rooms exist, for `stats`. */
  roomCount: () => number;
  /** How many connections are open, for `stats`. */
  connectionCount: () => number;
}

/** Operators' commands, and the count of room messages that `stats` reports. */
export class Moderation {
  #options: ModerationOptions;
  #started = performance.now();
  /** Room messages in each of the last 60 seconds, for `stats`. */
  #perSecond = new Array<number>(60).fill(0);
  #second = 0;

  constructor(options: ModerationOptions) {
    this.#options = options;
  }

  /** Counts a room message in the current second. */
  countMessage(): void {
    const second = Math.floor(performance.now() / 1000);
    for (let s = Math.max(this.#second + 1, second - 59); s <= second; s++) {
      this.#perSecond[s % 60] = 0;
    }
    this.#second = second;
    this.#perSecond[second % 60]!++;
  }

  /**
   * Carries out `frame` for `member`, an operator going by `operator`: returns the answer to
   * send it, or why not.
   */
  run(
    member: Member,
    operator: string,
    frame: ModerationFrame,
  ): NoticeFrame | StatsFrame | Refusal {
    const { guard, log, users } = this.#options;
    const done = (text: string): NoticeFrame => {
      log("info", `${member.label} operator "${operator}": ${text}`);
      return { type: "notice", text };
    };
    switch (frame.type) {
      case "kick": {
        const target = users.get(foldName(frame.name));
        if (target === undefined) {
          return { code: "no_such_user", message: `Nobody here is called "${frame.name}"` };
        }
        const reason = frame.reason ?? "no reason given";
        target.peer.close("kicked", `Kicked by ${operator}: ${reason}`);
        return done(`Kicked ${target.name ?? frame.name} (${reason})`);
      }
      case "ban": {
        const reason = frame.reason ?? "no reason given";
        const ban = guard.bans.add(operator, frame.target, frame.duration, reason);
        if (!("kind" in ban)) return ban;
        const message = banMessage(ban.until, reason);
        for (const user of [...users.values()]) {
          if (guard.bans.covers(ban, user)) user.peer.close("banned", message);
        }
        const target = ban.kind === "ip" ? ban.value : frame.target;
        return done(`Banned ${target} ${ban.until ? `until ${ban.until}` : "for good"}`);
      }
      case "unban":
        if (!guard.bans.lift(frame.target)) {
          return { code: "no_such_ban", message: `"${frame.target}" is not banned` };
        }
        return done(`Unbanned ${frame.target}`);
      case "stats":
        return {
          type: "stats",
          connections: this.#options.connectionCount(),
          users: users.size,
          rooms: this.#options.roomCount(),
          messagesPerSecond: this.#perSecond.reduce((sum, count) => sum + count, 0) / 60,
          memoryBytes: Deno.memoryUsage().rss,
          uptimeSeconds: Math.round((performance.now() - this.#started) / 1000),
        };
      default:
        return frame satisfies never;
    }
  }
}

/** What a banned user is told. */
export function banMessage(until: string | undefined, reason: string): string {
  return `You are banned ${until ? `until ${until}` : "for good"}: ${reason}`;
}
