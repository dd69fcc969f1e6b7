// Received-bytes rate limit for the trafficRate quota (§8.2, Q3): `rate` bytes per second, with a
// burst of one second's worth. The reference never implemented it; the unit is ours and documented.

export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly rate: number,
    now: number,
  ) {
    this.tokens = rate;
    this.last = now;
  }

  /** Takes `bytes` if available; false means the message is over the rate. */
  take(bytes: number, now: number): boolean {
    const elapsed = now - this.last;
    if (elapsed > 0) {
      this.tokens = Math.min(this.rate, this.tokens + (elapsed * this.rate) / 1000);
      this.last = now;
    }
    if (bytes > this.tokens) return false;
    this.tokens -= bytes;
    return true;
  }
}
