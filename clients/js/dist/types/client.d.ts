import { type Codec } from './codec.js';
import { Emitter } from './emitter.js';
import { type PositionStore } from './store.js';
import { Subscription, type SubscriptionOptions } from './subscription.js';
import { type EventSourceConstructor, type FetchLike, type StreamUrls, type TransportName } from './transport.js';
import type { DirectMessage, HistoryOptions, HistoryPage, PresenceEntry, PresenceStats, RecoveryLost, StreamPosition } from './types.js';
/** The part of the WebSocket API the client uses (the browser's, Node 22's, or the ws package's). */
export interface WebSocketLike {
    binaryType: string;
    readonly protocol: string;
    onopen: ((ev: any) => void) | null;
    onmessage: ((ev: any) => void) | null;
    onclose: ((ev: any) => void) | null;
    onerror: ((ev: any) => void) | null;
    send(data: string | Uint8Array): void;
    close(code?: number, reason?: string): void;
    /** The ws package's immediate close, used when the peer is unresponsive. */
    terminate?(): void;
}
/** A WebSocket constructor, such as the ws package's default export. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;
/** Options of {@link Herald}; every one is optional. */
export interface HeraldOptions {
    /** The connection token (JWT). Without it and getToken, the connection is anonymous. */
    token?: string;
    /**
     * Returns a fresh connection token from your backend. Called on the first
     * connect when `token` is not given, when the server asks for a refresh
     * (`refresh_needed`), and before reconnecting after the token expired
     * (close 4003, or an `expires` that has passed).
     */
    getToken?: () => string | Promise<string>;
    /** The application's name and version, shown to the server. */
    name?: string;
    version?: string;
    /** The WebSocket implementation. Default: the global WebSocket (browsers, Node 22). On Node 20 pass the ws package's. */
    WebSocket?: WebSocketConstructor;
    /** The wire encoding. Default JSON; see `@heraldhq/client/protobuf`. */
    codec?: Codec;
    /**
     * The transports to try, in order. Default `['websocket', 'http_stream',
     * 'sse']`. One that fails before its connect reply is skipped for the
     * next; the client stays on the one that connected for its reconnects,
     * and starts from the first again after failing with the last. One this
     * runtime lacks (no WebSocket, fetch or EventSource) is left out, and so
     * is `sse` with a binary codec.
     */
    transports?: TransportName[];
    /** The stream transports' endpoints; each defaults to one derived from url (`/ws` → `/stream`, `/sse`, `/sse/cmd`). */
    urls?: Partial<StreamUrls>;
    /** The fetch implementation of `http_stream` and of the stream transports' commands. Default: the global fetch. */
    fetch?: FetchLike;
    /** The EventSource implementation of `sse`. Default: the global EventSource (browsers). */
    EventSource?: EventSourceConstructor;
    /** How long a call waits for its reply (and for a connection, when queued), in ms; also bounds the connect round trip. Default 10000. */
    timeout?: number;
    /** The first reconnect delay's ceiling, in ms. Default 200. */
    minReconnectDelay?: number;
    /** The largest reconnect delay, in ms. Default 20000. */
    maxReconnectDelay?: number;
    /** How long past the server's ping interval the client waits before it treats the connection as dead, in ms. Default 5000. */
    pingMargin?: number;
    /** How many temporary failures in a row a resubscribe tolerates before the recovery is reported lost. Default 5. */
    recoveryRetries?: number;
    /** How many calls may wait for a connection while the client is connecting; past it calls fail with QUEUE_FULL. Default 100. */
    maxQueued?: number;
    /**
     * Where the inbox position is kept between visits, so that direct messages
     * sent while the user was away arrive on the next connect. Default
     * localStorage in browsers, memory elsewhere; null keeps none.
     */
    inboxStore?: PositionStore | null;
}
/** The client's state. */
export type State = 'disconnected' | 'connecting' | 'connected';
/** The `connected` event. */
export interface ConnectedEvent {
    /** The connection's id. */
    client: string;
    /** The user ("" when anonymous). */
    user: string;
    /** When the token expires, in Unix seconds; absent without `exp`. */
    expires?: number;
}
/** The `disconnected` event: a connection ended, or the client stopped. */
export interface DisconnectedEvent {
    /** The close code; 0 when the connection ended without one (network error, missed heartbeat, malformed frame, failed token fetch). */
    code: number;
    reason: string;
    /** Whether the client will reconnect by itself. */
    reconnect: boolean;
}
/** The `connecting` event: an attempt starts after `delay` ms. */
export interface ConnectingEvent {
    /** Failed attempts in a row so far. */
    attempt: number;
    delay: number;
}
/** Events of {@link Herald}. */
export interface HeraldEvents {
    connecting: ConnectingEvent;
    connected: ConnectedEvent;
    disconnected: DisconnectedEvent;
    /** A direct message, the ones recovered from the inbox first; each once, in order. */
    direct: DirectMessage;
    /** Direct messages sent while the client was away could not all be recovered. */
    inboxLost: RecoveryLost;
    /** A subscription the server made (token `subs` claim, server API); attach listeners here. */
    subscription: Subscription;
    /** Something went wrong that no call reports: a token fetch, a refresh, a malformed frame. */
    error: Error;
}
/**
 * Herald is a client of a Herald server: one logical session kept alive
 * over as many connections as it takes (WebSocket, or the HTTP fallbacks
 * where no WebSocket gets through). It reconnects with
 * backoff as the close code says, resubscribes every channel from its last
 * position in the connect command, and delivers each publication of a
 * channel with history exactly once and in order, or says it cannot
 * (`recoveryLost`).
 *
 * ```js
 * const herald = new Herald('wss://example.com/ws', { getToken });
 * const room = herald.newSubscription('chat:lobby');
 * room.on('message', (m) => console.log(m.data));
 * room.subscribe();
 * herald.connect();
 * ```
 */
export declare class Herald extends Emitter<HeraldEvents> {
    /** The server's WebSocket URL (ws:// or wss://, path /ws). */
    readonly url: string;
    private o;
    private transports;
    /** The index in transports of the one to try next (or connected over). */
    private ti;
    private urls;
    /** Whether the connection that is ending was opened (not a failed token fetch). */
    private opened;
    private _transport;
    private getToken?;
    private token?;
    private tokenStale;
    private store;
    private _state;
    private _client;
    private _user;
    private expires;
    private ws;
    /** The backoff count: failed attempts, and short connections ended with a backoff code, in a row. */
    private attempt;
    /** When the current connection's connect succeeded (Date.now()). */
    private liveSince;
    private nextId;
    private pending;
    private queue;
    private outbox;
    private flushing;
    private pushed?;
    private connectError?;
    private retryTimer?;
    private connectTimer?;
    private watchdog?;
    private heard;
    private pingMs;
    private inbox;
    private inboxUser;
    constructor(url: string, options?: HeraldOptions);
    /** The client's state. */
    get state(): State;
    /** The transport of the current (or last) connection; "" before the first. */
    get transport(): TransportName | '';
    /** The current (or last) connection's id. */
    get client(): string;
    /** The user of the current (or last) connection; "" when anonymous. */
    get user(): string;
    /**
     * Starts connecting; from then on the client reconnects by itself until
     * `disconnect()` or a close code after which it must not. Listen to
     * `connected` to know when it is up; calls made meanwhile wait for it.
     */
    connect(): void;
    /**
     * Closes the connection and stops reconnecting. Calls in flight or
     * waiting fail with CLOSED; subscriptions are kept, with their positions,
     * for the next `connect()`. No timer of the client's survives it.
     */
    disconnect(): void;
    /**
     * Ends a reconnect's wait and tries at once: for when the application
     * knows the network is back (a browser's `online` event). It does nothing
     * unless a reconnect is waiting.
     */
    retryNow(): void;
    /**
     * Returns a new subscription object for channel, not subscribed yet:
     * attach listeners, then call its `subscribe()`. There is at most one
     * per channel (see getSubscription).
     */
    newSubscription(channel: string, options?: SubscriptionOptions): Subscription;
    /** The subscription object of channel, if there is one. */
    getSubscription(channel: string): Subscription | undefined;
    /** Every subscription object, by channel. */
    subscriptions(): Map<string, Subscription>;
    /** Unsubscribes sub and forgets it, so that its channel may get a new one. */
    removeSubscription(sub: Subscription): Promise<void>;
    /**
     * Publishes data (any JSON value; a Uint8Array needs the Protobuf codec)
     * to channel. Resolves to its place in the channel's stream (offset 0
     * when the channel keeps no history).
     */
    publish(channel: string, data: unknown): Promise<StreamPosition>;
    /**
     * Sends data to every connection of user, and to their inbox so that they
     * get it on their next connect if they are away. Resolves to its place in
     * the recipient's inbox (offset 0 when inboxes are off).
     */
    send(user: string, data: unknown): Promise<StreamPosition>;
    /** Who is in channel now, by client id. */
    presence(channel: string): Promise<Record<string, PresenceEntry>>;
    /** How many connections and distinct users are in channel. */
    presenceStats(channel: string): Promise<PresenceStats>;
    /**
     * Reads channel's history: with `limit`, one page, whose `next()` reads
     * the following one.
     */
    history(channel: string, options?: HistoryOptions): Promise<HistoryPage>;
    private call;
    private sendCall;
    /** Queues cmd for the next frame: commands issued together share one. */
    private write;
    private setState;
    private open;
    /** The implementation of a web API: the one passed in the options, or the global one. */
    private impl;
    /** Whether this runtime (and codec) can use transport t. */
    private usable;
    /** Moves to the next usable transport; false when there is none. */
    private nextTransport;
    /** The token for the next connect: a fresh one when none is known to be valid. */
    private connectToken;
    /** The inbox position to resume from: the user's, in memory or in the store. */
    private inboxSince;
    private sendConnect;
    private onFrame;
    private onMessage;
    private onConnected;
    /** The subscription of a channel the server subscribed, made on first sight. */
    private serverSubscription;
    private applyInbox;
    /** Delivers a direct push; false for one that skips ahead of the inbox. */
    private deliverDirect;
    private saveInbox;
    private refresh;
    /** Closes the connection whose heartbeat stopped. */
    private armWatchdog;
    /** Ends connection gen from this side: a missed heartbeat, a bad frame. */
    private drop;
    /** Detaches the socket and stops its timers; events of it are ignored from now on. */
    private teardown;
    /**
     * A connection ended (or an attempt failed) with code: fail what waited
     * on it, then reconnect or stop as the close-code table says.
     */
    private ended;
    /** Stops for good: fails every call and reports the end. */
    private stop;
    private failPending;
}
