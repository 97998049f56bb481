import type { Command, ServerMessage } from './types.js';
/**
 * A wire encoding: the WebSocket subprotocol, and how commands become a
 * frame and a frame becomes server messages. The JSON codec is built in;
 * `@heraldhq/client/protobuf` exports the Protobuf one.
 *
 * Decoded messages have the JSON encoding's shape, with one difference:
 * every `data` is already the application's value (the JSON value, or a
 * Uint8Array for bytes that are not JSON).
 */
export interface Codec {
    readonly subprotocol: string;
    /** Whether frames are binary. */
    readonly binary: boolean;
    /** Encodes commands into one frame. */
    encode(commands: Command[]): string | Uint8Array;
    /** Decodes one frame; it throws on a malformed one. */
    decode(frame: unknown): ServerMessage[];
}
/** The JSON encoding (`herald.v1.json`), the default. */
export declare const json: Codec;
