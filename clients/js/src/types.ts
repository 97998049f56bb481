/** A place in a stream (a channel's, or a user's inbox). */
export interface StreamPosition {
  /** The last publication's offset; offsets grow by exactly 1. */
  offset: number;
  /** The stream's epoch; it changes when the stream's continuity is lost. */
  epoch: string;
}

/** Who is behind a publication, a presence change or a direct message. */
export interface ClientInfo {
  user: string;
  client: string;
}

/**
 * A publication on a channel. `data` is the JSON value that was published,
 * or a Uint8Array for bytes that are not JSON (published by a Protobuf
 * client or the server API's `b64data`).
 */
export interface Publication {
  /** The channel it was published on. */
  channel: string;
  /** Its place in the channel's stream; 0 when the channel keeps no history. */
  offset: number;
  data: unknown;
  /** The publishing connection; absent when the server API published. */
  info?: ClientInfo;
  /** When the server received it, in Unix milliseconds. */
  ts: number;
}

/** A direct message to this connection's user (see `Herald.send`). */
export interface DirectMessage {
  /** The sender; user and client are "" when the server API sent it. */
  from: ClientInfo;
  data: unknown;
  /** Its place in the user's inbox. */
  offset: number;
  ts: number;
}

/** A presence entry: one connection in a channel. */
export interface PresenceEntry {
  user: string;
  /** The connection token's `info` claim, when it has one. */
  info?: unknown;
}

/** Counts of a channel's presence. */
export interface PresenceStats {
  clients: number;
  users: number;
}

/** Options of a history request. */
export interface HistoryOptions {
  /** At most this many publications (without it, everything retained). */
  limit?: number;
  /** Only publications after this position. */
  since?: StreamPosition;
  /** The newest first. */
  reverse?: boolean;
}

/** One page of a channel's history. */
export interface HistoryPage {
  publications: Publication[];
  /** The stream's current position. */
  offset: number;
  epoch: string;
  /**
   * The next page (the publications after this page's last), present when
   * this page is full: `limit` was given, `reverse` was not, and the page
   * holds `limit` publications.
   */
  next?: () => Promise<HistoryPage>;
}

/** Missed publications could not all be recovered: reload your state. */
export interface RecoveryLost {
  /** Where the client asked to resume. */
  since: StreamPosition;
  /** The stream's position now (what the client continues from). */
  position: StreamPosition;
}

/** A command as the JSON encoding shapes it (what a Codec encodes). */
export interface Command {
  id?: number;
  type: string;
  [field: string]: unknown;
}

/** A server message as the JSON encoding shapes it (what a Codec decodes). */
export interface ServerMessage {
  id?: number;
  type?: string;
  result?: any;
  error?: any;
  [field: string]: any;
}
