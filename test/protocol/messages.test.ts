// Length rules of the fixed-layout decoders (docs/protocol.md §3.8, §5.1, §5.5) and their encoders' limits.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MSG } from '../../src/protocol/codes.js';
import {
  encodeSignal,
  encodeSubscribeReq,
  encodeTagMessage,
  iamNick,
  retag,
  signalTag,
  subscribeReq,
  subscribeTags,
  unsubscribeRequest,
} from '../../src/protocol/messages.js';
import { hex, unhex } from '../kit/vectors.js';

describe('signalTag', () => {
  it('reads the tag of a well-formed SIGNAL', () => {
    assert.equal(signalTag(unhex('d0036368310168656c6c6f00')), 'ch1');
    assert.equal(signalTag(unhex('d00363683100')), 'ch1', 'payloadType byte only');
    assert.equal(signalTag(unhex('d00000')), '', 'empty tag');
  });

  it('needs the payloadType byte: length ≥ tagLen + 3 (Q1, stricter than the reference)', () => {
    // The reference routes `d0 03 "ch1"` (tagLen + 2); we drop it on purpose.
    assert.equal(signalTag(unhex('d003636831')), null);
    assert.equal(signalTag(unhex('d000')), null);
    assert.equal(signalTag(unhex('d0')), null);
    assert.equal(signalTag(unhex('d0ff00')), null, 'tagLen larger than the message');
  });

  it('rejects a tag that is not valid UTF-8', () => {
    assert.equal(signalTag(unhex('d001ff00')), null);
    assert.equal(signalTag(unhex('d002c32800')), null);
  });
});

describe('retag', () => {
  it('keeps payloadType and payload', () => {
    assert.equal(hex(retag(unhex('d0036368310168656c6c6f00'), '@x')!), 'd00240780168656c6c6f00');
  });

  it('refuses a new tag over 255 bytes (Q27)', () => {
    assert.equal(retag(unhex('d00363683100'), 'x'.repeat(256)), null);
    assert.equal(retag(unhex('d00363683100'), 'x'.repeat(255))!.length, 2 + 255 + 1);
  });
});

describe('subscribeTags (SUBSCRIBE)', () => {
  it('needs length ≥ 3 and exactly tagLen + 2', () => {
    assert.equal(subscribeTags(unhex('d303636831')), 'ch1');
    assert.equal(subscribeTags(unhex('d3012c')), ',');
    assert.equal(subscribeTags(unhex('d30363683132')), null, 'one trailing byte');
    assert.equal(subscribeTags(unhex('d3046368')), null, 'short');
    assert.equal(subscribeTags(unhex('d300')), null, 'empty list is 2 bytes');
    assert.equal(subscribeTags(unhex('d3')), null);
  });

  it('rejects tags that are not valid UTF-8', () => {
    assert.equal(subscribeTags(unhex('d301ff')), null);
  });
});

describe('unsubscribeRequest (UNSUBSCRIBE)', () => {
  it('treats any 2-byte message as "all"', () => {
    assert.deepEqual(unsubscribeRequest(unhex('d500')), { all: true });
    assert.deepEqual(unsubscribeRequest(unhex('d505')), { all: true });
  });

  it('otherwise needs exactly tagLen + 2', () => {
    assert.deepEqual(unsubscribeRequest(unhex('d503636831')), { all: false, tags: 'ch1' });
    assert.equal(unsubscribeRequest(unhex('d5')), null, 'bare UNSUBSCRIBE is ignored');
    assert.equal(unsubscribeRequest(unhex('d50363683132')), null);
    assert.equal(unsubscribeRequest(unhex('d5036368')), null);
  });
});

describe('subscribeReq (SUBSCRIBE_REQ)', () => {
  it('ignores messages under 6 bytes', () => {
    assert.equal(subscribeReq(unhex('d400070000')), null);
    assert.equal(subscribeReq(unhex('d4')), null);
  });

  it('reads mid and tags when the length is exactly tagLen + 5', () => {
    assert.deepEqual(subscribeReq(unhex('d4000700086368392c63683130')), { mid: 7, tags: 'ch9,ch10' });
    assert.deepEqual(subscribeReq(unhex('d4ffff00012c')), { mid: 0xffff, tags: ',' });
  });

  it('keeps the mid but no tags when the length does not match (answered with 255)', () => {
    assert.deepEqual(subscribeReq(unhex('d4010200096368392c63683130')), { mid: 258, tags: null });
    assert.deepEqual(subscribeReq(unhex('d4010200016368')), { mid: 258, tags: null });
  });

  it('round-trips encodeSubscribeReq', () => {
    assert.deepEqual(subscribeReq(encodeSubscribeReq(513, 'a,b')), { mid: 513, tags: 'a,b' });
  });
});

describe('iamNick (IAM)', () => {
  it('takes bytes 1.. when 1 < length < 30', () => {
    assert.equal(iamNick(unhex('d96e69636b31')), 'nick1');
    assert.equal(iamNick(unhex('d961')), 'a');
    assert.equal(iamNick(Buffer.concat([unhex('d9'), Buffer.alloc(28, 0x61)])), 'a'.repeat(28));
  });

  it('ignores a bare IAM and nicks of 29 bytes or more', () => {
    assert.equal(iamNick(unhex('d9')), null);
    assert.equal(iamNick(Buffer.concat([unhex('d9'), Buffer.alloc(29, 0x61)])), null);
  });
});

describe('encoder limits', () => {
  it('tag lists and SIGNAL tags are limited to 255 bytes', () => {
    assert.equal(encodeTagMessage(MSG.SUBSCRIBE, 'x'.repeat(255)).length, 257);
    assert.throws(() => encodeTagMessage(MSG.SUBSCRIBE, 'x'.repeat(256)), RangeError);
    assert.throws(() => encodeSignal('x'.repeat(256), 0), RangeError);
    assert.throws(() => encodeSignal('é'.repeat(128), 0), RangeError, '256 UTF-8 bytes');
  });
});
