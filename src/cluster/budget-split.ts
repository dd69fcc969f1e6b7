// The publishCounter quota across nodes: the publishing node splits what is left of the publisher's budget
// (after its own subscribers) among the nodes that want the key, and the envelope carries each node's share,
// so the shares add up to at most the budget and the cap holds cluster-wide. No subscriber counts cross the
// bus: a node with fewer subscribers than its share leaves the rest unused (the cap is a ceiling).

/** Node id → share, flattened as [node, share, node, share…] for the envelope. */
export type BudgetShares = (string | number)[];

/** Splits `budget` (≥ 0) evenly over `nodes`; the first `budget % n` nodes get one more. */
export function splitBudget(budget: number, nodes: Iterable<string>): BudgetShares {
  const ids = [...nodes];
  const shares: BudgetShares = [];
  if (ids.length === 0) return shares;
  const base = Math.floor(budget / ids.length);
  const extra = budget - base * ids.length;
  for (let i = 0; i < ids.length; i++) shares.push(ids[i]!, base + (i < extra ? 1 : 0));
  return shares;
}

/** This node's share in an envelope's budget: -1 (no cap), a plain number (older form: one cap for each node), or its share (0 when absent). */
export function shareFor(budget: number | BudgetShares, nodeId: string): number {
  if (typeof budget === 'number') return budget;
  for (let i = 0; i + 1 < budget.length; i += 2) if (budget[i] === nodeId) return budget[i + 1] as number;
  return 0;
}

/** A well-formed share list: pairs of a node id and a non-negative integer. */
export function isBudgetShares(v: unknown): v is BudgetShares {
  if (!Array.isArray(v) || v.length % 2 !== 0) return false;
  for (let i = 0; i < v.length; i += 2) {
    const share = v[i + 1];
    if (typeof v[i] !== 'string' || typeof share !== 'number' || !Number.isInteger(share) || share < 0) return false;
  }
  return true;
}
