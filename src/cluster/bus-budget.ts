// The outbox's rate policy (issue 16 item 9): a publisher that outruns the bus must not fill Redis's output buffer
// for the other nodes (Redis then cuts their subscription and everything sent to them meanwhile is lost, unrelated
// channels included). So each node has an outbound budget of data bytes per second, and each publishing
// client a fair share of it; what exceeds either is dropped at once, on the sender, and counted. A client is what
// the state caps' shares count (router/cap-shares.ts): one address while anonymous, one device once logged in, so
// opening more connections does not buy more of the bus.
//
// - Time runs in windows of WINDOW_MS. The node may send `bytesPerSecond × WINDOW_MS / 1000` per window; a
//   publisher about 1/(n + 1) of that, n being the publishers that crossed the bus in the previous window (or this
//   one, if more), so the one who floods always leaves room for the others, including one that was quiet.
// - Budgets are debts paid back each window: a send is admitted while the debt is below the allowance, and may
//   then go over it by one message (so a message larger than a window's allowance still passes, and the debt it
//   leaves holds its sender back for as many windows as it cost). Over time a publisher stays within its share.
// - Each data envelope costs its signal's bytes plus ENVELOPE_COST, so floods of tiny messages are bounded too.
// - Cost per send: one Map lookup (the publisher's account); the clock is read once per event-loop turn. Accounts
//   live only while they were used in the last window or still owe: a window's roll walks the accounts of the
//   window that ended, which that window's sends paid for.

/** Length of one budget window. */
export const WINDOW_MS = 100;
/** What a data envelope costs beyond its signal's bytes (the envelope, Redis's and the receiver's per-message work). */
export const ENVELOPE_COST = 128;

interface Account {
  /** Bytes owed: admitted while below the allowance, paid back by one allowance per window. */
  debt: number;
  /** The window it was last used in. */
  window: number;
}

export type BudgetRefusal = 'budget' | 'share';

export class BusBudget {
  private readonly perWindow: number;
  private window = 0;
  private nodeDebt = 0;
  /** Accounts used in the current window, or carried from earlier ones while they owe. */
  private accounts = new Map<string, Account>();
  /** Publishers seen in the previous window and in this one. */
  private activeBefore = 0;
  private activeNow = 0;

  constructor(
    bytesPerSecond: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.perWindow = (bytesPerSecond * WINDOW_MS) / 1000;
    this.window = Math.floor(this.now() / WINDOW_MS);
  }

  /** Reads the clock (once per event-loop turn is enough) and pays back whole windows that went by. */
  tick(): void {
    const window = Math.floor(this.now() / WINDOW_MS);
    if (window === this.window) return;
    const passed = window - this.window;
    const share = this.share();
    this.nodeDebt = Math.max(0, this.nodeDebt - this.perWindow * passed);
    const carried = new Map<string, Account>();
    for (const [publisher, account] of this.accounts) {
      account.debt = Math.max(0, account.debt - share * passed);
      if (account.debt > 0) carried.set(publisher, account);
    }
    this.accounts = carried;
    this.activeBefore = passed === 1 ? this.activeNow : 0;
    this.activeNow = 0;
    this.window = window;
  }

  /** A publisher's allowance per window: the node's, split among the active publishers and one more. */
  private share(): number {
    return this.perWindow / (Math.max(this.activeBefore, this.activeNow) + 1);
  }

  /**
   * Charges a data envelope of `bytes` signal bytes from `publisher` (an owner key; '' for the server itself, which
   * has no share but counts in the node's budget); null when admitted, else why not.
   */
  take(bytes: number, publisher: string): BudgetRefusal | null {
    let account: Account | null = null;
    if (publisher !== '') {
      account = this.accounts.get(publisher) ?? null;
      if (!account) this.accounts.set(publisher, (account = { debt: 0, window: -1 }));
      if (account.window !== this.window) {
        account.window = this.window;
        this.activeNow++;
      }
    }
    if (this.nodeDebt >= this.perWindow) return 'budget';
    if (account && account.debt >= this.share()) return 'share';
    const cost = bytes + ENVELOPE_COST;
    if (account) account.debt += cost;
    this.nodeDebt += cost;
    return null;
  }

  /** Publishers with an account now (tests, status). */
  get publishers(): number {
    return this.accounts.size;
  }
}
