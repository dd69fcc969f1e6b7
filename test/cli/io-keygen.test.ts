// io-keygen (§9.4): the exact box layout, --json, and the digit rule.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { generateKeygenValues, randomDigits } from '../../src/auth/keygen.js';
import { CHILD_PROCESS_DEADLINE_MS } from '../kit/wait.js';
import { ROOT } from '../kit/server.js';

const BIN = join(ROOT, 'bin', 'io-keygen.js');
const run = promisify(execFile);

const B64 = '[A-Za-z0-9+/]';
const BORDER = /^\+-{52}\+$/;

async function keygen(...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [BIN, ...args], { timeout: CHILD_PROCESS_DEADLINE_MS });
  return stdout;
}

describe('io-keygen', () => {
  it('prints the random values box', async () => {
    const lines = (await keygen()).split('\n');
    assert.equal(lines.length, 13, 'blank, title, 9 box lines, blank, and the final newline');
    assert.equal(lines[0], '');
    assert.equal(lines[1], ' random values');
    for (const i of [2, 4, 6, 8, 10]) assert.match(lines[i]!, BORDER);
    const idLine = lines[3]!.match(new RegExp(`^\\| ID: (${B64}{4})  KEY L20: (${B64}{20})$`));
    assert.ok(idLine, lines[3]);
    assert.equal(lines[5], `| ID_KEY:  ${idLine[1]}.${idLine[2]}`);
    assert.match(lines[7]!, /^\| numbers: {2}[1-9]\d{3} [1-9]\d{7}$/);
    assert.match(lines[9]!, new RegExp(`^\\| b64_L40:  ${B64}{40}$`));
    assert.equal(lines[11], '');
    assert.equal(lines[12], '');
  });

  it('prints the same values as JSON with --json, different on every run', async () => {
    const first: unknown = JSON.parse(await keygen('--json'));
    const second: unknown = JSON.parse(await keygen('--json'));
    assert.ok(typeof first === 'object' && first !== null);
    const values = first as Record<string, string>;
    assert.match(values['id']!, new RegExp(`^${B64}{4}$`));
    assert.match(values['key']!, new RegExp(`^${B64}{20}$`));
    assert.equal(values['idKey'], `${values['id']}.${values['key']}`);
    assert.match(values['digits4']!, /^[1-9]\d{3}$/);
    assert.match(values['digits8']!, /^[1-9]\d{7}$/);
    assert.match(values['b64L40']!, new RegExp(`^${B64}{40}$`));
    assert.notDeepEqual(first, second);
  });

  it('rejects unknown options with exit code 2', async () => {
    await assert.rejects(run(process.execPath, [BIN, '--nope'], { timeout: CHILD_PROCESS_DEADLINE_MS }), (err: { code?: number; stderr?: string }) => {
      assert.equal(err.code, 2);
      assert.match(err.stderr ?? '', /^io-keygen: error: unknown option/);
      return true;
    });
  });
});

describe('keygen values', () => {
  /** A random source that replays fixed 8-byte values, then fails. */
  function replay(values: bigint[]): (size: number) => Buffer {
    return (size) => {
      const next = values.shift();
      if (next === undefined) throw new Error('no more values');
      const out = Buffer.alloc(size);
      out.writeBigUInt64BE(next);
      return out;
    };
  }

  it('skips values below 2^44 or with a 0 second digit, then drops the first digit', () => {
    const small = 2n ** 44n - 1n;
    const zeroSecond = 10234567890123456n;
    const good = 18446744073709551615n;
    assert.equal(randomDigits(8, replay([small, zeroSecond, good])), '84467440');
    assert.equal(randomDigits(4, replay([good])), '8446');
  });

  it('never contains "." or "," (the values go into id.key strings and -e lists)', () => {
    for (let i = 0; i < 200; i++) {
      const values = generateKeygenValues();
      assert.doesNotMatch(`${values.id}${values.key}${values.b64L40}`, /[.,=]/);
    }
  });
});
