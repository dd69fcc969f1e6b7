// `--acl <file>`: rules from a text file, read at start (an invalid file stops the start, naming the lines at
// fault) and again on SIGHUP (an invalid file is refused whole and the rules in force stay).
import { open } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { AccessControl } from './engine.js';
import { ACL_LIMITS, AclError, parseAcl, type RuleSet } from './rules.js';
import { messageOf } from '../auth/error-message.js';

export type AclReload = { ok: true; rules: number } | { ok: false; error: string };

/** Reads a file of at most `maxBytes`, so a wrong path (a device, a huge log) cannot take the memory. */
export async function readBounded(path: string, maxBytes: number): Promise<string> {
  const handle = await open(path, 'r');
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new Error(`${path}: not a regular file`);
    if (info.size > maxBytes) throw new Error(`${path}: ${info.size} bytes, over the ${maxBytes} a rule source may hold`);
    const buffer = Buffer.alloc(Math.min(info.size, maxBytes) + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > maxBytes) throw new Error(`${path}: over the ${maxBytes} bytes a rule source may hold`);
    }
    return buffer.subarray(0, length).toString('utf8');
  } finally {
    await handle.close();
  }
}

/** One line about what is now in force, with a warning when it denies everything. */
export function describeRules(rules: RuleSet): string {
  const allow = rules.allowCount;
  const warning = allow === 0 ? ' — WARNING: no allow rule, everything is denied' : '';
  return `${rules.rules.length} rules (${allow} allow, ${rules.rules.length - allow} deny), ${rules.rates.length} rate lines${warning}`;
}

export class AclFile {
  readonly path: string;
  /** Reloads run one at a time: a SIGHUP storm reads the file in turn, the last one wins. */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    path: string,
    private readonly engine: AccessControl,
    private readonly log: (line: string) => void,
  ) {
    this.path = path;
  }

  /** Loads the file into `engine`; rejects (an AclError, or the file error) when it cannot be used. */
  static async open(path: string, engine: AccessControl, log: (line: string) => void): Promise<AclFile> {
    const file = new AclFile(resolve(path), engine, log);
    const rules = await file.read();
    engine.replace(rules);
    log(`acl ${file.path}: ${describeRules(rules)}`);
    return file;
  }

  /** SIGHUP: reads the file again; an unusable file leaves the rules in force (logged, with the lines at fault). */
  reload(): Promise<AclReload> {
    const run = this.queue.then(async (): Promise<AclReload> => {
      try {
        const rules = await this.read();
        this.engine.replace(rules);
        this.log(`acl ${this.path}: reloaded: ${describeRules(rules)}`);
        return { ok: true, rules: rules.rules.length };
      } catch (err) {
        const error = messageOf(err);
        const kept = this.engine.ruleSet?.rules.length ?? 0;
        this.log(`acl ${this.path}: reload FAILED, the previous ${kept} rules stay in force: ${error}`);
        return { ok: false, error };
      }
    });
    this.queue = run;
    return run;
  }

  private async read(): Promise<RuleSet> {
    let text: string;
    try {
      text = await readBounded(this.path, ACL_LIMITS.maxBytes);
    } catch (err) {
      throw new AclError(`acl ${this.path}`, [{ line: 0, reason: messageOf(err) }]);
    }
    return parseAcl(text, this.path);
  }
}
