// The live values of one channel (seed 001's monitor): every number in each message on the chosen channel
// becomes a point of its own series (first number, second number…), plotted over the last minutes (browser code).
import type { TailEntry } from '../dashboard-types.js';
import { PADDING, prepareCanvas, SPAN_MS } from './chart-canvas.js';

/** Series drawn per message: `id, counter, temperature` gives three. */
const MAX_SERIES = 4;
/** Points kept per series (a busy channel is thinned to the newest). */
const MAX_POINTS = 2000;
const COLORS = ['#2b7bd6', '#e0822b', '#3a9d5d', '#a05cc8'];
const NUMBER = /-?\d+(?:\.\d+)?(?:e[-+]?\d+)?/gi;

/** The numbers in a text payload preview, in order (at most MAX_SERIES). */
export function numbersIn(preview: string): number[] {
  return (preview.match(NUMBER) ?? []).slice(0, MAX_SERIES).map(Number).filter(Number.isFinite);
}

interface Point {
  time: number;
  value: number;
}

export class ValueChart {
  private series: Point[][] = [];
  private channel = '';

  constructor(
    private readonly canvas: HTMLCanvasElement,
    input: HTMLInputElement,
    private readonly latest: HTMLElement,
  ) {
    input.addEventListener('input', () => {
      this.channel = input.value.trim();
      this.series = [];
      this.latest.textContent = '';
      this.draw();
    });
    window.addEventListener('resize', () => this.draw());
  }

  /** Text payloads (TEXT, OBJECT, MJSON previews) on the chosen channel; binary previews are hex, not numbers. */
  add(entries: TailEntry[]): void {
    if (this.channel === '') return;
    let changed = false;
    for (const entry of entries) {
      if (entry.tag !== this.channel || entry.payloadType === 2 /* BINARY */) continue;
      const values = numbersIn(entry.preview);
      values.forEach((value, index) => {
        const points = (this.series[index] ??= []);
        points.push({ time: entry.time, value });
        if (points.length > MAX_POINTS) points.splice(0, points.length - MAX_POINTS);
      });
      if (values.length > 0) {
        this.latest.textContent = values.join(', ');
        changed = true;
      }
    }
    if (changed) this.draw();
  }

  private draw(): void {
    const canvas = prepareCanvas(this.canvas);
    if (!canvas) return;
    const { ctx, width, height, muted } = canvas;
    const all = this.series.flat();
    const now = Math.max(Date.now(), ...all.map((p) => p.time));
    const shown = all.filter((p) => p.time >= now - SPAN_MS);
    const low = Math.min(0, ...shown.map((p) => p.value));
    let high = Math.max(1, ...shown.map((p) => p.value));
    if (high === low) high = low + 1;
    const plotWidth = width - PADDING.left - PADDING.right;
    const plotHeight = height - PADDING.top - PADDING.bottom;
    const x = (time: number): number => PADDING.left + plotWidth * (1 - (now - time) / SPAN_MS);
    const y = (value: number): number => PADDING.top + plotHeight * (1 - (value - low) / (high - low));
    ctx.strokeStyle = muted;
    ctx.fillStyle = muted;
    ctx.lineWidth = 0.5;
    ctx.font = '11px system-ui, sans-serif';
    for (const fraction of [0, 0.5, 1]) {
      const value = low + (high - low) * fraction;
      ctx.beginPath();
      ctx.moveTo(PADDING.left, y(value));
      ctx.lineTo(width - PADDING.right, y(value));
      ctx.stroke();
      ctx.fillText(String(Number(value.toPrecision(4))), 4, y(value) + 4);
    }
    if (this.channel === '') ctx.fillText('type a channel name above to plot its numbers', PADDING.left + 8, PADDING.top + 14);
    this.series.forEach((points, index) => {
      ctx.strokeStyle = COLORS[index % COLORS.length]!;
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      points.forEach((point, i) => {
        if (i === 0) ctx.moveTo(x(point.time), y(point.value));
        else ctx.lineTo(x(point.time), y(point.value));
      });
      ctx.stroke();
    });
  }
}
