// A plain WebSocket device on the `ws` package (a third-party client), for the plain endpoint's hardening tests:
// frames in arrival order, awaited with a deadline; JSON envelopes parsed on request; pausing its socket.
import WebSocket from 'ws';
import { TimeoutError } from '../kit/wait.js';

export interface DeviceFrame {
  data: Buffer;
  binary: boolean;
}

export class WsDevice {
  readonly frames: DeviceFrame[] = [];
  closed: { code: number; reason: string } | null = null;
  private taken = 0;
  private wake: (() => void) | null = null;

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, binary: boolean) => {
      this.frames.push({ data, binary });
      this.wake?.();
    });
    ws.on('close', (code: number, reason: Buffer) => {
      this.closed = { code, reason: reason.toString() };
      this.wake?.();
    });
    ws.on('error', () => {
      // A reset shows up as a close.
    });
  }

  static async open(port: number, path: string): Promise<WsDevice> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { maxPayload: 256 * 1024 * 1024 });
    // Listening before 'open': a first frame may come in the same read as the upgrade's answer.
    const device = new WsDevice(ws);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new TimeoutError(`a WebSocket to ${path}`, 3000)), 3000);
      ws.once('open', () => {
        clearTimeout(timer);
        resolve();
      });
      ws.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    return device;
  }

  /** A JSON device: opened, and its READY frame taken; resolves with its CID. */
  static async json(port: number, channels: string): Promise<{ device: WsDevice; cid: string }> {
    const device = await WsDevice.open(port, `/plain/${encodeURIComponent(channels).replace(/%2C/g, ',')}?format=json`);
    const ready = await device.nextJson();
    if (ready.type !== 'READY' || typeof ready.cid !== 'string') throw new Error(`expected READY, got ${JSON.stringify(ready)}`);
    return { device, cid: ready.cid };
  }

  /** The next frame not yet taken, within `ms`; throws if the device is closed first. */
  async next(ms = 3000): Promise<DeviceFrame> {
    const deadline = Date.now() + ms;
    while (this.taken >= this.frames.length) {
      if (this.closed) throw new Error(`the device was closed (${this.closed.code} ${this.closed.reason}) before a frame came`);
      const left = deadline - Date.now();
      if (left <= 0) throw new TimeoutError('a frame for the plain device', ms);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }
    return this.frames[this.taken++]!;
  }

  async nextJson(ms = 3000): Promise<Record<string, unknown>> {
    const frame = await this.next(ms);
    if (frame.binary) throw new Error('expected a text frame, got a binary one');
    return JSON.parse(frame.data.toString('utf8')) as Record<string, unknown>;
  }

  /** Frames that arrived but were not taken yet. */
  get waiting(): number {
    return this.frames.length - this.taken;
  }

  sendText(text: string): void {
    this.ws.send(text);
  }

  sendBinary(bytes: Uint8Array): void {
    this.ws.send(bytes, { binary: true });
  }

  /** Stops reading: what the server sends piles up in the socket buffers, then in uWS's. */
  pause(): void {
    (this.ws as unknown as { _socket: { pause(): void } })._socket.pause();
  }

  close(): void {
    this.ws.terminate();
  }
}

/** Devices a test opened, closed together afterwards. */
export class DevicePool {
  private readonly devices: WsDevice[] = [];

  async open(port: number, path: string): Promise<WsDevice> {
    const device = await WsDevice.open(port, path);
    this.devices.push(device);
    return device;
  }

  async json(port: number, channels: string): Promise<{ device: WsDevice; cid: string }> {
    const opened = await WsDevice.json(port, channels);
    this.devices.push(opened.device);
    return opened;
  }

  closeAll(): void {
    for (const device of this.devices.splice(0)) device.close();
  }
}

/** `[[[…]]]` nested `depth` levels deep. */
export function nested(depth: number): string {
  return '['.repeat(depth) + ']'.repeat(depth);
}
