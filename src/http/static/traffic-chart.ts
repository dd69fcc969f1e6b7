// Messages in and out per second over the last minutes, drawn on a canvas (browser code).
import type { TrafficPoint } from '../dashboard-types.js';
import { formatCount } from './format.js';
import { PADDING, prepareCanvas, SPAN_MS } from './chart-canvas.js';


export class TrafficChart {
  private points: TrafficPoint[] = [];

  constructor(private readonly canvas: HTMLCanvasElement) {
    window.addEventListener('resize', () => this.draw());
  }

  reset(points: TrafficPoint[]): void {
    this.points = points.slice();
    this.draw();
  }

  add(point: TrafficPoint): void {
    this.points.push(point);
    const oldest = point.time - SPAN_MS;
    while (this.points.length > 0 && this.points[0]!.time < oldest) this.points.shift();
    this.draw();
  }

  private draw(): void {
    const canvas = prepareCanvas(this.canvas);
    if (!canvas) return;
    const { ctx, width, height, style, muted } = canvas;
    const now = this.points.at(-1)?.time ?? Date.now();
    const top = Math.max(1, ...this.points.map((p) => Math.max(p.messagesIn, p.messagesOut)));
    const plotWidth = width - PADDING.left - PADDING.right;
    const plotHeight = height - PADDING.top - PADDING.bottom;
    const x = (time: number): number => PADDING.left + plotWidth * (1 - (now - time) / SPAN_MS);
    const y = (value: number): number => PADDING.top + plotHeight * (1 - value / top);

    ctx.strokeStyle = muted;
    ctx.fillStyle = muted;
    ctx.lineWidth = 0.5;
    ctx.font = '11px system-ui, sans-serif';
    for (const fraction of [0, 0.5, 1]) {
      ctx.beginPath();
      ctx.moveTo(PADDING.left, y(top * fraction));
      ctx.lineTo(width - PADDING.right, y(top * fraction));
      ctx.stroke();
      ctx.fillText(formatCount(top * fraction), 4, y(top * fraction) + 4);
    }
    ctx.textAlign = 'center';
    for (let minute = 1; minute <= 5; minute++) ctx.fillText(`-${minute}m`, x(now - minute * 60_000), height - 4);
    ctx.textAlign = 'right';
    ctx.fillText('now', width - PADDING.right, height - 4);

    this.line(ctx, x, y, (p) => p.messagesIn, style.getPropertyValue('--in') || '#2b7bd6');
    this.line(ctx, x, y, (p) => p.messagesOut, style.getPropertyValue('--out') || '#e0822b');
  }

  private line(
    ctx: CanvasRenderingContext2D,
    x: (time: number) => number,
    y: (value: number) => number,
    value: (point: TrafficPoint) => number,
    color: string,
  ): void {
    ctx.strokeStyle = color;
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    this.points.forEach((point, index) => {
      if (index === 0) ctx.moveTo(x(point.time), y(value(point)));
      else ctx.lineTo(x(point.time), y(value(point)));
    });
    ctx.stroke();
  }
}
