// Who a session is, as the rules around it see it: its client address and home prefix, the device its client
// certificate names, who an outside source (a JWT, the auth hook) says it is and the rights that came with that,
// what the access rules keep on it (broker/access.ts), and who its holdings in the router's cap shares are charged
// to. Connection extends it, as it extends SessionState: a base class's fields cost an idle connection no more
// than its own, where an object of their own would cost one more.
import { shareOwnerOf, type ShareOwner } from '../router/cap-shares.js';
import { throttleKey } from '../guard/login-guard.js';
import { homePrefix } from '../guard/address.js';
import type { StateCode } from '../protocol/codes.js';
import type { AccessSubject } from '../access/engine.js';
import type { PublishMemo } from '../broker/access.js';
import type { Grants } from '../access/grants.js';
import type { ExternalIdentity } from '../auth/external-identity.js';
import type { SessionPeer } from './port.js';
import { SessionState } from './session-state.js';

/**
 * The last client address and its home prefix: the connections of a burst from one address (a NAT, a gateway,
 * a load generator) share one string of each, and the prefix is worked out once.
 */
let lastIp: string | null = null;
let lastHome = '';
/** The same for the owner key of an anonymous session's holdings in the cap shares. */
let lastOwnerIp: string | null = null;
let lastOwner = '';

export abstract class SessionIdentity extends SessionState {
  readonly ip: string;
  readonly home: string;
  /** Its address unit's owner key in the router's cap shares, made on first use. */
  private addressOwner: string | null = null;
  /** The device id its verified client certificate names (the access rules' `cert:`), logged in or not. */
  readonly certificate: string | null;
  /** Access control: its subject, made on its first check (broker/access.ts). */
  accessSubject: AccessSubject | null = null;
  /** The last tag the rules let it publish (broker/access.ts). */
  publishMemo: PublishMemo | null = null;
  /** Who an outside source (a JWT, the auth hook) says it is: its rights, superuser flag and end; null otherwise. */
  outside: ExternalIdentity | null = null;

  /** The device id of its login ('' without one). */
  abstract get did(): string;

  constructor(peer: SessionPeer, state: StateCode) {
    super(peer.tls, state);
    if (peer.ip !== lastIp) {
      lastIp = peer.ip;
      lastHome = homePrefix(peer.ip);
    }
    this.ip = lastIp ?? peer.ip;
    this.home = lastHome;
    this.certificate = peer.certificate ?? (peer.identity?.kind === 'certificate' ? peer.identity.id : null);
  }

  /** Rights that came with its login (a JWT's claim, an auth hook's answer); null: the ACL alone decides. */
  get grants(): Grants | null {
    return this.outside?.grants ?? null;
  }

  /** An auth hook said it may do everything. */
  get superuser(): boolean {
    return this.outside?.superuser ?? false;
  }

  /**
   * Who its holdings in the router's shared caps are charged to: its device once logged in, else its address unit
   * (an IPv4 address or an IPv6 /64, as the login throttle); null at the admin level.
   */
  get shareOwner(): ShareOwner {
    if (this.admin || this.authorized) return shareOwnerOf(this.authorized, this.admin, this.did, '');
    if (this.addressOwner === null) {
      // A burst from one address shares one owner key.
      if (this.ip !== lastOwnerIp) {
        lastOwnerIp = this.ip;
        lastOwner = shareOwnerOf(false, false, '', throttleKey(this.ip)) ?? '';
      }
      this.addressOwner = lastOwner;
    }
    return this.addressOwner;
  }
}
