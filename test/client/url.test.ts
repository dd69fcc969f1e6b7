// Server URL parsing: the four schemes, the bare host:port shorthand, clear errors, SERVER_REDIRECT targets.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BadUrlError, parseServerUrl } from '../../src/client/index.js';
import { redirectTarget } from '../../src/client/url.js';

describe('parseServerUrl', () => {
  it('reads ws, wss, cong and congs URLs', () => {
    assert.deepEqual(parseServerUrl('ws://127.0.0.1:7777'), { kind: 'ws', tls: false, host: '127.0.0.1', port: 7777, href: 'ws://127.0.0.1:7777/' });
    assert.deepEqual(parseServerUrl('wss://example.com/ws'), { kind: 'ws', tls: true, host: 'example.com', port: 443, href: 'wss://example.com/ws' });
    assert.deepEqual(parseServerUrl('cong://10.0.0.2:8888'), { kind: 'cong', tls: false, host: '10.0.0.2', port: 8888, href: 'cong://10.0.0.2:8888' });
    assert.deepEqual(parseServerUrl('congs://h:9000'), { kind: 'cong', tls: true, host: 'h', port: 9000, href: 'congs://h:9000' });
    assert.equal(parseServerUrl('cong://[::1]:8888').host, '::1');
  });

  it('treats a bare host:port as ws://', () => {
    const address = parseServerUrl('localhost:7777');
    assert.equal(address.kind, 'ws');
    assert.equal(address.href, 'ws://localhost:7777/');
  });

  it('rejects other schemes, empty input and missing hosts with a readable message', () => {
    assert.throws(() => parseServerUrl('http://x:1'), (err: unknown) => err instanceof BadUrlError && /unsupported scheme "http:\/\/"/.test(err.message));
    assert.throws(() => parseServerUrl(''), BadUrlError);
    assert.throws(() => parseServerUrl('ws://:77'), BadUrlError);
    assert.throws(() => parseServerUrl('ws://host:99999'), BadUrlError);
  });
});

describe('redirectTarget (§3.6)', () => {
  it('reads the 7-byte IPv4 form as cong:// with a big-endian port', () => {
    assert.equal(redirectTarget(Buffer.from([0xc5, 192, 168, 0, 7, 0x22, 0xb8])), 'cong://192.168.0.7:8888');
  });
  it('reads any other length as a URL', () => {
    assert.equal(redirectTarget(Buffer.concat([Buffer.from([0xc5]), Buffer.from('ws://other:1')])), 'ws://other:1');
  });
});
