// The keepalive of every MQTT connection of a hub on one timer, as the other transports' sweep (§1.3): a
// connection whose client set a keepalive is watched from its CONNACK to its close, and each sweep asks it to
// check its own deadline. A silent client is closed within one sweep period after 1.5 × its keepalive
// [MQTT-3.1.2-24]; an idle connection holds no timer of its own.
import type { Clock, Timer } from '../clock.js';

/** How often the watched connections check their deadline (the most a keepalive close can be late by). */
export const KEEPALIVE_SWEEP_MS = 1000;

export interface KeepAliveSubject {
  /** Closes the connection when it has been silent past its deadline at `now`. Never throws. */
  keepAliveCheck(now: number): void;
}

export class KeepAliveSweep {
  private readonly watched = new Set<KeepAliveSubject>();
  private timer: Timer | null = null;

  constructor(
    private readonly clock: Clock,
    private readonly periodMs = KEEPALIVE_SWEEP_MS,
  ) {}

  get size(): number {
    return this.watched.size;
  }

  watch(subject: KeepAliveSubject): void {
    this.watched.add(subject);
    this.timer ??= this.clock.every(this.periodMs, this.sweep);
  }

  /** The timer stops with the last watched connection. */
  unwatch(subject: KeepAliveSubject): void {
    if (!this.watched.delete(subject) || this.watched.size > 0) return;
    this.timer?.cancel();
    this.timer = null;
  }

  stop(): void {
    this.watched.clear();
    this.timer?.cancel();
    this.timer = null;
  }

  private readonly sweep = (): void => {
    const now = this.clock.now();
    for (const subject of this.watched) subject.keepAliveCheck(now);
  };
}
