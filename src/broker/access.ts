// Access control wired into the broker (issue 18): the rules in force (file, text or Redis), each session's
// subject, the checks of every verb a session uses, and what a rule change does to live sessions.
//
// Where each check happens, and why that is every time: a decision is a function of (subject, right, key) that
// changes only when the rules are replaced or the subject changes (a login). iosignal subscriptions name one
// channel each, so checking `subscribe` when a channel is joined — before its retained value (channel or CID,
// local or fetched from another node) is replayed — and again for every live subscription on every rule change
// and every login, gives the same answer as a check per delivery, at no cost per delivery; deliveries that arrive
// from another node reach only local subscriptions checked here. Publishes, unicasts, CID publishes, retained
// writes and calls are checked on each message, on the node where the session is.
import { stat } from 'node:fs/promises';
import { AccessControl, type AccessChange, type AccessSubject } from '../access/engine.js';
import { AccessDenials } from '../access/denials.js';
import { AclFile, describeRules } from '../access/acl-file.js';
import { AclRedisSource } from '../access/acl-redis.js';
import { parseAcl } from '../access/rules.js';
import { callKey, channelFilter, sendKey } from '../access/pattern.js';
import type { Right } from '../access/rights.js';
import type { SubjectFacts } from '../access/subject.js';
import type { AccessOptions } from '../access/access-options.js';
import { CHANNEL_PREFIX, CID_PREFIX, channelKey, isReservedTag, isRetainedKey, unicastTopic } from '../router/tags.js';
import type { Grants } from '../access/grants.js';

/** What a session is, as the rules see it (the broker's Connection has all of it). */
export interface AccessHolder {
  readonly ssid: number;
  readonly cid: string;
  readonly did: string;
  readonly level: number;
  readonly authorized: boolean;
  readonly ip: string;
  readonly home: string;
  /** The device id its verified client certificate names, logged in or not. */
  readonly certificate: string | null;
  /** Rights of its own (a JWT's claim, an auth hook's answer) and the superuser flag. */
  readonly grants: Grants | null;
  readonly superuser: boolean;
  /** Its subject, made on its first check (the broker keeps it on the session). */
  accessSubject: AccessSubject | null;
  /** The last tag it was allowed to publish in full, under which rules generation (see BrokerAccess.publish). */
  publishMemo: PublishMemo | null;
}

/** A device publishes on the same few tags again and again: its last allowed one is remembered. */
export interface PublishMemo {
  readonly tag: string;
  readonly generation: number;
}

/** A publish is allowed, allowed without keeping its retained value, or denied. */
export type PublishVerdict = 'ok' | 'no-retain' | 'denied';

export function factsOf(s: AccessHolder): SubjectFacts {
  return { authenticated: s.authorized, did: s.did, cid: s.cid, level: s.level, address: s.ip, certificate: s.certificate };
}

/** The tag a client wrote for a router key (for notices): `CH:x` → `x`, `CID:a@t` → `a@t`, `<home>#t` → `#t`. */
export function tagOfKey(key: string, home: string): string {
  if (key.startsWith(CHANNEL_PREFIX)) return key.slice(CHANNEL_PREFIX.length);
  if (key.startsWith(CID_PREFIX)) return key.slice(CID_PREFIX.length);
  return key.startsWith(home) ? key.slice(home.length) : key;
}

export class BrokerAccess {
  readonly engine = new AccessControl();
  readonly denials: AccessDenials;
  private file: AclFile | null = null;
  private redis: AclRedisSource | null = null;
  private watchTimer: NodeJS.Timeout | null = null;
  private lastModified = 0;
  /** Reloads of the file refused (the rules in force stayed). */
  reloadFailures = 0;

  constructor(
    private readonly options: AccessOptions,
    private readonly log: (line: string) => void,
    denialCounts?: Record<Right, number>,
  ) {
    this.denials = new AccessDenials(log, undefined, denialCounts);
  }

  /** Loads the rules (an unusable file or text rejects: the server does not start). */
  async open(): Promise<void> {
    const { aclFile, aclText, aclRedis, aclWatchMs } = this.options;
    if (aclText !== null) {
      const rules = parseAcl(aclText, 'acl text');
      this.engine.replace(rules);
      this.log(`acl (text): ${describeRules(rules)}`);
    }
    if (aclFile !== null) {
      this.file = await AclFile.open(aclFile, this.engine, this.log);
      if (aclWatchMs > 0) this.watch(this.file, aclWatchMs);
    }
    if (aclRedis !== null) {
      this.redis = new AclRedisSource(this.engine, { ...aclRedis, log: this.log });
      await this.redis.start();
    }
  }

  /** Rules are in force (what no rule allows is denied). */
  get configured(): boolean {
    return this.engine.configured;
  }

  /** SIGHUP: the file again (Redis rules reload by themselves); false when it was refused. */
  async reload(): Promise<boolean | null> {
    if (!this.file) return null;
    const result = await this.file.reload();
    if (!result.ok) this.reloadFailures++;
    return result.ok;
  }

  /** Runs `listener` after every change of the rules in force. */
  onChange(listener: (change: AccessChange) => void): () => void {
    return this.engine.onChange(listener);
  }

  async close(): Promise<void> {
    if (this.watchTimer) clearInterval(this.watchTimer);
    this.watchTimer = null;
    await this.redis?.close();
  }

  /** Looks at the file's modification time; a change reloads it (a failed reload keeps the rules in force). */
  private watch(file: AclFile, ms: number): void {
    const look = async (): Promise<void> => {
      try {
        const info = await stat(file.path);
        if (this.lastModified !== 0 && info.mtimeMs !== this.lastModified) {
          this.lastModified = info.mtimeMs;
          const result = await file.reload();
          if (!result.ok) this.reloadFailures++;
          return;
        }
        this.lastModified = info.mtimeMs;
      } catch {
        // A file being replaced may be missing for a moment; SIGHUP still works.
      }
    };
    void look();
    this.watchTimer = setInterval(() => void look(), ms);
    this.watchTimer.unref();
  }

  // ---- subjects -------------------------------------------------------------------------------

  subjectOf(s: AccessHolder): AccessSubject {
    return (s.accessSubject ??= this.engine.subject(factsOf(s), { grants: s.grants, superuser: s.superuser }));
  }

  /** Who the session is changed (a login, a CID): every decision about it is made again. */
  identityChanged(s: AccessHolder): void {
    s.publishMemo = null;
    s.accessSubject?.update(factsOf(s), { grants: s.grants, superuser: s.superuser });
  }

  private allows(s: AccessHolder, right: Right, key: string, what: string): boolean {
    if (this.engine.allows(this.subjectOf(s), right, key)) return true;
    this.denials.record(right, `#${s.ssid} cid ${s.cid || '-'} did ${s.did || '-'}`, what);
    return false;
  }

  // ---- the checks ---------------------------------------------------------------------------

  /** SUBSCRIBE: the tags `s` may read (joined), and those it may not (never joined, nothing replayed). */
  subscribeTags(s: AccessHolder, tagList: string): { allowed: string[]; denied: string[] } {
    const allowed: string[] = [];
    const denied: string[] = [];
    for (const tag of tagList.split(',')) {
      if (this.allows(s, 'subscribe', channelKey(tag, s.home), tag)) allowed.push(tag);
      else denied.push(tag);
    }
    return { allowed, denied };
  }

  /**
   * SIGNAL / SIGNAL_E2E: `<cid>@<topic>` is a unicast (send on the target CID), `@<topic>` a CID publish (send on
   * its own CID), anything else a publish; a retained key needs `retain` too (without it: delivered, not kept).
   */
  publish(s: AccessHolder, tag: string): PublishVerdict {
    // Reserved tags are refused by the router before any rule is asked.
    if (isReservedTag(tag)) return 'ok';
    // The same tag as last time, under the same rules and the same identity (a login or a rule change makes the
    // subject stale, `gen` -1, until its next decision): allowed again without a key or a lookup. Only a full
    // allow is remembered, so every denial is still counted and logged.
    const memo = s.publishMemo;
    const generation = this.engine.generation;
    if (memo !== null && memo.tag === tag && memo.generation === generation && s.accessSubject?.gen === generation) return 'ok';
    const verdict = this.decidePublish(s, tag);
    s.publishMemo = verdict === 'ok' ? { tag, generation } : null;
    return verdict;
  }

  private decidePublish(s: AccessHolder, tag: string): PublishVerdict {
    const at = tag.indexOf('@');
    if (at > 0) return this.allows(s, 'send', sendKey(tag.slice(0, at), unicastTopic(tag, at)), tag) ? 'ok' : 'denied';
    let key: string;
    if (at === 0) {
      key = sendKey(s.cid, tag.slice(1));
      if (!this.allows(s, 'send', key, tag)) return 'denied';
    } else {
      key = channelKey(tag, s.home);
      if (!this.allows(s, 'publish', key, tag)) return 'denied';
    }
    if (isRetainedKey(key) && !this.allows(s, 'retain', key, tag)) return 'no-retain';
    return 'ok';
  }

  /** CALL `<service>` `<command>`. */
  call(s: AccessHolder, service: string, command: string): boolean {
    return this.allows(s, 'call', callKey(service, command), `${service}/${command}`);
  }

  /** Of the router keys `s` subscribes to, those it may no longer read (a rule change, a login). */
  deniedSubscriptions(s: AccessHolder, keys: Iterable<string>): string[] {
    return this.engine.deniedAmong(this.subjectOf(s), keys, 'subscribe');
  }

  /**
   * The dashboard's send form (a request with the admin token, subject `dashboard`): a channel needs `publish`,
   * `<cid>@<topic>` needs `send`, a message to everyone needs `publish` on every channel.
   */
  dashboardMay(tag: string, everyone: boolean, address: string): boolean {
    if (!this.engine.configured) return true;
    const facts: SubjectFacts = { authenticated: false, did: '', cid: '', level: 255, address, certificate: null, dashboard: true };
    const subject = this.engine.subject(facts);
    const who = `the dashboard (${address})`;
    let allowed: boolean;
    let right: Right = 'publish';
    if (everyone) allowed = this.engine.filterVerdict(subject, channelFilter('#'), 'publish') === 'all';
    else {
      const at = tag.indexOf('@');
      if (at > 0) {
        right = 'send';
        allowed = this.engine.allows(subject, 'send', sendKey(tag.slice(0, at), unicastTopic(tag, at)));
      } else {
        const key = channelKey(tag, '');
        allowed = this.engine.allows(subject, 'publish', key) && (!isRetainedKey(key) || this.engine.allows(subject, 'retain', key));
      }
    }
    if (!allowed) this.denials.record(right, who, everyone ? `${tag} (to everyone)` : tag);
    return allowed;
  }

  /** For metrics: rules in force (null when none). */
  get ruleCount(): number | null {
    return this.engine.ruleSet?.rules.length ?? null;
  }
}
