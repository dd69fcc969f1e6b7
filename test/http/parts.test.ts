// The HTTP layer's pure parts: who counts as local, the send form's checks, and payload previews.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isLoopback } from '../../src/http/access.js';
import { SendError, parseSendRequest, prepareSignal } from '../../src/http/send-signal.js';
import { payloadPreview } from '../../src/http/payload-preview.js';
import { PAYLOAD } from '../../src/protocol/codes.js';

describe('isLoopback', () => {
  it('knows loopback in its usual spellings', () => {
    for (const ip of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1', '0000:0000:0000:0000:0000:ffff:7f00:0001']) {
      assert.equal(isLoopback(ip), true, ip);
    }
  });
  it('refuses everything else', () => {
    for (const ip of ['10.0.0.1', '192.168.1.2', '::ffff:10.0.0.1', '2001:db8::1', '', 'not an address']) {
      assert.equal(isLoopback(ip), false, ip);
    }
  });
});

describe('send requests', () => {
  const prepare = (body: unknown) => prepareSignal(parseSendRequest(body));

  it('builds the tag for each target', () => {
    assert.equal(prepare({ target: 'channel', tag: 'lobby', payload: 'x' }).tag, 'lobby');
    assert.equal(prepare({ target: 'cid', cid: 'dev1', topic: 'cmd', payload: 'x' }).tag, 'dev1@cmd');
    const everyone = prepare({ target: 'everyone', tag: 'news', payload: 'x' });
    assert.equal(everyone.tag, 'news');
    assert.equal(everyone.everyone, true);
  });

  it('encodes text with its NUL and JSON as an object', () => {
    const text = prepare({ target: 'channel', tag: 'a', payloadKind: 'text', payload: 'hi' });
    assert.equal(text.payloadType, PAYLOAD.TEXT);
    assert.deepEqual([...text.payload], [0x68, 0x69, 0]);
    const json = prepare({ target: 'channel', tag: 'a', payloadKind: 'json', payload: '[1]' });
    assert.equal(json.payloadType, PAYLOAD.OBJECT);
    assert.equal(json.payload.toString(), '[1]');
  });

  it('refuses what the broker would not route', () => {
    const bad: unknown[] = [
      null,
      [],
      { target: 'nobody', tag: 'a' },
      { target: 'channel', tag: '' },
      { target: 'channel', tag: '#home' },
      { target: 'channel', tag: 'a@b' },
      { target: 'cid', cid: 'dev1' },
      { target: 'cid', topic: 't' },
      { target: 'channel', tag: 'x'.repeat(256) },
      { target: 'channel', tag: 'a', payloadKind: 'json', payload: '{' },
      { target: 'channel', tag: 'a', payload: 5 },
    ];
    for (const body of bad) assert.throws(() => prepare(body), SendError, JSON.stringify(body));
  });
});

describe('payloadPreview', () => {
  it('shows text without its NUL, binary as hex, and marks what it cut', () => {
    assert.equal(payloadPreview(PAYLOAD.TEXT, Buffer.from('on\0')), 'on');
    assert.equal(payloadPreview(PAYLOAD.BINARY, Buffer.from([0, 255])), '00ff');
    assert.equal(payloadPreview(PAYLOAD.TEXT, Buffer.from('a\nb')), 'a·b');
    assert.equal(payloadPreview(PAYLOAD.OBJECT, Buffer.alloc(200, 0x61)), 'a'.repeat(96) + '…');
    assert.equal(payloadPreview(PAYLOAD.EMPTY, undefined), '');
  });
});
