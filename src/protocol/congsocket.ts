// CongSocket framing (docs/protocol.md §1.2): `type ‖ length (LE) ‖ payload`, type 1..4 = 1..4 length bytes.
// Pure: no sockets here. The decoder is a loop over the buffered bytes, never recursion (Q4).

/** Header size for a payload of `len` bytes, using the smallest type that fits. */
export function frameHeaderSize(len: number): number {
  if (len <= 0xff) return 2;
  if (len <= 0xffff) return 3;
  if (len <= 0xffffff) return 4;
  return 5;
}

/** Writes the smallest header for `len` at `out[offset]`; returns the header size. */
export function writeFrameHeader(out: Uint8Array, offset: number, len: number): number {
  if (len <= 0xff) {
    out[offset] = 1;
    out[offset + 1] = len;
    return 2;
  }
  if (len <= 0xffff) {
    out[offset] = 2;
    out[offset + 1] = len & 0xff;
    out[offset + 2] = len >>> 8;
    return 3;
  }
  if (len <= 0xffffff) {
    out[offset] = 3;
    out[offset + 1] = len & 0xff;
    out[offset + 2] = (len >>> 8) & 0xff;
    out[offset + 3] = len >>> 16;
    return 4;
  }
  out[offset] = 4;
  out[offset + 1] = len & 0xff;
  out[offset + 2] = (len >>> 8) & 0xff;
  out[offset + 3] = (len >>> 16) & 0xff;
  out[offset + 4] = (len >>> 24) & 0xff;
  return 5;
}

/** The frame header alone, as its own buffer. */
export function encodeFrameHeader(len: number): Buffer {
  const out = Buffer.allocUnsafe(frameHeaderSize(len));
  writeFrameHeader(out, 0, len);
  return out;
}

/** One framed message in a single buffer (header ‖ payload). */
export function encodeFrame(payload: Uint8Array): Buffer {
  const len = payload.length;
  const out = Buffer.allocUnsafe(frameHeaderSize(len) + len);
  const h = writeFrameHeader(out, 0, len);
  out.set(payload, h);
  return out;
}

/** Why the decoder stopped: a type byte it does not know, or a frame over the size limit. */
export type FrameErrorKind = 'unknown-type' | 'too-large' | 'budget';

/** Where the CongSocket decoder hands whole frames and framing errors. */
export interface FrameSink {
  /** A whole payload. The view is only valid during the call; copy it to keep it. */
  frame(payload: Buffer): void;
  /**
   * Malformed input. For `unknown-type` the decoder has already dropped everything buffered (Q5);
   * for `too-large` it has dropped everything and stays stopped until `reset()`.
   * `detail` is the offending type byte or announced length.
   */
  error(kind: FrameErrorKind, detail: number): void;
}

const EMPTY = Buffer.alloc(0);

/**
 * What the bodies of large frames still arriving may hold, shared by many decoders: `take` false refuses a body
 * (the decoder stops and reports 'budget'); every taken byte is given back once, when the frame completes or stops.
 */
export interface BodyBudget {
  /** Counts `bytes` of a body about to be allocated; false refuses it. */
  take(bytes: number): boolean;
  /** Gives back `bytes` taken earlier. */
  give(bytes: number): void;
}

/**
 * Incremental CongSocket decoder. Feed it TCP chunks in order; it calls `sink.frame` once per
 * non-empty frame, in order, zero-copy where a frame lies inside one chunk.
 */
export class CongDecoder {
  /** Bytes of an incomplete header or small incomplete frame. */
  private rest: Buffer = EMPTY;
  /** Preallocated body of a large frame that spans chunks, and how much of it is filled. */
  private body: Buffer | null = null;
  private bodyFilled = 0;
  private stopped = false;

  constructor(
    private readonly sink: FrameSink,
    /** Largest accepted payload; a header announcing more is an error. */
    public maxFrame: number,
    /** Where large bodies are counted before they are allocated (none: only maxFrame bounds them). */
    private readonly budget: BodyBudget | null = null,
  ) {}

  /** Bytes currently held back waiting for the rest of a frame. */
  get buffered(): number {
    return this.body ? this.bodyFilled : this.rest.length;
  }

  reset(): void {
    this.rest = EMPTY;
    this.dropBody();
    this.bodyFilled = 0;
    this.stopped = false;
  }

  push(chunk: Buffer): void {
    if (this.stopped || chunk.length === 0) return;
    let data = chunk;
    if (this.body) {
      const need = this.body.length - this.bodyFilled;
      if (data.length < need) {
        data.copy(this.body, this.bodyFilled);
        this.bodyFilled += data.length;
        return;
      }
      data.copy(this.body, this.bodyFilled, 0, need);
      const whole = this.body;
      this.dropBody();
      this.sink.frame(whole);
      if (this.stopped) return;
      data = data.subarray(need);
    } else if (this.rest.length > 0) {
      data = Buffer.concat([this.rest, data]);
      this.rest = EMPTY;
    }
    this.parse(data);
  }

  private parse(data: Buffer): void {
    const end = data.length;
    let pos = 0;
    while (pos < end) {
      const type = data[pos]!;
      if (type < 1 || type > 4) {
        // The reference drops the whole buffer on a bad type byte; so do we.
        this.rest = EMPTY;
        this.sink.error('unknown-type', type);
        return;
      }
      const headerSize = type + 1;
      if (end - pos < headerSize) break;
      let len = data[pos + 1]!;
      if (type >= 2) len |= data[pos + 2]! << 8;
      if (type >= 3) len |= data[pos + 3]! << 16;
      if (type === 4) len += data[pos + 4]! * 0x1000000;
      if (len > this.maxFrame) {
        this.rest = EMPTY;
        this.stopped = true;
        this.sink.error('too-large', len);
        return;
      }
      const start = pos + headerSize;
      if (end - start < len) {
        if (len > 4096) {
          // Large frame arriving in pieces: copy into one exact buffer instead of re-concatenating, once the
          // budget of bodies in flight (many connections each announcing a big frame) lets it be allocated.
          if (this.budget !== null && !this.budget.take(len)) {
            this.rest = EMPTY;
            this.stopped = true;
            this.sink.error('budget', len);
            return;
          }
          this.body = Buffer.allocUnsafe(len);
          data.copy(this.body, 0, start, end);
          this.bodyFilled = end - start;
          this.rest = EMPTY;
          return;
        }
        break;
      }
      pos = start + len;
      if (len > 0) {
        this.sink.frame(data.subarray(start, pos));
        if (this.stopped) return;
      }
    }
    this.rest = pos < end ? Buffer.from(data.subarray(pos)) : EMPTY;
  }

  /** Stop delivering frames (the connection is going away). */
  stop(): void {
    this.stopped = true;
    this.rest = EMPTY;
    this.dropBody();
  }

  /** The body of a frame still arriving goes (whole, or with the connection), and its bytes back to the budget. */
  private dropBody(): void {
    if (this.body !== null) this.budget?.give(this.body.length);
    this.body = null;
    this.bodyFilled = 0;
  }
}
