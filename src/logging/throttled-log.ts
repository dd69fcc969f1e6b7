// A log line that a flood cannot multiply: at most `perPeriod` lines are written per period (one by default),
// later ones within it are only counted, and the count is carried by the next line written.

export class ThrottledLog {
  /** When the current period began (its first line was written). */
  private since = -Infinity;
  private written = 0;
  private suppressed = 0;

  constructor(
    private readonly log: (line: string) => void,
    private readonly periodMs = 1000,
    private readonly perPeriod = 1,
  ) {}

  /** Writes `line` (to `sink`, else the log given at construction) unless the period's lines are spent. */
  write(line: string, sink: (line: string) => void = this.log, now = Date.now()): void {
    if (now - this.since >= this.periodMs) {
      this.since = now;
      this.written = 0;
    }
    if (this.written >= this.perPeriod) {
      this.suppressed++;
      return;
    }
    this.written++;
    const more = this.suppressed > 0 ? ` (${this.suppressed} similar lines suppressed)` : '';
    this.suppressed = 0;
    sink(line + more);
  }
}
