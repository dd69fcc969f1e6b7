// One published message on its way to many receivers: encoded once, framed for CongSocket at most once, and
// translated for plain devices at most once per format. It carries who published it, so receivers that show the
// sender (a plain device's JSON envelope) read it here, whichever way the message came (local, retained, bus),
// and who is charged for it, so the cluster bus takes its fair share from the right client.
import { encodeFrame } from '../protocol/congsocket.js';

/**
 * Who published a message: the publishing client's CID (`''` when it took none, or when a node of an older
 * version sent it over the bus), or `null` for the broker itself (the library's sendSignal, the dashboard, the
 * admin API). Only `null` means "the server": no client can produce it.
 */
export type Publisher = string | null;

/** The publisher of messages the server itself sends. */
export const SERVER: Publisher = null;

/** A message shared by many receivers; the CongSocket frame is built on first need and reused by every stream. */
export class Outbound {
  private framed: Buffer | undefined;
  /** Forms some receivers need (a plain device's frame), by the function that builds them; made on first need. */
  private forms: Map<(out: Outbound) => unknown, unknown> | undefined;

  /**
   * `owner`: who the publish's use of shared budgets is charged to (router/cap-shares.ts: its address unit while
   * anonymous, its device once logged in), so the cluster bus's fair share holds per client however many
   * connections it opens; '' for the server, the admin level, other nodes and retained replays.
   */
  constructor(
    readonly msg: Uint8Array,
    readonly publisher: Publisher,
    readonly owner = '',
  ) {}

  get frame(): Buffer {
    return (this.framed ??= encodeFrame(this.msg));
  }

  /**
   * `build(this)`, built for the first receiver that asks and shared by every later one of this publish. Only
   * for forms that depend on nothing but the message and its publisher.
   */
  /** What `shared(build)` made for this publish; undefined while nobody asked. */
  built<T>(build: (out: Outbound) => T): T | undefined {
    return this.forms?.get(build) as T | undefined;
  }

  shared<T>(build: (out: Outbound) => T): T {
    const forms = (this.forms ??= new Map());
    if (forms.has(build)) return forms.get(build) as T;
    const made = build(this);
    forms.set(build, made);
    return made;
  }
}
