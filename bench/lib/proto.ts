// Minimal wire helpers for the benchmark clients and the ceiling server.
// Written from docs/protocol.md (§1.2 CongSocket framing, §2 codes,
// §5.1 SIGNAL layout, §5.5 SUBSCRIBE). Client-side WebSocket framing is in test/kit/ws-frames.ts.
// The protocol's own codecs serve the benchmark too: one implementation of the framing and layouts.
import { MSG, PAYLOAD } from '../../src/protocol/codes.js';
import { CongDecoder, encodeFrame } from '../../src/protocol/congsocket.js';
import { encodeSignal, encodeTagMessage } from '../../src/protocol/messages.js';

export const B0_SERVER_TIME_NONCE = MSG.SERVER_TIME_NONCE;
export const C0_SERVER_READY = MSG.SERVER_READY;
export const C1_CID_REQ = MSG.CID_REQ;
export const C2_CID_RES = MSG.CID_RES;
export const CD_PING = MSG.PING;
export const CE_PONG = MSG.PONG;
export const D0_SIGNAL = MSG.SIGNAL;
export const D3_SUBSCRIBE = MSG.SUBSCRIBE;
export { frameHeaderSize as congHeaderSize, writeFrameHeader as writeCongHeader } from '../../src/protocol/congsocket.js';

/** SIGNAL = D0 ‖ tagLen ‖ tag ‖ payloadType ‖ payload (§5.1). */
export const signalMsg = (tag: string, payload: Uint8Array, payloadType: number = PAYLOAD.BINARY): Buffer =>
  encodeSignal(tag, payloadType, payload);

/** SUBSCRIBE = D3 ‖ tagLen ‖ tags (comma separated) (§5.5). */
export const subscribeMsg = (tags: string): Buffer => encodeTagMessage(MSG.SUBSCRIBE, tags);

/** One framed CongSocket buffer for `msg`. */
export const congFrame = encodeFrame;

/** Incremental CongSocket parser: whole messages to `onMsg`; `push` returns false after a framing error. */
export class CongParser {
  private failed = false;
  private onMsg: (m: Buffer) => void = () => undefined;
  private readonly decoder = new CongDecoder(
    {
      frame: (payload) => this.onMsg(payload),
      error: () => {
        this.failed = true;
      },
    },
    0xffffffff,
  );

  push(chunk: Buffer, onMsg: (m: Buffer) => void): boolean {
    this.onMsg = onMsg;
    this.decoder.push(chunk);
    return !this.failed;
  }
}
