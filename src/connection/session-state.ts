// A session's yes/no states and its protocol state packed into one small integer: every connection holds one
// number instead of eight fields (each a tagged word of its own), so idle connections stay small. Connection
// extends it (through session-identity.ts).
import type { StateCode } from '../protocol/codes.js';
import type { DeviceKind } from '../info.js';

const TLS = 1;
const AUTHORIZED = 2;
const ADMIN = 4;
const ALIVE = 8;
const CLOSED = 16;
const QUIET_CLOSE = 32;
/** Declared a serial bridge at its upgrade (for good), or by its IAM nick (until its next IAM says otherwise). */
const SERIAL_DECLARED = 64;
const SERIAL_NICK = 128;
/** Bits 0..7 are the flags above; the protocol state (a StateCode, below 256) sits above them. */
const FLAG_BITS = 0xff;
const STATE_SHIFT = 8;

export abstract class SessionState {
  private bits: number;

  constructor(tls: boolean, state: StateCode) {
    this.bits = ALIVE | (tls ? TLS : 0) | (state << STATE_SHIFT);
  }

  /** Where the session is in the protocol (§3). */
  get state(): StateCode {
    return (this.bits >>> STATE_SHIFT) as StateCode;
  }

  set state(code: StateCode) {
    this.bits = (this.bits & FLAG_BITS) | (code << STATE_SHIFT);
  }

  /** The transport is TLS, or a trusted proxy says the client came over https. */
  get tls(): boolean {
    return (this.bits & TLS) !== 0;
  }

  /** Logged in (Boho, bearer or certificate). */
  get authorized(): boolean {
    return (this.bits & AUTHORIZED) !== 0;
  }

  set authorized(on: boolean) {
    this.set(AUTHORIZED, on);
  }

  /** At the admin level. */
  get admin(): boolean {
    return (this.bits & ADMIN) !== 0;
  }

  set admin(on: boolean) {
    this.set(ADMIN, on);
  }

  /** Set by any incoming traffic; cleared by each keepalive sweep (§1.3). */
  get alive(): boolean {
    return (this.bits & ALIVE) !== 0;
  }

  set alive(on: boolean) {
    this.set(ALIVE, on);
  }

  /** The link is gone and the session ended: it takes and runs nothing more. */
  get closed(): boolean {
    return (this.bits & CLOSED) !== 0;
  }

  /** Set when the CID lives on elsewhere (replaced by a login on another cluster node): no close notices. */
  get quietClose(): boolean {
    return (this.bits & QUIET_CLOSE) !== 0;
  }

  set quietClose(on: boolean) {
    this.set(QUIET_CLOSE, on);
  }

  /** The kind its client declared (an io-serial bridge), or null: the link's own kind comes first (describe). */
  get declaredKind(): DeviceKind | null {
    return (this.bits & (SERIAL_DECLARED | SERIAL_NICK)) !== 0 ? 'serial' : null;
  }

  /**
   * An io-serial bridge says so: for good at its upgrade (`X-Iosig-Device: serial`, `nick` false), or through its
   * IAM nick `serial:<port>` (what every version sends, CongSocket bridges included), which a later IAM may undo.
   */
  declareSerial(on: boolean, nick: boolean): void {
    this.set(nick ? SERIAL_NICK : SERIAL_DECLARED, on);
  }

  protected markClosed(): void {
    this.set(CLOSED, true);
  }

  private set(bit: number, on: boolean): void {
    this.bits = on ? this.bits | bit : this.bits & ~bit;
  }
}
