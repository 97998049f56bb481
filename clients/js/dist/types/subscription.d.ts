import { Emitter } from './emitter.js';
import { HeraldError } from './errors.js';
import type { ClientInfo, HistoryOptions, HistoryPage, PresenceEntry, PresenceStats, Publication, RecoveryLost, StreamPosition } from './types.js';
/** Options of a subscription. */
export interface SubscriptionOptions {
    /** A channel token, for channels whose namespace requires one. */
    token?: string;
    /** Returns a channel token; called before every subscribe, so it may mint a fresh one. */
    getToken?: (channel: string) => string | Promise<string>;
    /**
     * Resume from a position the application kept (say, `position` stored
     * on a previous visit): the publications after it are delivered first.
     */
    since?: StreamPosition;
}
/** A subscription's state. */
export type SubscriptionState = 'unsubscribed' | 'subscribing' | 'subscribed';
/** The `subscribed` event: a subscribe (or a resubscribe after a reconnect) succeeded. */
export interface SubscribedEvent {
    /** The stream's position after the publications the result carried. */
    position: StreamPosition;
    /** Whether the missed publications were all recovered; absent when the subscribe did not ask (no position yet). */
    recovered?: boolean;
    /** Whether this is a resubscribe after a reconnect or a repair. */
    resubscribed: boolean;
}
/** The `unsubscribed` event. */
export interface UnsubscribedEvent {
    /** 0 for `unsubscribe()`; the server's code otherwise (2000 for the server API, or the error that refused a resubscribe). */
    code: number;
    reason: string;
}
/** Events of a {@link Subscription}. */
export interface SubscriptionEvents {
    /** A publication, each once and in offset order, the recovered ones first. */
    message: Publication;
    /** A connection joined the channel (namespaces with join/leave events). */
    join: ClientInfo;
    /** A connection left the channel. */
    leave: ClientInfo;
    subscribed: SubscribedEvent;
    /** A resubscribe recovered everything missed (the publications follow as `message` events). */
    recovered: {
        since: StreamPosition;
        position: StreamPosition;
    };
    /**
     * Missed publications could not all be recovered (history trimmed, the
     * stream's epoch changed, or the server kept refusing the resubscribe):
     * reload the channel's state, for instance from `history()`. Comes before
     * the live stream resumes.
     */
    recoveryLost: RecoveryLost;
    unsubscribed: UnsubscribedEvent;
    /** A resubscribe failed and will be retried, or the subscribe failed for good. */
    error: HeraldError;
}
/**
 * Subscription is the client's interest in one channel. Once subscribed it
 * survives reconnects: the client resubscribes from its last position and
 * delivers what was missed before the live stream.
 */
export declare class Subscription extends Emitter<SubscriptionEvents> {
    /** The channel. */
    readonly channel: string;
    /** Whether the server made this subscription (token claims, server API). */
    serverSide: boolean;
    private c;
    private opts;
    private _state;
    private pos;
    private since?;
    /** Whether a subscribe succeeded since subscribe() (the position is the stream's). */
    private active;
    /** The connection generation the subscription was last sent on. */
    private gen;
    /** The generation on which unsubscribe() was sent while a subscribe was in flight. */
    private unsubGen;
    /** Numbers subscribe commands, so that a stale reply is ignored. */
    private seq;
    private retries;
    private retryTimer?;
    /** Set from a gap in the live stream until the resubscribe that repairs it is answered. */
    private resyncing;
    private ready?;
    /** The subscription's state. */
    get state(): SubscriptionState;
    /**
     * The last delivered position; store it to resume later with the
     * `since` option. The epoch is "" for a channel without history.
     */
    get position(): StreamPosition;
    /**
     * Subscribes, and resolves once the server accepted (waiting for a
     * connection if there is none). It rejects with the server's error when
     * the subscribe is refused (`temporary` says whether trying again later
     * may work), or when unsubscribe() or disconnect() comes first.
     */
    subscribe(): Promise<void>;
    /** Unsubscribes. Idempotent; the subscription may subscribe again later. */
    unsubscribe(): Promise<void>;
    /** Publishes to the channel; see Herald.publish. */
    publish(data: unknown): Promise<StreamPosition>;
    /** The channel's presence; see Herald.presence. */
    presence(): Promise<Record<string, PresenceEntry>>;
    /** The channel's presence counts; see Herald.presenceStats. */
    presenceStats(): Promise<PresenceStats>;
    /** The channel's history; see Herald.history. */
    history(options?: HistoryOptions): Promise<HistoryPage>;
    /** The since of a resubscribe: the last position, for a channel with history. */
    private resumeFrom;
    /** Sends the subscribe command on connection gen; the reply is applied ahead of the channel's messages. */
    private sendSubscribe;
    /**
     * Unsubscribes and subscribes again from the last delivered position, in
     * that order (the server handles a connection's commands in order), after
     * a gap in the live stream.
     */
    private resync;
    private reset;
    /** Settles the pending subscribe() promises. */
    private settle;
}
