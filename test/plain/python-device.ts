// Drives test/plain/device.py (Debian's python3-websockets) as a real third-party device.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { TimeoutError } from '../kit/wait.js';
import { tool } from '../kit/tools.js';
import { ROOT } from '../kit/server.js';
import { stopChild } from '../kit/child-output.js';

export type DeviceEvent =
  | { open: true }
  | { text: string }
  | { bin: string }
  | { closed: number | null; reason: string }
  | { error: string };

export class PythonDevice {
  readonly events: DeviceEvent[] = [];
  private taken = 0;
  private waiters: (() => void)[] = [];
  private stderr = '';
  private readonly child: ChildProcess;

  constructor(url: string, options: { ca?: string; cert?: string; key?: string; headers?: string[] } = {}) {
    const args = [join(ROOT, 'test', 'plain', 'device.py'), url];
    if (options.ca) args.push('--ca', options.ca);
    if (options.cert) args.push('--cert', options.cert, '--key', options.key ?? '');
    for (const header of options.headers ?? []) args.push('--header', header);
    this.child = spawn(tool('python3-websockets'), args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let buffered = '';
    this.child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        this.events.push(JSON.parse(buffered.slice(0, nl)) as DeviceEvent);
        buffered = buffered.slice(nl + 1);
      }
      for (const wake of this.waiters.splice(0)) wake();
    });
    this.child.stderr!.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString();
    });
  }

  /** The next event not yet taken, within `ms`. */
  async next(ms = 3000): Promise<DeviceEvent> {
    const deadline = Date.now() + ms;
    while (this.taken >= this.events.length) {
      const left = deadline - Date.now();
      if (left <= 0) throw new TimeoutError(`an event from the Python device (stderr: ${this.stderr.trim()})`, ms);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.events[this.taken++]!;
  }

  /** Waits for the connection to open; throws with the device's error otherwise. */
  async opened(ms = 5000): Promise<void> {
    const first = await this.next(ms);
    if (!('open' in first)) throw new Error(`the Python device did not connect: ${JSON.stringify(first)}`);
  }

  sendText(text: string): void {
    this.child.stdin!.write(`text ${text}\n`);
  }

  sendBinary(bytes: Buffer): void {
    this.child.stdin!.write(`bin ${bytes.toString('hex')}\n`);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null) this.child.stdin!.end('close\n');
    const deadline = Date.now() + 2000;
    while (this.child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await stopChild(this.child);
  }
}
