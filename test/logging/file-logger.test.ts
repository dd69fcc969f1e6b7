// The -f file logger: one line per event in connection.log, auth.log and attack.log.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ATTACK_BYTES_SHOWN, FileLogger } from '../../src/logging/file-logger.js';
import { waitFor } from '../kit/wait.js';

const dirs: string[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'iosig-logs-'));
  dirs.push(dir);
  return dir;
}

function lines(dir: string, name: string): string[] {
  return readFileSync(join(dir, name), 'utf8').split('\n').filter(Boolean);
}

const ISO = '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z';

describe('FileLogger', () => {
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('writes connection, auth and attack lines with time, ssid, ip and transport', async () => {
    const dir = join(tempDir(), 'nested', 'logs');
    const logger = new FileLogger({ directory: dir });
    logger.connection('open', { ssid: 1, ip: '127.0.0.1', transport: 'ws' });
    logger.connection('close', { ssid: 1, ip: '127.0.0.1', transport: 'ws', cid: 'D1', reason: 'peer closed' });
    logger.auth(true, { ssid: 2, ip: '10.0.0.2', transport: 'cong', cid: 'ADMIN', did: 'admin', admin: true });
    logger.auth(false, { ssid: 3, ip: '10.0.0.3', transport: 'ws', did: 'dev1', reason: 'wrong key for id "dev1"' });
    logger.attack({ ssid: 4, ip: '10.0.0.4', transport: 'cong', bytes: Uint8Array.from([0xde, 0xad, 0xbe, 0xef]), reason: 'unknown type' });
    await logger.close();

    const connection = lines(dir, 'connection.log');
    assert.equal(connection.length, 2);
    assert.match(connection[0]!, new RegExp(`^${ISO} #1 127\\.0\\.0\\.1 WS open$`));
    assert.match(connection[1]!, new RegExp(`^${ISO} #1 127\\.0\\.0\\.1 WS close cid:D1 reason:peer closed$`));
    const auth = lines(dir, 'auth.log');
    assert.match(auth[0]!, new RegExp(`^${ISO} #2 10\\.0\\.0\\.2 CS OK ADMIN cid:ADMIN did:admin$`));
    assert.match(auth[1]!, new RegExp(`^${ISO} #3 10\\.0\\.0\\.3 WS FAIL did:dev1 reason:wrong key for id "dev1"$`));
    assert.match(lines(dir, 'attack.log')[0]!, new RegExp(`^${ISO} #4 10\\.0\\.0\\.4 CS bytes:4 hex:deadbeef reason:unknown type$`));
  });

  it('shows at most 64 bytes of an attack, as hex', async () => {
    const dir = tempDir();
    const logger = new FileLogger({ directory: dir, logs: ['attack'] });
    const bytes = new Uint8Array(100).fill(0xab);
    logger.attack({ ssid: 9, ip: '1.2.3.4', transport: 'ws', bytes: bytes.subarray(10), reason: 'oversize' });
    await logger.close();
    const [line] = lines(dir, 'attack.log');
    const hex = line!.match(/hex:([0-9a-f]+)\.\.\.\(\+(\d+)\)/);
    assert.ok(hex, line);
    assert.equal(hex[1], 'ab'.repeat(ATTACK_BYTES_SHOWN));
    assert.equal(hex[2], String(90 - ATTACK_BYTES_SHOWN));
    assert.match(line!, / bytes:90 /);
  });

  it('keeps every event on one line, even with newlines in network-supplied ids', async () => {
    const dir = tempDir();
    const logger = new FileLogger({ directory: dir, logs: ['auth'] });
    logger.auth(false, { ssid: 5, ip: '::1', transport: 'ws', did: 'ev\nil id', reason: 'line1\nline2' });
    await logger.close();
    const auth = lines(dir, 'auth.log');
    assert.equal(auth.length, 1);
    assert.match(auth[0]!, /did:ev\\x0ail\\x20id reason:line1\\x0aline2$/);
  });

  it('writes only the logs asked for and appends to existing files', async () => {
    const dir = tempDir();
    for (let round = 0; round < 2; round++) {
      const logger = new FileLogger({ directory: dir, logs: ['connection'] });
      logger.connection('open', { ssid: round, ip: '127.0.0.1', transport: 'ws' });
      await logger.close();
    }
    assert.equal(lines(dir, 'connection.log').length, 2);
    assert.ok(!existsSync(join(dir, 'auth.log')));
    assert.ok(!existsSync(join(dir, 'attack.log')));
  });

  it('reports a log that cannot be opened once and keeps the others working', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'auth.log'));
    const errors: string[] = [];
    const logger = new FileLogger({ directory: dir, onError: (message) => errors.push(message) });
    await waitFor(() => errors.length > 0, 2000, 'the open error');
    logger.auth(true, { ssid: 1, ip: '127.0.0.1', transport: 'ws', cid: 'C', did: 'd' });
    logger.connection('open', { ssid: 1, ip: '127.0.0.1', transport: 'ws' });
    await logger.close();
    assert.equal(errors.length, 1);
    assert.match(errors[0]!, /auth\.log/);
    assert.equal(lines(dir, 'connection.log').length, 1);
  });

  it('drops events after close', async () => {
    const dir = tempDir();
    const logger = new FileLogger({ directory: dir, logs: ['connection'] });
    await logger.close();
    logger.connection('open', { ssid: 1, ip: '127.0.0.1', transport: 'ws' });
    assert.equal(readFileSync(join(dir, 'connection.log'), 'utf8'), '');
  });
});
