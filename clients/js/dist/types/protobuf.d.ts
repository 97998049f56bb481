/**
 * The Protobuf encoding (`herald.v1.proto`, schema protocol/pb/herald.proto),
 * as an optional codec kept out of the main bundle:
 *
 * ```js
 * import { Herald } from '@heraldhq/client';
 * import { protobuf } from '@heraldhq/client/protobuf';
 * const herald = new Herald(url, { codec: protobuf });
 * ```
 *
 * With it, `publish` and `send` also take a Uint8Array, sent as it is.
 * Received `data` that is valid UTF-8 JSON is parsed, as the JSON encoding
 * would deliver it; other bytes arrive as a Uint8Array.
 *
 * @packageDocumentation
 */
import type { Codec } from './codec.js';
/** The Protobuf codec: pass it as the `codec` option. */
export declare const protobuf: Codec;
