/**
 * A transport the client may connect over: `websocket` (`/ws`),
 * `http_stream` (a streamed `POST /stream` response, in the codec's
 * encoding) or `sse` (Server-Sent Events from `GET /sse`, JSON only). On
 * the two stream transports the client's commands go as `POST /sse/cmd`
 * requests naming the session the connect reply gave.
 */
export type TransportName = 'websocket' | 'http_stream' | 'sse';
/** The part of the fetch API the stream transports use (the global fetch, or one you pass). */
export type FetchLike = (url: string, init: {
    method: string;
    body: string | Uint8Array;
    headers: Record<string, string>;
    signal: AbortSignal;
    cache?: string;
}) => Promise<{
    ok: boolean;
    status: number;
    headers: {
        get(name: string): string | null;
    };
    body: {
        getReader(): {
            read(): Promise<{
                done: boolean;
                value?: Uint8Array;
            }>;
        };
    } | null;
}>;
/** The part of the EventSource API the `sse` transport uses. */
export interface EventSourceLike {
    onmessage: ((ev: {
        data: string;
    }) => void) | null;
    onerror: ((ev: any) => void) | null;
    close(): void;
}
/** An EventSource constructor: the browser's, or one you pass on Node.js. */
export type EventSourceConstructor = new (url: string) => EventSourceLike;
/** The stream transports' endpoints. */
export interface StreamUrls {
    /** The HTTP-streaming endpoint. Default: the WebSocket URL with http(s) and the path's last segment `stream`. */
    stream: string;
    /** The Server-Sent Events endpoint. Default: as stream, with `sse`. */
    sse: string;
    /** Where commands are posted. Default: as stream, with `sse/cmd`. */
    command: string;
}
/** url (ws:// or wss://, or already http(s)://) with http(s) and its path's last segment replaced by path. */
export declare function endpoint(url: string, path: string): string;
