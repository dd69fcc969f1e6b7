// A log line that a flood cannot multiply: the first occurrence is written at once, later ones within the
// period are only counted and summarised when the next one comes after it.

export class ThrottledLog {
  private last = -Infinity;
  private suppressed = 0;

  constructor(
    private readonly log: (line: string) => void,
    private readonly periodMs = 1000,
  ) {}

  /** Writes `line` (to `sink`, else the log given at construction) unless one was written within the period. */
  write(line: string, sink: (line: string) => void = this.log, now = Date.now()): void {
    if (now - this.last < this.periodMs) {
      this.suppressed++;
      return;
    }
    const more = this.suppressed > 0 ? ` (${this.suppressed} similar lines suppressed)` : '';
    this.suppressed = 0;
    this.last = now;
    sink(line + more);
  }
}
