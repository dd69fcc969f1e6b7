// A plain device's frames, paced per event-loop turn (issue 16 item 5). uWS hands over every frame of a socket
// read (up to 512 KiB) in one go, and a device on 16 channels turns each frame into 16 publishes: 40 000 tiny
// frames in one read kept the loop busy for most of a second. So a device's frames publish at most
// SIGNALS_PER_TURN signals per turn; the frames after that wait, in order, for the next turns (copied: the
// transport's buffer is only valid during its callback), at most `maxWaiting` bytes of them — a device that
// sends faster than that is flooding and is told so (`flooded`).

/** Signals a device's frames may publish in one event-loop turn (about a millisecond of work). */
export const SIGNALS_PER_TURN = 2048;

interface WaitingFrame {
  data: Buffer;
  binary: boolean;
}

export class FramePacer {
  private waiting: WaitingFrame[] = [];
  private head = 0;
  private waitingBytes = 0;
  /** Signals published in this turn. */
  private spent = 0;
  private scheduled = false;

  /**
   * `handle` publishes a frame and returns what it cost in signals; `active` is false once the device is gone
   * (what waits is then forgotten).
   */
  constructor(
    private readonly handle: (data: Uint8Array, binary: boolean) => number,
    private readonly active: () => boolean,
    private readonly flooded: (waitingBytes: number) => void,
    private readonly maxWaiting: number,
    private readonly perTurn = SIGNALS_PER_TURN,
  ) {}

  /** Frames waiting for a later turn. */
  get waitingFrames(): number {
    return this.waiting.length - this.head;
  }

  /** A frame from the device (a view valid during the call): handled now if this turn allows, else queued. */
  push(data: Uint8Array, binary: boolean): void {
    if (this.waitingFrames === 0 && this.spent < this.perTurn) {
      this.spent += this.handle(data, binary);
      this.schedule();
      return;
    }
    if (this.waitingBytes + data.length > this.maxWaiting) return this.flooded(this.waitingBytes);
    this.waiting.push({ data: Buffer.from(data), binary });
    this.waitingBytes += data.length;
    this.schedule();
  }

  /** The next turn starts this device's count afresh (and takes what waits), as long as there is anything to do. */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.nextTurn);
  }

  private readonly nextTurn = (): void => {
    this.scheduled = false;
    this.spent = 0;
    if (!this.active()) return this.forget();
    while (this.waitingFrames > 0 && this.spent < this.perTurn && this.active()) {
      const frame = this.waiting[this.head]!;
      this.waiting[this.head++] = undefined as unknown as WaitingFrame;
      this.waitingBytes -= frame.data.length;
      this.spent += this.handle(frame.data, frame.binary);
    }
    if (this.waitingFrames === 0) this.forget();
    if (this.waitingFrames > 0 || this.spent > 0) this.schedule();
  };

  private forget(): void {
    this.waiting = [];
    this.head = 0;
    this.waitingBytes = 0;
  }
}
