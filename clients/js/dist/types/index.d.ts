/**
 * @heraldhq/client: Herald's client for browsers and Node.js.
 *
 * @packageDocumentation
 */
export { Herald } from './client.js';
export type { HeraldOptions, HeraldEvents, State, ConnectedEvent, ConnectingEvent, DisconnectedEvent, WebSocketLike, WebSocketConstructor, } from './client.js';
export type { TransportName, FetchLike, EventSourceLike, EventSourceConstructor, StreamUrls, } from './transport.js';
export { Subscription } from './subscription.js';
export type { SubscriptionOptions, SubscriptionState, SubscriptionEvents, SubscribedEvent, UnsubscribedEvent, } from './subscription.js';
export { HeraldError, ErrorCode } from './errors.js';
export { json } from './codec.js';
export type { Codec } from './codec.js';
export { memoryStore, localStorageStore } from './store.js';
export type { PositionStore } from './store.js';
export type { StreamPosition, ClientInfo, Publication, DirectMessage, PresenceEntry, PresenceStats, HistoryOptions, HistoryPage, RecoveryLost, Command, ServerMessage, } from './types.js';
export { Emitter } from './emitter.js';
