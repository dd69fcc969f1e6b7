// A pseudo-terminal pair from socat standing in for a board on a serial cable: the bridge opens `tty`,
// the test plays the board on `board`. Both are symlinks with fixed names, so a pair can be killed
// (the "cable pulled") and made again under the same names.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SerialPort } from 'serialport';
import { TimeoutError, sleep } from '../kit/wait.js';
import { tool } from '../kit/tools.js';

export class PtyPair {
  private child: ChildProcess | null = null;
  readonly dir: string;
  readonly tty: string;
  readonly boardPath: string;

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'iosig-pty-'));
    this.tty = join(this.dir, 'tty');
    this.boardPath = join(this.dir, 'board');
  }

  /** Starts socat and waits (≤ 5 s) until both ends exist. */
  async up(): Promise<void> {
    const child = spawn(tool('socat'), ['-d', '-d', `pty,raw,echo=0,link=${this.boardPath}`, `pty,raw,echo=0,link=${this.tty}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child = child;
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const deadline = Date.now() + 5000;
    while (!(stderr.includes('starting data transfer loop') && existsSync(this.tty) && existsSync(this.boardPath))) {
      if (child.exitCode !== null) throw new Error(`socat exited: ${stderr}`);
      if (Date.now() > deadline) throw new TimeoutError('socat pty pair', 5000);
      await sleep(20);
    }
  }

  /** Kills socat (both ends vanish) and waits for it to be gone. */
  async down(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
    const deadline = Date.now() + 2000;
    while ((existsSync(this.tty) || existsSync(this.boardPath)) && Date.now() < deadline) await sleep(20);
    rmSync(this.tty, { force: true });
    rmSync(this.boardPath, { force: true });
  }

  async dispose(): Promise<void> {
    await this.down();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The board's end of the cable: what it writes, and everything it has read so far. */
export class Board {
  received = Buffer.alloc(0);
  private waiters: (() => void)[] = [];

  private constructor(readonly port: SerialPort) {
    port.on('data', (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
      for (const wake of this.waiters.splice(0)) wake();
    });
    port.on('error', () => undefined);
  }

  static open(path: string): Promise<Board> {
    return new Promise((resolve, reject) => {
      const port = new SerialPort({ path, baudRate: 115_200, autoOpen: false });
      port.open((err) => (err ? reject(err) : resolve(new Board(port))));
    });
  }

  write(data: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      this.port.write(data, (err) => (err ? reject(err) : this.port.drain(() => resolve())));
    });
  }

  /** Waits until what the board read contains `text` (≤ `ms`). */
  async waitFor(text: string, ms = 3000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.received.includes(text)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new TimeoutError(`board to read ${JSON.stringify(text)} (has ${JSON.stringify(this.received.toString())})`, ms);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  close(): Promise<void> {
    return new Promise((resolve) => (this.port.isOpen ? this.port.close(() => resolve()) : resolve()));
  }
}
