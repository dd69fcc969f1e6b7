// Per-second traffic rates over the last minutes, for the dashboard's chart. Reads four counters once a
// second; nothing on the message path.
import type { TrafficCounters, TrafficPoint } from './stats.js';

export const TRAFFIC_STEP_MS = 1000;
export const TRAFFIC_SPAN_MS = 5 * 60_000;

export class TrafficHistory {
  private readonly points: TrafficPoint[] = [];
  private last: TrafficCounters;
  private lastTime = Date.now();
  private readonly timer: NodeJS.Timeout;
  private readonly capacity: number;

  constructor(
    private readonly stats: TrafficCounters,
    private readonly onPoint: (point: TrafficPoint) => void = () => {},
    stepMs = TRAFFIC_STEP_MS,
    spanMs = TRAFFIC_SPAN_MS,
  ) {
    this.capacity = Math.ceil(spanMs / stepMs);
    this.last = { ...stats };
    this.timer = setInterval(() => this.step(), stepMs);
    this.timer.unref();
  }

  /** Oldest first. */
  list(): TrafficPoint[] {
    return [...this.points];
  }

  private step(): void {
    const now = Date.now();
    const seconds = Math.max(0.001, (now - this.lastTime) / 1000);
    const { messagesIn, messagesOut, bytesIn, bytesOut } = this.stats;
    const point: TrafficPoint = {
      time: now,
      messagesIn: (messagesIn - this.last.messagesIn) / seconds,
      messagesOut: (messagesOut - this.last.messagesOut) / seconds,
      bytesIn: (bytesIn - this.last.bytesIn) / seconds,
      bytesOut: (bytesOut - this.last.bytesOut) / seconds,
    };
    this.last = { messagesIn, messagesOut, bytesIn, bytesOut };
    this.lastTime = now;
    this.points.push(point);
    if (this.points.length > this.capacity) this.points.shift();
    this.onPoint(point);
  }

  close(): void {
    clearInterval(this.timer);
  }
}
