// Rules for a cluster, in the cluster's Redis (README, Access control, "Rules in Redis"):
//   <prefix>:acl            a hash: `rules` = the ACL text (the file format), `version` = a counter, `updated` = ISO time
//   <prefix>:acl:changed    a pub/sub channel: the new version, published by every writer
// One key holds text and version, so a reader never sees one without the other. Each node reloads on the
// notification, on every reconnection, and when a once-a-second look at `version` finds it changed (a lost
// notification costs at most a second). Until a first rule set has been read the node denies everything: a node
// that cannot reach its rules must not serve as if there were none. An unusable rule set, or a missing key, keeps
// the rules in force, logged.
import type { Cluster, Redis } from 'ioredis';
import type { AccessControl } from './engine.js';
import { ACL_LIMITS, parseAcl, RuleSet } from './rules.js';
import { describeRules, type AclReload } from './acl-file.js';
import { messageOf } from '../auth/error-message.js';
import { connectRedis, type RedisTarget } from '../auth/redis-target.js';

export interface AclRedisOptions {
  target: RedisTarget;
  /** The cluster's key prefix (`--cluster-prefix`, default `iosig`). */
  prefix: string;
  /** How often `version` is looked at, besides the notifications (default 1000 ms). */
  pollMs: number;
  log: (line: string) => void;
}

export const ACL_REDIS_DEFAULTS = { prefix: 'iosig', pollMs: 1000 } as const;

export function aclRedisKeys(prefix: string): { hash: string; channel: string } {
  return { hash: `${prefix}:acl`, channel: `${prefix}:acl:changed` };
}

/** Anything that can run the few commands a writer needs: a Redis or a Cluster client. */
export type AclWriterRedis = Redis | Cluster;

/**
 * Stores a rule set for every node: checked first (an invalid text is refused with the lines at fault and nothing is
 * written), then written with a new version in one transaction, then announced. Resolves with the new version.
 */
export async function writeAclToRedis(redis: AclWriterRedis, prefix: string, text: string): Promise<number> {
  const { hash, channel } = aclRedisKeys(prefix);
  parseAcl(text, `redis ${hash}`);
  const replies = await redis.multi().hset(hash, 'rules', text, 'updated', new Date().toISOString()).hincrby(hash, 'version', 1).exec();
  const failed = replies?.find(([err]) => err);
  if (!replies || failed) throw new Error(`redis ${hash}: the rules were not written (${failed ? messageOf(failed[0]) : 'transaction aborted'})`);
  const version = Number(replies[1]![1]);
  await redis.publish(channel, String(version));
  return version;
}

/** The rule set in force before any was read: nothing is allowed. */
const nothingYet = (source: string): RuleSet => new RuleSet(`${source} (not read yet: everything is denied)`, [], [], []);

export class AclRedisSource {
  private readonly commands: Redis;
  private readonly subscriber: Redis;
  private readonly keys: { hash: string; channel: string };
  private readonly label: string;
  private version: string | null = null;
  private loading: Promise<AclReload> | null = null;
  private again = false;
  private poll: NodeJS.Timeout | null = null;
  private closed = false;
  /** What was last logged about a failure, so a steady failure is logged once, not every second. */
  private lastProblem = '';

  constructor(
    private readonly engine: AccessControl,
    private readonly options: AclRedisOptions,
  ) {
    this.keys = aclRedisKeys(options.prefix);
    this.label = `acl redis ${options.target.label} ${this.keys.hash}`;
    this.commands = connectRedis(options.target);
    this.subscriber = connectRedis(options.target);
    for (const client of [this.commands, this.subscriber]) client.on('error', () => undefined);
    // Fail closed until a rule set has been read.
    if (this.engine.ruleSet === null) this.engine.replace(nothingYet(this.label));
    this.subscriber.on('message', (channel: string) => {
      if (channel === this.keys.channel) void this.reload();
    });
    this.subscriber.on('ready', () => {
      // Subscribes (again) and catches up with anything missed while away.
      this.subscriber.subscribe(this.keys.channel).then(
        () => this.reload(),
        (err: unknown) => this.problem(`cannot subscribe to ${this.keys.channel}: ${messageOf(err)}`),
      );
    });
  }

  /** Starts watching; resolves after the first read (or after `waitMs`, still denying everything until one works). */
  async start(waitMs = 2000): Promise<void> {
    this.poll = setInterval(() => void this.checkVersion(), this.options.pollMs);
    this.poll.unref();
    const commands = this.commands;
    const ready = commands.status === 'ready' ? Promise.resolve() : new Promise<void>((resolve) => commands.once('ready', () => resolve()));
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, waitMs);
    });
    await Promise.race([ready.then(() => this.reload()), waited]);
    clearTimeout(timer);
  }

  /** Reads the rules now (also what a notification does). Concurrent calls share one read, and one more after it. */
  reload(): Promise<AclReload> {
    if (this.loading) {
      this.again = true;
      return this.loading;
    }
    const run = this.read().finally(() => {
      this.loading = null;
      if (this.again && !this.closed) {
        this.again = false;
        void this.reload();
      }
    });
    this.loading = run;
    return run;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.poll) clearInterval(this.poll);
    this.commands.disconnect();
    this.subscriber.disconnect();
  }

  private async checkVersion(): Promise<void> {
    if (this.closed || this.commands.status !== 'ready') return;
    try {
      const version = await this.commands.hget(this.keys.hash, 'version');
      if (version !== this.version) await this.reload();
    } catch {
      // The next tick tries again; outages are logged by read().
    }
  }

  private async read(): Promise<AclReload> {
    let version: string | null;
    let text: string | null;
    try {
      [version, text] = await this.commands.hmget(this.keys.hash, 'version', 'rules');
    } catch (err) {
      return this.failed(`cannot read the rules: ${messageOf(err)}`);
    }
    if (text === null) return this.failed(`no rules at ${this.keys.hash} (field "rules")`);
    if (version === this.version) return { ok: true, rules: this.engine.ruleSet?.rules.length ?? 0 };
    if (Buffer.byteLength(text) > ACL_LIMITS.maxBytes) return this.failed(`version ${version}: over ${ACL_LIMITS.maxBytes} bytes`);
    let rules: RuleSet;
    try {
      rules = parseAcl(text, `${this.label} version ${version}`);
    } catch (err) {
      // The same bad version is not parsed again every second.
      this.version = version;
      return this.failed(messageOf(err));
    }
    // A read that ends after close() changes nothing.
    if (this.closed) return { ok: false, error: 'closed' };
    this.version = version;
    this.lastProblem = '';
    this.engine.replace(rules);
    this.options.log(`${this.label}: version ${version}: ${describeRules(rules)}`);
    return { ok: true, rules: rules.rules.length };
  }

  private failed(error: string): AclReload {
    const kept = this.engine.ruleSet?.rules.length ?? 0;
    this.problem(`${error}; the previous ${kept} rules stay in force`);
    return { ok: false, error };
  }

  private problem(line: string): void {
    if (line === this.lastProblem) return;
    this.lastProblem = line;
    this.options.log(`${this.label}: ${line}`);
  }
}
