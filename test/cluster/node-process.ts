// A real `io-server --cluster` process on free ports, for end-to-end cluster tests. Killed by stop().
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withTimeout } from '../kit/wait.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const BIN = resolve(ROOT, 'bin', 'io-server.js');
const PORTS = /ports: websocket (\d+), congsocket (\d+)/;

export class NodeProcess {
  private output = '';
  /**
   * Every line on stdout that says what the process did (`io-server: …` from the primary of --workers, `ports: …`
   * from each server that listens), kept whole: the output above is cut to its tail.
   */
  readonly events: string[] = [];
  private partial = '';

  private constructor(
    private readonly child: ChildProcess,
    readonly wsPort: number,
    readonly congPort: number,
  ) {}

  get log(): string {
    return this.output;
  }

  static async start(args: string[], timeoutMs = 60_000): Promise<NodeProcess> {
    const child = spawn(process.execPath, [BIN, '-l', '0', '-L', '0', '--host', '127.0.0.1', '-o', ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const ports = new Promise<[number, number]>((resolvePorts, reject) => {
      const seen = (chunk: Buffer): void => {
        output += chunk.toString('utf8');
        const m = output.match(PORTS);
        if (m) resolvePorts([Number(m[1]), Number(m[2])]);
      };
      child.stdout?.on('data', seen);
      child.stderr?.on('data', seen);
      child.once('exit', (code) => reject(new Error(`io-server exited (${code}) before listening:\n${output}`)));
    });
    try {
      const [ws, cong] = await withTimeout(ports, timeoutMs, 'io-server to listen');
      const node = new NodeProcess(child, ws, cong);
      node.output = output;
      node.lines(output);
      const keep = (chunk: Buffer): void => {
        node.output = (node.output + chunk.toString('utf8')).slice(-20_000);
      };
      child.stdout?.on('data', (chunk: Buffer) => node.lines(chunk.toString('utf8')));
      child.stdout?.on('data', keep);
      child.stderr?.on('data', keep);
      return node;
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    }
  }

  private lines(text: string): void {
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) if (line.startsWith('io-server: ') || line.startsWith('ports: ')) this.events.push(line);
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  /** The process has exited (its exit code or signal), or null while it runs. */
  get exited(): { code: number | null; signal: NodeJS.Signals | null } | null {
    const { child } = this;
    return child.exitCode !== null || child.signalCode !== null ? { code: child.exitCode, signal: child.signalCode } : null;
  }

  /** Waits until `pattern` has appeared `count` times in the output (e.g. every worker listening). */
  async waitForLines(pattern: RegExp, count: number, timeoutMs: number): Promise<void> {
    const global = new RegExp(pattern.source, 'g');
    const end = Date.now() + timeoutMs;
    while ((this.output.match(global)?.length ?? 0) < count) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${count}× ${pattern} in:\n${this.output.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** SIGSTOP / SIGCONT: the node freezes (reads nothing, answers nothing) and carries on, like a stalled host. */
  pause(): void {
    this.child.kill('SIGSTOP');
  }

  resume(): void {
    this.child.kill('SIGCONT');
  }

  /** SIGKILL: the node dies without a goodbye (its lease must expire). */
  async kill(): Promise<void> {
    await this.signal('SIGKILL');
  }

  /** SIGTERM: a clean shutdown. */
  async stop(): Promise<void> {
    await this.signal('SIGTERM');
  }

  private async signal(sig: NodeJS.Signals): Promise<void> {
    const { child } = this;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill(sig);
    await withTimeout(exited, 5000, `io-server to exit on ${sig}`).catch(() => child.kill('SIGKILL'));
  }
}
