// The access decision (issue 18): may this subject do this right on this object? Deny wins over allow; what no
// rule allows is denied once rules are in force; with no rules (and no session rights) everything is allowed,
// exactly as before access control existed.
//
// Cost. A decision is computed once per subject, right and key and then cached, so the check a delivery needs is
// one generation compare and one Map lookup. Subjects to whom the same rules apply (the same *profile*: every
// anonymous device of one network, every level-3 member…) share one cache per right; a subject gets a cache of
// its own only for the rights where a placeholder rule ({cid}, {did}) or its own session rights apply to it.
// Reloading the rules bumps the generation; every cache is dropped lazily at its subject's next check.
import { bindLevels, levelsCover, levelsIntersect, objectOfKey, patternMatches, type AccessFilter, type AccessObject } from './pattern.js';
import { RIGHT_INDEX, RIGHTS, type Right } from './rights.js';
import type { Rule, RuleSet } from './rules.js';
import { parseClientAddress, subjectHolds, type SubjectFacts } from './subject.js';
import type { Grants } from './grants.js';
import type { Rate, TrafficRates } from '../guard/rate-spec.js';

export interface AccessLimits {
  /** Decisions one subject keeps for itself (placeholder rules, session rights); past it its cache starts afresh. */
  maxDecisionsPerSubject: number;
  /** Decisions one profile keeps for the subjects that share it. */
  maxDecisionsPerProfile: number;
  /** Profiles remembered for sharing; past it the table starts afresh (live subjects keep theirs). */
  maxProfiles: number;
}

export const DEFAULT_ACCESS_LIMITS: AccessLimits = {
  maxDecisionsPerSubject: 4096,
  maxDecisionsPerProfile: 65_536,
  maxProfiles: 65_536,
};

/** What a subscription filter can deliver: every channel it matches, some of them (check each), or none. */
export type FilterVerdict = 'all' | 'some' | 'none';

export interface AccessChange {
  readonly generation: number;
  /** Rules now in force; null = no ACL (everything allowed). */
  readonly rules: RuleSet | null;
}

/** What the rules without placeholders say about one key, for every subject of a profile. */
const NONE = 0;
const ALLOW = 1;
const DENY = 2;
type Verdict = typeof NONE | typeof ALLOW | typeof DENY;

interface Profile {
  /** Per subject expression of the rule set: does it hold? */
  readonly applies: Uint8Array;
  /** Per right: the placeholder rules that apply (their outcome depends on each subject's own id and CID). */
  readonly templated: readonly (readonly Rule[])[];
  /** Per right: the verdict of the shared (placeholder-free) rules per key. */
  readonly verdicts: Map<string, Verdict>[];
  rates: TrafficRates | null | undefined;
}

const NO_RULES_PROFILE: Profile = { applies: new Uint8Array(0), templated: RIGHTS.map(() => []), verdicts: [], rates: null };

/** One connection as the rules see it. Made by AccessControl.subject(); updated when a login changes it. */
export class AccessSubject {
  /** @internal The generation its profile and caches belong to; -1 = stale. */
  gen = -1;
  /** @internal */
  profile: Profile = NO_RULES_PROFILE;
  /**
   * @internal Per right: null when the profile's shared verdicts decide alone; else this subject's own decisions
   * (placeholder rules or session rights apply to it).
   */
  own: (Map<string, boolean> | null)[] = [];

  constructor(
    private current: SubjectFacts,
    private grantsOwn: Grants | null,
    private superuserOwn: boolean,
  ) {}

  get facts(): SubjectFacts {
    return this.current;
  }

  get grants(): Grants | null {
    return this.grantsOwn;
  }

  /** Allowed everything (an auth hook's superuser answer). */
  get superuser(): boolean {
    return this.superuserOwn;
  }

  /** A login (or a new CID) changed who this is: every decision is made again. */
  update(facts: Partial<SubjectFacts>, session?: { grants?: Grants | null; superuser?: boolean }): void {
    this.current = { ...this.current, ...facts };
    if (session?.grants !== undefined) this.grantsOwn = session.grants;
    if (session?.superuser !== undefined) this.superuserOwn = session.superuser;
    this.gen = -1;
  }
}

export class AccessControl {
  private rules: RuleSet | null = null;
  private gen = 1;
  private readonly profiles = new Map<string, Profile>();
  private readonly listeners = new Set<(change: AccessChange) => void>();
  readonly limits: AccessLimits;

  constructor(limits: Partial<AccessLimits> = {}) {
    this.limits = { ...DEFAULT_ACCESS_LIMITS, ...limits };
  }

  get ruleSet(): RuleSet | null {
    return this.rules;
  }

  /** Rules are in force (an ACL was loaded): what no rule allows is denied. */
  get configured(): boolean {
    return this.rules !== null;
  }

  get generation(): number {
    return this.gen;
  }

  /** New rules (a reload) or none; every cached decision is void. Listeners run after the switch. */
  replace(rules: RuleSet | null): void {
    this.rules = rules;
    this.gen++;
    this.profiles.clear();
    const change: AccessChange = { generation: this.gen, rules };
    for (const listener of [...this.listeners]) listener(change);
  }

  /** Calls `listener` after every replace(); returns the function that stops it. */
  onChange(listener: (change: AccessChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  subject(facts: SubjectFacts, session: { grants?: Grants | null; superuser?: boolean } = {}): AccessSubject {
    return new AccessSubject(facts, session.grants ?? null, session.superuser ?? false);
  }

  /** The one decision: may `subject` use `right` on `key` (a router channel key, sendKey() or callKey())? */
  allows(subject: AccessSubject, right: Right, key: string): boolean {
    if (subject.superuser || (this.rules === null && subject.grants === null)) return true;
    if (subject.gen !== this.gen) this.refresh(subject);
    const r = RIGHT_INDEX[right];
    const own = subject.own[r];
    if (!own) {
      // Only shared rules speak to this subject for this right (so rules are in force: what none allows is denied).
      if (this.rules === null) return true;
      return this.sharedVerdict(subject.profile, r, key, null) === ALLOW;
    }
    const known = own.get(key);
    if (known !== undefined) return known;
    const verdict = this.decideOwn(subject, r, key);
    if (own.size >= this.limits.maxDecisionsPerSubject) own.clear();
    own.set(key, verdict);
    return verdict;
  }

  /** What the router asks per delivery of a concrete channel (wildcard subscriptions, replays, remote deliveries). */
  mayRead(subject: AccessSubject, key: string): boolean {
    return this.allows(subject, 'subscribe', key);
  }

  /** Of `keys`, those `subject` may no longer use for `right` (a reload: its denied subscriptions end). */
  deniedAmong(subject: AccessSubject, keys: Iterable<string>, right: Right = 'subscribe'): string[] {
    const denied: string[] = [];
    for (const key of keys) if (!this.allows(subject, right, key)) denied.push(key);
    return denied;
  }

  /**
   * Whether a subscription filter can be allowed at all (a SUBACK answer), and whether its deliveries need a
   * check each: 'all' = every channel it matches is readable (no per-delivery check), 'none' = none is (refuse
   * the subscription), 'some' = check each channel with mayRead(). Errs towards 'some', never towards a wrong
   * 'all' or 'none'.
   */
  filterVerdict(subject: AccessSubject, filter: AccessFilter, right: Right = 'subscribe'): FilterVerdict {
    if (subject.superuser || (this.rules === null && subject.grants === null)) return 'all';
    if (filter.levels.every((l) => l.t === 'lit')) {
      const key = keyOfExact(filter);
      if (key !== null) return this.allows(subject, right, key) ? 'all' : 'none';
    }
    if (subject.gen !== this.gen) this.refresh(subject);
    const bit = 1 << RIGHT_INDEX[right];
    let allowCovers = false;
    let allowTouches = false;
    let denyTouches = false;
    const consider = (rule: Rule): boolean => {
      if (!(rule.rights & bit)) return false;
      if (rule.subject >= 0 && !subject.profile.applies[rule.subject]) return false;
      const deny = rule.effect === 'deny';
      let covers = true; // `*` names everything, `$` channels included
      if (rule.pattern.kind !== 'any') {
        if (rule.pattern.kind !== filter.kind) return false;
        const levels = bindLevels(rule.pattern, subject.facts, deny);
        if (levels === null || !levelsIntersect(levels, filter.levels, filter.kind, deny)) return false;
        covers = levelsCover(levels, filter.levels, filter.kind, deny);
      }
      if (deny) {
        denyTouches = true;
        return covers; // a deny covering the whole filter settles it
      }
      allowTouches = true;
      allowCovers ||= covers;
      return false;
    };
    const all = [...(this.rules?.rules ?? []), ...(subject.grants?.rules ?? [])];
    for (const rule of all) if (consider(rule)) return 'none';
    const openByDefault = this.defaultAllows(subject, right);
    if (!denyTouches && (allowCovers || openByDefault)) return 'all';
    if (!allowTouches && !openByDefault) return 'none';
    return 'some';
  }

  /** The message and byte rates the `rate` rules set for `subject` (the strictest that apply), or null. */
  rateFor(subject: AccessSubject): TrafficRates | null {
    if (this.rules === null || this.rules.rates.length === 0) return null;
    if (subject.gen !== this.gen) this.refresh(subject);
    const profile = subject.profile;
    if (profile.rates !== undefined) return profile.rates;
    let messages: Rate | null = null;
    let bytes: Rate | null = null;
    const stricter = (a: Rate | null, b: Rate | null): Rate | null => (a === null ? b : b === null || a.perSecond <= b.perSecond ? a : b);
    for (const rule of this.rules.rates) {
      if (!profile.applies[rule.subject]) continue;
      messages = stricter(messages, rule.rates.messages);
      bytes = stricter(bytes, rule.rates.bytes);
    }
    profile.rates = messages || bytes ? { messages, bytes } : null;
    return profile.rates;
  }

  // ---- internals ---------------------------------------------------------------------------------------------

  /** Where no rule speaks: open when no ACL is in force and the session's own rights do not name the right. */
  private defaultAllows(subject: AccessSubject, right: Right): boolean {
    if (this.rules !== null) return false;
    const grants = subject.grants;
    return grants === null || !(grants.allowed & (1 << RIGHT_INDEX[right]));
  }

  /** The verdict of the shared rules on `key` for a profile, cached in the profile. */
  private sharedVerdict(profile: Profile, r: number, key: string, parsed: AccessObject | null): Verdict {
    const cache = profile.verdicts[r]!;
    const known = cache.get(key);
    if (known !== undefined) return known;
    const object = parsed ?? objectOfKey(key);
    let verdict: Verdict = object === null ? DENY : NONE;
    if (object !== null) {
      const bit = 1 << r;
      const applies = profile.applies;
      this.rules!.index[r]!.candidates(object, (rule) => {
        if (!applies[rule.subject] || !(rule.rights & bit)) return false;
        const deny = rule.effect === 'deny';
        // Shared rules hold no placeholder: the binding is never read.
        if (!patternMatches(rule.pattern, object, NO_BINDING, deny)) return false;
        verdict = deny ? DENY : ALLOW;
        return deny;
      });
    }
    if (cache.size >= this.limits.maxDecisionsPerProfile) cache.clear();
    cache.set(key, verdict);
    return verdict;
  }

  /** A decision for one subject: the shared verdict, then its placeholder rules and its own rights; deny wins. */
  private decideOwn(subject: AccessSubject, r: number, key: string): boolean {
    const object = objectOfKey(key);
    const right = RIGHTS[r]!;
    if (object === null) return this.defaultAllows(subject, right);
    const shared = this.rules === null ? NONE : this.sharedVerdict(subject.profile, r, key, object);
    if (shared === DENY) return false;
    const bit = 1 << r;
    const facts = subject.facts;
    let allowed = shared === ALLOW;
    const lists = [subject.profile.templated[r]!, subject.grants?.rules ?? []];
    for (const list of lists) {
      for (const rule of list) {
        if (!(rule.rights & bit)) continue;
        const deny = rule.effect === 'deny';
        if (!patternMatches(rule.pattern, object, facts, deny)) continue;
        if (deny) return false;
        allowed = true;
      }
    }
    return allowed || this.defaultAllows(subject, right);
  }

  /** Binds the subject to the current generation: its profile (shared when possible) and its own caches. */
  private refresh(subject: AccessSubject): void {
    const rules = this.rules;
    const profile = rules === null ? NO_RULES_PROFILE : this.profileFor(rules, subject.facts);
    const ownRights = subject.grants?.rules.reduce((mask, rule) => mask | rule.rights, 0) ?? 0;
    subject.profile = profile;
    subject.own = RIGHTS.map((_, r) => (ownRights & (1 << r) || profile.templated[r]!.length > 0 ? new Map() : null));
    subject.gen = this.gen;
  }

  private profileFor(rules: RuleSet, facts: SubjectFacts): Profile {
    const applies = new Uint8Array(rules.subjects.length);
    const address = parseClientAddress(facts.address);
    let signature = '';
    for (let i = 0; i < rules.subjects.length; i++) {
      if (!subjectHolds(rules.subjects[i]!, facts, address)) continue;
      applies[i] = 1;
      signature += `${i},`;
    }
    const known = this.profiles.get(signature);
    if (known) return known;
    const templated = rules.templated.map((list) => list.filter((rule) => applies[rule.subject]));
    const profile: Profile = { applies, templated, verdicts: RIGHTS.map(() => new Map()), rates: undefined };
    if (this.profiles.size >= this.limits.maxProfiles) this.profiles.clear();
    this.profiles.set(signature, profile);
    return profile;
  }
}

/** Shared rules have no placeholder, so they are matched with this binding, which nothing reads. */
const NO_BINDING = { cid: '', did: '' } as const;

/** The key of an exact filter, so an exact subscription shares the decision cache of its channel. */
function keyOfExact(filter: AccessFilter): string | null {
  const levels = filter.levels.map((l) => (l.t === 'lit' ? l.text : ''));
  switch (filter.kind) {
    case 'channel':
      return `CH:${levels.join('/')}`;
    case 'cid':
      return `CID:${levels[0]}@${levels.slice(1).join('/')}`;
    case 'home':
      // Any home prefix names the same object; the key only has to be one the decision reads as home.
      return `PRIVATE:#${levels.join('/')}`;
    case 'service':
      return null;
  }
}
