// Reads the server-sent events of /api/events through fetch, so the admin token travels in a header
// rather than in the URL. Reconnects with a growing delay (browser code).
import type { HelloFrame, TailFrame, TickFrame } from '../dashboard-types.js';

export interface FeedHandlers {
  hello(frame: HelloFrame): void;
  tick(frame: TickFrame): void;
  tail(frame: TailFrame): void;
  state(live: boolean, detail: string): void;
}

const MIN_RETRY_MS = 500;
const MAX_RETRY_MS = 8000;

function dispatch(block: string, handlers: FeedHandlers): void {
  let event = 'message';
  let data = '';
  for (const line of block.split('\n')) {
    if (line.startsWith('event: ')) event = line.slice(7);
    else if (line.startsWith('data: ')) data += line.slice(6);
  }
  if (data === '') return;
  if (event === 'hello') handlers.hello(JSON.parse(data) as HelloFrame);
  else if (event === 'tick') handlers.tick(JSON.parse(data) as TickFrame);
  else if (event === 'tail') handlers.tail(JSON.parse(data) as TailFrame);
}

export class FeedClient {
  private controller: AbortController | null = null;
  private retryMs = MIN_RETRY_MS;
  private retryTimer: number | undefined;

  constructor(private readonly handlers: FeedHandlers) {}

  /** (Re)opens the feed with this token ('' = none). */
  open(token: string): void {
    this.controller?.abort();
    window.clearTimeout(this.retryTimer);
    const controller = new AbortController();
    this.controller = controller;
    void this.run(token, controller).catch((err: unknown) => {
      if (controller.signal.aborted) return;
      this.handlers.state(false, err instanceof Error ? err.message : String(err));
      this.retryTimer = window.setTimeout(() => this.open(token), this.retryMs);
      this.retryMs = Math.min(MAX_RETRY_MS, this.retryMs * 2);
    });
  }

  private async run(token: string, controller: AbortController): Promise<void> {
    const headers: Record<string, string> = { Accept: 'text/event-stream' };
    if (token) headers.Authorization = `Bearer ${token}`;
    const response = await fetch('/api/events', { headers, signal: controller.signal, cache: 'no-store' });
    if (!response.ok || !response.body) throw new Error(`feed refused: ${response.status}`);
    this.retryMs = MIN_RETRY_MS;
    this.handlers.state(true, 'live');
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffered = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error('feed closed');
      buffered += value;
      let end = buffered.indexOf('\n\n');
      while (end >= 0) {
        dispatch(buffered.slice(0, end), this.handlers);
        buffered = buffered.slice(end + 2);
        end = buffered.indexOf('\n\n');
      }
    }
  }
}
