// Received-bytes rate limit for the trafficRate quota (§8.2, Q3): `rate` bytes per second, with a
// burst of one second's worth. The reference never implemented it; the unit is ours and documented.
// The login throttle uses it too, with its own burst.

export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly rate: number,
    now: number,
    private readonly burst = rate,
  ) {
    this.tokens = burst;
    this.last = now;
  }

  /** Takes `bytes` if available; false means the message is over the rate. */
  take(bytes: number, now: number): boolean {
    const elapsed = now - this.last;
    if (elapsed > 0) {
      this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.rate) / 1000);
      this.last = now;
    }
    if (bytes > this.tokens) return false;
    this.tokens -= bytes;
    return true;
  }

  /** Gives back what an attempt took once it turned out not to count (a successful login). */
  restore(amount: number): void {
    this.tokens = Math.min(this.burst, this.tokens + amount);
  }

  /** True when the bucket is back to its full burst (the entry may be forgotten). */
  full(now: number): boolean {
    return this.tokens + ((now - this.last) * this.rate) / 1000 >= this.burst;
  }
}
