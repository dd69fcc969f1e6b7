// CongSocket framing against test/vectors/congsocket.json, plus the decoder's own guarantees (Q4, Q6, Q7).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CongDecoder, encodeFrame, encodeFrameHeader, frameHeaderSize, type FrameErrorKind } from '../../src/protocol/congsocket.js';
import { hex, loadVector, unhex } from '../kit/vectors.js';

interface FrameCase {
  payload_len: number;
  payload_fill_byte?: string;
  header_hex: string;
  frame_len: number;
  frame_hex?: string;
}
interface RxCase {
  label: string;
  chunks_hex: string[];
  emitted_frames_hex: string[];
  wrong_events_hex: string[];
  leftover_buffer_hex: string;
}
interface CongVectors {
  frames: FrameCase[];
  large: FrameCase[];
  rx_parsing: RxCase[];
}

const vectors = loadVector<CongVectors>('congsocket.json');

/** A decoder that records what it reports; frames are copied because the views are only valid in the call. */
function recordingDecoder(maxFrame = 1 << 24) {
  const frames: Buffer[] = [];
  const errors: Array<{ kind: FrameErrorKind; detail: number }> = [];
  const decoder = new CongDecoder(
    {
      frame: (payload) => frames.push(Buffer.from(payload)),
      error: (kind, detail) => errors.push({ kind, detail }),
    },
    maxFrame,
  );
  return { decoder, frames, errors };
}

describe('congsocket frame vectors', () => {
  for (const vector of [...vectors.frames, ...vectors.large]) {
    it(`payload of ${vector.payload_len} bytes`, () => {
      assert.equal(hex(encodeFrameHeader(vector.payload_len)), vector.header_hex);
      assert.equal(frameHeaderSize(vector.payload_len) + vector.payload_len, vector.frame_len);
      if (vector.frame_hex !== undefined) {
        const payload = Buffer.alloc(vector.payload_len, unhex(vector.payload_fill_byte ?? '00'));
        assert.equal(hex(encodeFrame(payload)), vector.frame_hex);
      }
    });
  }
});

describe('congsocket rx_parsing vectors', () => {
  for (const vector of vectors.rx_parsing) {
    it(vector.label, () => {
      const { decoder, frames, errors } = recordingDecoder();
      for (const chunk of vector.chunks_hex) decoder.push(unhex(chunk));
      assert.deepEqual(frames.map(hex), vector.emitted_frames_hex);
      // The reference emits the whole dropped buffer as a 'wrong' event; we report its first (type) byte.
      assert.deepEqual(
        errors,
        vector.wrong_events_hex.map((dropped) => ({ kind: 'unknown-type', detail: unhex(dropped)[0] })),
      );
      assert.equal(decoder.buffered, vector.leftover_buffer_hex.length / 2);
    });
  }
});

describe('CongDecoder', () => {
  it('decodes 100 000 tiny frames from one chunk without recursion (Q4)', () => {
    const count = 100_000;
    const chunk = Buffer.alloc(count * 3);
    for (let i = 0; i < count; i++) chunk.set([1, 1, i & 0xff], i * 3);
    let seen = 0;
    let inOrder = true;
    const decoder = new CongDecoder(
      {
        frame: (payload) => {
          inOrder &&= payload.length === 1 && payload[0] === (seen & 0xff);
          seen++;
        },
        error: () => assert.fail('no error expected'),
      },
      1024,
    );
    decoder.push(chunk);
    assert.equal(seen, count);
    assert.ok(inOrder);
    assert.equal(decoder.buffered, 0);
  });

  it('reports too-large for a header over maxFrame and stops until reset (Q7)', () => {
    const { decoder, frames, errors } = recordingDecoder(100);
    decoder.push(unhex('0101cd' + '026500'));
    assert.deepEqual(frames.map(hex), ['cd']);
    assert.deepEqual(errors, [{ kind: 'too-large', detail: 101 }]);
    decoder.push(unhex('0101ce'));
    assert.equal(frames.length, 1, 'stopped after too-large');
    decoder.reset();
    decoder.push(unhex('0101ce'));
    assert.deepEqual(frames.map(hex), ['cd', 'ce']);
  });

  it('accepts a frame of exactly maxFrame bytes', () => {
    const { decoder, frames, errors } = recordingDecoder(3);
    decoder.push(unhex('0103616263'));
    assert.deepEqual(frames.map(hex), ['616263']);
    assert.deepEqual(errors, []);
  });

  it('checks the four-byte length against maxFrame', () => {
    const { decoder, errors } = recordingDecoder(1 << 20);
    decoder.push(unhex('04ffffffff'));
    assert.deepEqual(errors, [{ kind: 'too-large', detail: 0xffffffff }]);
  });

  it('skips zero-length frames of every header type (Q6)', () => {
    const { decoder, frames, errors } = recordingDecoder();
    decoder.push(unhex('0100' + '020000' + '03000000' + '0400000000' + '0101cd' + '0100'));
    assert.deepEqual(frames.map(hex), ['cd']);
    assert.deepEqual(errors, []);
    assert.equal(decoder.buffered, 0);
  });

  it('reassembles a large frame split over many chunks, with a frame behind it', () => {
    const payload = Buffer.alloc(100_000);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) & 0xff;
    const wire = Buffer.concat([encodeFrame(payload), encodeFrame(unhex('cd'))]);
    for (const chunkSize of [1, 2, 777, 4096, 65_536]) {
      const { decoder, frames, errors } = recordingDecoder();
      for (let at = 0; at < wire.length; at += chunkSize) decoder.push(wire.subarray(at, at + chunkSize));
      assert.equal(frames.length, 2, `chunk size ${chunkSize}`);
      assert.ok(frames[0]!.equals(payload), `chunk size ${chunkSize}`);
      assert.equal(hex(frames[1]!), 'cd');
      assert.deepEqual(errors, []);
      assert.equal(decoder.buffered, 0);
    }
  });

  it('splits small frames at every byte boundary', () => {
    const wire = Buffer.concat([encodeFrame(unhex('c1')), encodeFrame(Buffer.alloc(300, 0xab)), encodeFrame(unhex('d941'))]);
    for (let cut = 1; cut < wire.length; cut++) {
      const { decoder, frames } = recordingDecoder();
      decoder.push(wire.subarray(0, cut));
      decoder.push(wire.subarray(cut));
      assert.deepEqual(
        frames.map((f) => f.length),
        [1, 300, 2],
        `cut at ${cut}`,
      );
    }
  });

  it('drops everything buffered on an unknown type byte, then starts fresh', () => {
    const { decoder, frames, errors } = recordingDecoder();
    decoder.push(unhex('0104c1'));
    assert.equal(decoder.buffered, 3);
    decoder.push(unhex('02')); // completes nothing: the partial frame's body continues with 02
    decoder.push(unhex('0303'));
    assert.deepEqual(frames.map(hex), ['c1020303']);
    decoder.push(unhex('00ff'));
    assert.deepEqual(errors, [{ kind: 'unknown-type', detail: 0 }]);
    assert.equal(decoder.buffered, 0);
    decoder.push(unhex('0101cd'));
    assert.deepEqual(frames.map(hex), ['c1020303', 'cd']);
  });

  it('stop() ends delivery, even from inside a frame callback', () => {
    const frames: string[] = [];
    const decoder: CongDecoder = new CongDecoder(
      {
        frame: (payload) => {
          frames.push(hex(payload));
          decoder.stop();
        },
        error: () => assert.fail('no error expected'),
      },
      1024,
    );
    decoder.push(unhex('0101c1' + '0101c2'));
    decoder.push(unhex('0101c3'));
    assert.deepEqual(frames, ['c1']);
  });
});
