// Login sources outside the key store (issue 18 item 3): JWTs (a static key or a JWKS URL) and the auth hook.
// A device presents a token (`Authorization: Bearer`, `?token=`), a bearer key or a client certificate; this
// decides what the outside sources say of it. `ignore` passes it on to the key store, as README, Access control says:
// the hook first, then the key store, then anonymous.
import { JwtVerifier } from '../auth/jwt.js';
import { AuthHook, type HookRequest, type HookTransport } from '../auth/hook.js';
import { looksLikeJwt } from '../auth/credentials.js';
import { refreshRefusal, type ExternalIdentity } from '../auth/external-identity.js';
import type { PresentedIdentity } from '../guard/identity.js';
import type { AccessOptions } from '../access/access-options.js';
import type { OutsideVerdict } from '../connection/port.js';

/** What a verdict needs to know of the session asking (an iosignal connection, or an MQTT client). */
export interface OutsideAsker {
  readonly ip: string;
  readonly tls: boolean;
  readonly transport: 'ws' | 'cong' | 'mqtt';
  readonly link?: { readonly kind?: 'plain' };
  /** 'serial': an io-serial bridge that said so at its upgrade (`X-Iosig-Device: serial`). */
  readonly declaredKind?: string | null;
  /** The device id a verified client certificate names, also when a token is what is judged. */
  readonly certificate?: string | null;
  /** The MQTT client identifier, for the hook's `client_id`. */
  readonly clientId?: string;
}

/** The hook's `transport`: the listener, or what rides on it (a plain device, an io-serial bridge). */
export function hookTransportOf(s: OutsideAsker): HookTransport {
  if (s.link?.kind === 'plain') return 'plain';
  if (s.declaredKind === 'serial') return 'serial';
  return s.transport;
}

export class OutsideLogins {
  readonly jwt: JwtVerifier | null;
  readonly hook: AuthHook | null;

  constructor(options: AccessOptions, log: (line: string) => void) {
    const { jwt, authHook } = options;
    this.jwt = jwt === null ? null : jwt instanceof JwtVerifier ? jwt : new JwtVerifier(jwt);
    this.hook = authHook === null ? null : new AuthHook({ ...authHook, log });
  }

  get configured(): boolean {
    return this.jwt !== null || this.hook !== null;
  }

  /** The outside verdict on `identity`; null when no outside source judges this kind (the key store does). */
  decide(s: OutsideAsker, identity: PresentedIdentity): Promise<OutsideVerdict> | null {
    if (identity.kind === 'token' && this.jwt && looksLikeJwt(identity.token)) return this.verifyJwt(identity.token);
    if (this.hook) return this.askHook(s, identity);
    return null;
  }

  private async verifyJwt(token: string): Promise<OutsideVerdict> {
    const verdict = await this.jwt!.verify(token);
    return verdict.ok ? { kind: 'allow', identity: verdict.identity } : { kind: 'refuse', reason: verdict.reason, code: 'jwt' };
  }

  private async askHook(s: OutsideAsker, identity: PresentedIdentity): Promise<OutsideVerdict> {
    const transport = hookTransportOf(s);
    const request: HookRequest = {
      transport,
      peerhost: s.ip,
      tls: s.tls,
      device_id: identity.kind === 'bearer' ? identity.id : null,
      password: identity.kind === 'bearer' ? identity.key : null,
      token: identity.kind === 'token' ? identity.token : null,
      cert_id: identity.kind === 'certificate' ? identity.id : (s.certificate ?? null),
      client_id: s.clientId ?? null,
    };
    const decision = await this.hook!.decide(request);
    if (decision.kind === 'allow') return { kind: 'allow', identity: decision.identity };
    if (decision.kind === 'deny') return { kind: 'refuse', reason: `auth hook: ${decision.reason}`, code: 'hook' };
    return { kind: 'ignore', reason: `auth hook: ${decision.reason}` };
  }

  /**
   * CALL `token refresh <jwt>`: a fresh token for the same device and CID moves the session's end (and its rights);
   * the new identity, or why not.
   */
  async refresh(current: ExternalIdentity | null, token: string): Promise<{ ok: true; identity: ExternalIdentity } | { ok: false; reason: string }> {
    if (!this.jwt) return { ok: false, reason: 'JWT logins are off' };
    if (current === null || current.via !== 'jwt') return { ok: false, reason: 'this session did not log in with a token' };
    const verdict = await this.jwt.verify(token);
    if (!verdict.ok) return { ok: false, reason: verdict.reason };
    const refused = refreshRefusal(current, verdict.identity);
    return refused === null ? { ok: true, identity: verdict.identity } : { ok: false, reason: refused };
  }
}
