/**
 * @heraldhq/client: Herald's client for browsers and Node.js.
 *
 * @packageDocumentation
 */
export { Herald } from './client';
export type {
  HeraldOptions, HeraldEvents, State, ConnectedEvent, ConnectingEvent, DisconnectedEvent,
  WebSocketLike, WebSocketConstructor,
} from './client';
export { Subscription } from './subscription';
export type {
  SubscriptionOptions, SubscriptionState, SubscriptionEvents, SubscribedEvent, UnsubscribedEvent,
} from './subscription';
export { HeraldError, ErrorCode } from './errors';
export { json } from './codec';
export type { Codec } from './codec';
export { memoryStore, localStorageStore } from './store';
export type { PositionStore } from './store';
export type {
  StreamPosition, ClientInfo, Publication, DirectMessage, PresenceEntry, PresenceStats, HistoryOptions,
  HistoryPage, RecoveryLost,
} from './types';
export { Emitter } from './emitter';
