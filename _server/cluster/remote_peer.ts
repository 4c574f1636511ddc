// A user connected to another node of the cluster, as this node's chat holds them: in its user
// table and its rooms' member lists like anyone, so that names, `who` and member lists are the
// cluster's. Room traffic reaches them through their own node (it consumes the same stream and
// watches the same buckets), so delivering to them here does nothing; closing them asks their
// node to.

import type { ClusterLink } from "./link.ts";
import type { Logger } from "../log.ts";
import type { Peer } from "../peer.ts";
import type { LeaveReason } from "../../protocol.ts";

/** A user of another node. */
export class RemotePeer implements Peer {
  readonly label: string;
  #link: ClusterLink;
  #log: Logger;

  constructor(
    link: ClusterLink,
    log: Logger,
    /** The node they are connected to. */
    readonly node: string,
    readonly ip: string,
    /** Their folded name, by which their node knows them. */
    public key: string,
  ) {
    this.#link = link;
    this.#log = log;
    this.label = `${ip} (node ${node})`;
  }

  /** Does nothing: their own node delivers what they get. */
  deliver(): boolean {
    return true;
  }

  /** Asks their node to close them. */
  close(reason: LeaveReason, message?: string): void {
    this.#link.request(this.node, { op: "close", to: this.key, reason, message: message ?? "" })
      .catch((error) => this.#log("warn", `closing ${this.label} failed: ${error}`));
  }
}
