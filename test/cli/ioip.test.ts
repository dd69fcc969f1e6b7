// ioip: the first non-internal IPv4 address.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import type { NetworkInterfaceInfo } from 'node:os';
import { lanAddresses } from '../../src/cli/ioip.js';
import { CHILD_PROCESS_DEADLINE_MS } from '../kit/wait.js';
import { ROOT } from '../kit/server.js';

function info(address: string, family: 'IPv4' | 'IPv6', internal: boolean): NetworkInterfaceInfo {
  const base = { address, netmask: '255.255.255.0', mac: '00:00:00:00:00:00', internal, cidr: null };
  return family === 'IPv4' ? { ...base, family } : { ...base, family, scopeid: 0 };
}

describe('ioip', () => {
  it('skips loopback and IPv6 and keeps interface order', () => {
    const interfaces = {
      lo: [info('127.0.0.1', 'IPv4', true), info('::1', 'IPv6', true)],
      eth0: [info('fe80::1', 'IPv6', false), info('192.168.1.20', 'IPv4', false)],
      wlan0: [info('10.0.0.5', 'IPv4', false)],
    };
    assert.deepEqual(lanAddresses(interfaces), ['192.168.1.20', '10.0.0.5']);
    assert.deepEqual(lanAddresses({ lo: [info('127.0.0.1', 'IPv4', true)] }), []);
  });

  it('prints one IPv4 address, or says there is none and exits 1', async () => {
    const result = await new Promise<{ code: number; out: string; err: string }>((resolve) => {
      execFile(process.execPath, [join(ROOT, 'bin', 'ioip.js')], { timeout: CHILD_PROCESS_DEADLINE_MS }, (error, out, err) => {
        resolve({ code: error ? Number(error.code ?? 1) : 0, out, err });
      });
    });
    if (lanAddresses().length === 0) {
      assert.equal(result.code, 1);
      assert.match(result.err, /no LAN IPv4 address/);
    } else {
      assert.equal(result.code, 0);
      assert.match(result.out, /^\d{1,3}(\.\d{1,3}){3}\n$/);
      assert.equal(result.out.trim(), lanAddresses()[0]);
    }
  });
});
