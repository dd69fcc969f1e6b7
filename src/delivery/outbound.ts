// One published message on its way to many receivers: encoded once, framed for CongSocket at most once.
import { encodeFrame } from '../protocol/congsocket.js';

/** A message shared by many receivers; the CongSocket frame is built on first need and reused by every stream. */
export class Outbound {
  private framed: Buffer | undefined;
  constructor(readonly msg: Uint8Array) {}
  get frame(): Buffer {
    return (this.framed ??= encodeFrame(this.msg));
  }
}
