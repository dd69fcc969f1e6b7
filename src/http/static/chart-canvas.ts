// What every dashboard chart does before it draws: size the canvas for the screen's pixel ratio, clear it, and read
// the theme's muted colour (browser code).

/** The span every chart shows, and the room left around its plot for the axis labels. */
export const SPAN_MS = 5 * 60_000;
export const PADDING = { left: 48, right: 8, top: 8, bottom: 18 };

export interface ChartCanvas {
  ctx: CanvasRenderingContext2D;
  width: number;
  height: number;
  /** The page's computed style, for theme colours (`--muted`, `--in`, `--out`). */
  style: CSSStyleDeclaration;
  muted: string;
}

export function prepareCanvas(canvas: HTMLCanvasElement): ChartCanvas | null {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  const ctx = canvas.getContext('2d');
  if (!ctx) return null;
  ctx.scale(ratio, ratio);
  ctx.clearRect(0, 0, width, height);
  const style = getComputedStyle(document.documentElement);
  return { ctx, width, height, style, muted: style.getPropertyValue('--muted') || '#667' };
}
