// Event-loop lag from Node's own delay histogram, reported per completed window so that a scrape
// shows recent stalls rather than an average since start.
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { LagStats } from './stats.js';

const NS_PER_SECOND = 1e9;
/** Sampling resolution of the histogram: coarse enough to cost nothing, fine enough to see stalls. */
const RESOLUTION_MS = 20;
export const LAG_WINDOW_MS = 10_000;

/** The histogram records the whole time between its timer's ticks; the lag is what exceeds the period. */
function lagSeconds(intervalNs: number): number {
  return Math.max(0, intervalNs / NS_PER_SECOND - RESOLUTION_MS / 1000);
}

function statsOf(histogram: IntervalHistogram): LagStats {
  // An empty histogram reports NaN for the mean.
  if (histogram.count === 0) return { meanSeconds: 0, p99Seconds: 0, maxSeconds: 0 };
  return {
    meanSeconds: lagSeconds(histogram.mean),
    p99Seconds: lagSeconds(histogram.percentile(99)),
    maxSeconds: lagSeconds(histogram.max),
  };
}

export class EventLoopLag {
  private readonly histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  private lastWindow: LagStats | null = null;
  private readonly rotation: NodeJS.Timeout;

  constructor(windowMs = LAG_WINDOW_MS) {
    this.histogram.enable();
    this.rotation = setInterval(() => {
      this.lastWindow = statsOf(this.histogram);
      this.histogram.reset();
    }, windowMs);
    this.rotation.unref();
  }

  /** The last completed window, or the current one before the first window ends. */
  stats(): LagStats {
    return this.lastWindow ?? statsOf(this.histogram);
  }

  close(): void {
    clearInterval(this.rotation);
    this.histogram.disable();
  }
}
