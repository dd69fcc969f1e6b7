// Summary statistics shared by the bench scripts and their reports.

/** Median of the finite values; NaN when there are none. */
export function median(xs: readonly number[]): number {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}

/** The `q` quantile (0..1) of an ascending list, by rank; NaN when it is empty. */
export const quantile = (sorted: readonly number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;

export const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);
