// NDJSON over TCP or TLS: the way in that Parley's own client uses. Each line is one frame,
// decoded here; what it means is for connections.ts and the chat. Reading, writing and closing
// are lines.ts's, shared with plain text.

import type { Connections } from "./connections.ts";
import { LineAdapter, type LineOptions, type LineSession } from "./lines.ts";
import { decodeClientFrame } from "../protocol.ts";

/** How the NDJSON adapter works. */
export type NdjsonOptions = LineOptions;

/** Serves NDJSON connections: reads their lines, hands the frames to the connections. */
export class NdjsonAdapter extends LineAdapter {
  constructor(connections: Connections, options: NdjsonOptions) {
    const session: LineSession = {
      encode: (out) => out.bytes,
      input: (conn) => conn,
      start: () => {},
      line: (line, connection) =>
        connections.receive(connection, decodeClientFrame(line), line.length),
    };
    super(connections, options, () => session);
  }
}
