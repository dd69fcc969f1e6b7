// The one duplicate-login rule (§4.8, Q21 fix), for every way a device logs in (Boho 5.x and 1.x, bearer,
// certificate; any transport): every check of the login has passed except this one, which needs the CID index as
// it is now. In a cluster a CID no local session holds is claimed cluster-wide first (the holder's node applies
// the same rule). Under keep-old the old session is probed (guard/duplicate-login.ts): a silent one is the stale
// socket of a device that reconnected after a network drop, and is closed; a live one keeps the CID. Under replace
// the old one gets AUTH_CLEAR and is closed, after the CID has moved (so its close publishes no offline notice
// for a device that is online).
import type { DuplicateLoginPolicy } from '../policies.js';
import { encodeAuthClear } from '../protocol/messages.js';
import { probeLiveness } from '../guard/duplicate-login.js';
import type { Clock } from '../clock.js';
import type { Router } from '../router/router.js';
import type { Connection } from '../connection/connection.js';
import type { CidClaim } from '../connection/port.js';
import { containAsync } from '../connection/contain.js';

/** A CID claimed across nodes: the holder's node applied the rule. */
export type ClusterClaim = { ok: true } | { ok: false; reason: string };

export interface ClaimRules {
  readonly duplicateLogin: DuplicateLoginPolicy;
  /** How long an old session has to answer the probe (keep-old), in ms. */
  readonly duplicateProbeTimeout: number;
  readonly clock: Clock;
  /** In a cluster: claims `cid` on the other nodes; null on a single node (the rule stays synchronous). */
  readonly claimAcross: ((cid: string) => Promise<ClusterClaim>) | null;
}

/**
 * Applies the rule to `session`'s login for `cid`; `then` gets the outcome, at once when it is decided now.
 * `claimed`: the cluster has agreed already; `stale`: the silent session just torn down after a probe (its socket
 * may take a moment to report closed), on the second pass.
 */
export function claimCid(
  rules: ClaimRules,
  router: Router<Connection>,
  session: Connection,
  cid: string,
  then: (claim: CidClaim) => void,
  claimed = false,
  stale: Connection | null = null,
): void {
  const existing = router.cids.get(cid);
  if (!existing && router.tap?.holds(cid)) {
    // MQTT clients hold it (the tap): keep-old refuses (MQTT has its own keepalive, no probe); replace ends them.
    if (rules.duplicateLogin === 'keep-old') return then({ ok: false, reason: `duplicate login for cid "${cid}" (keep old: MQTT clients hold it)` });
    router.setCid(session, cid);
    router.tap.takeOver?.(cid);
    return then({ ok: true });
  }
  if (!existing && !claimed && rules.claimAcross) {
    containAsync(session, 'a cluster CID claim', rules.claimAcross(cid), (claim) => {
      if (claim.ok) return claimCid(rules, router, session, cid, then, true);
      then(claim);
    });
    return;
  }
  if (existing === session) return then({ ok: true, held: true });
  const rival = existing && existing !== stale && !existing.closed ? existing : null;
  if (rival && rules.duplicateLogin === 'keep-old') {
    const live = `duplicate login for cid "${cid}" (keep old: the old session answered the probe)`;
    if (stale) return then({ ok: false, reason: live });
    const deadline = rules.duplicateProbeTimeout;
    containAsync(session, 'the duplicate-login probe', probeLiveness(rival, deadline, rules.clock), (alive) => {
      if (alive) return then({ ok: false, reason: live });
      if (!rival.closed) rival.close(`stale session: no answer within ${deadline} ms to the probe of a duplicate login from #${session.ssid}`, 'abort');
      // The index may have changed meanwhile (another login): decide again, without a second probe.
      claimCid(rules, router, session, cid, then, claimed, rival);
    });
    return;
  }
  router.setCid(session, cid);
  if (rival) replaceSession(rival, `#${session.ssid}`);
  then({ ok: true });
}

/** Replace: the old session is told and closed, a ping first, like the reference. */
function replaceSession(rival: Connection, by: string): void {
  rival.probe();
  rival.channel.sendPlain(encodeAuthClear('duplicate login.'));
  rival.close(`duplicate login: replaced by ${by}`);
}

/**
 * The same rule for a login outside the CID index (an MQTT client, mqtt/iosig-port.ts) whose CID a local session
 * holds: keep-old probes it and refuses the newcomer when it answers; replace closes it (quietly: the device
 * stays online). True when the newcomer may take the CID. MQTT clients among themselves keep sharing a CID.
 */
export async function claimCidOutside(rules: ClaimRules, router: Router<Connection>, cid: string, who: string): Promise<boolean> {
  const rival = router.cids.get(cid);
  if (!rival || rival.closed) return true;
  if (rules.duplicateLogin === 'keep-old') {
    const deadline = rules.duplicateProbeTimeout;
    if (await probeLiveness(rival, deadline, rules.clock)) return false;
    if (!rival.closed) rival.close(`stale session: no answer within ${deadline} ms to the probe of a duplicate login from ${who}`, 'abort');
    return true;
  }
  rival.quietClose = true;
  replaceSession(rival, who);
  return true;
}
