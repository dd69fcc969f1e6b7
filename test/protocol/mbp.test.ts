// meta-buffer-pack against test/vectors/mbp.json, plus the never-throw rules of unpack.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MB, MBA, metaOf, numberBuffer, pack, unpack, type MbpItem } from '../../src/protocol/mbp.js';
import { fromVectorValue, hex, loadVector, unhex } from '../kit/vectors.js';

interface PackCase {
  call: string;
  hex: string;
  data_part_hex: string;
  meta_json: string | null;
  tail_u16be: number | null;
  unpack: unknown;
}
interface SpecialCase {
  call: string;
  buf_hex: string;
  result: unknown;
}
interface NumberCase {
  type: string;
  value: number;
  hex: string;
}
interface MbpVectors {
  pack: PackCase[];
  unpack_special: SpecialCase[];
  numberBuffer: NumberCase[];
}

const vectors = loadVector<MbpVectors>('mbp.json');

type Parts = Array<MbpItem | MbpItem[]>;

/** The vector `call` strings, written out as calls of our API. Every vector case must be listed here. */
const PACK_CALLS: Record<string, () => Parts> = {
  "pack(MB('#type','8',0xD0))  (name with '#' -> not in meta)": () => [MB('#type', '8', 0xd0)],
  "pack(MB('a','8',255), MB('b','16',0x1234), MB('c','16L',0x1234), MB('d','32',0x12345678), MB('e','32L',0x12345678))": () => [
    MB('a', '8', 255), MB('b', '16', 0x1234), MB('c', '16L', 0x1234), MB('d', '32', 0x12345678), MB('e', '32L', 0x12345678),
  ],
  "pack(MB('i8','I8',-1), MB('i16','I16',-2), MB('i16l','I16L',-2), MB('i32','I32',-3), MB('i32l','I32L',-3))": () => [
    MB('i8', 'I8', -1), MB('i16', 'I16', -2), MB('i16l', 'I16L', -2), MB('i32', 'I32', -3), MB('i32l', 'I32L', -3),
  ],
  "pack(MB('f','F',1.5), MB('fl','FL',1.5))  (float32)": () => [MB('f', 'F', 1.5), MB('fl', 'FL', 1.5)],
  "pack(MB('s','hello'), MB('k','한글'), MB('empty',''))": () => [MB('s', 'hello'), MB('k', '한글'), MB('empty', '')],
  "pack(MB('o',{a:1,b:[1,2]}), MB('arr',[1,'x']), MB('nul', null))": () => [
    MB('o', { a: 1, b: [1, 2] }), MB('arr', [1, 'x']), MB('nul', null),
  ],
  "pack(MB('buf', new Uint8Array([1,2,3])), MB('z', 4, 0), MB('f7', 3, 7))  (number+number = fixed-size filled buffer)": () => [
    MB('buf', new Uint8Array([1, 2, 3])), MB('z', 4, 0), MB('f7', 3, 7),
  ],
  "pack(MB('t', true), MB('f', false))": () => [MB('t', true), MB('f', false)],
  "pack(MB('n', 123), MB('n2','N',45.67), MB('neg', -5))  (number without size -> decimal string, type N)": () => [
    MB('n', 123), MB('n2', 'N', 45.67), MB('neg', -5),
  ],
  "pack(MBA('x', 1, new Uint8Array([9]), {k:'v'}, true))": () => [MBA('x', 1, new Uint8Array([9]), { k: 'v' }, true)],
  'pack(MBA(1, 0, 2))  (args stop at the first falsy value!)': () => [MBA(1, 0, 2)],
  "pack(MBA('a', '', 'b'))": () => [MBA('a', '', 'b')],
  "pack(MB('#t','8',1), MBA('a'), MB('after','8',2))  (MBA items are always moved after all MB items)": () => [
    MB('#t', '8', 1), MBA('a'), MB('after', '8', 2),
  ],
  "pack(MB('#MsgType','8',0xDE), MB('mid','16',1), MB('target','reply'), MB('topic','echo'), MBA('hello'))  (= CALL)": () => [
    MB('#MsgType', '8', 0xde), MB('mid', '16', 1), MB('target', 'reply'), MB('topic', 'echo'), MBA('hello'),
  ],
  "pack(MB('#type','8',0xDD), MB('status','8',0), MB('mid','16',1), MB('body',['hello']))  (= RESPONSE_MBP)": () => [
    MB('#type', '8', 0xdd), MB('status', '8', 0), MB('mid', '16', 1), MB('body', ['hello']),
  ],
  "pack(MB('same','8',1), MB('same','8',2))  (duplicate names: last wins on unpack)": () => [MB('same', '8', 1), MB('same', '8', 2)],
  "pack(MB('a','16',0x0102), MB('#hidden','8',9), MB('b','8',3))  (hidden bytes still occupy space, offsets skip them)": () => [
    MB('a', '16', 0x0102), MB('#hidden', '8', 9), MB('b', '8', 3),
  ],
};

describe('mbp pack vectors', () => {
  for (const vector of vectors.pack) {
    it(vector.call, () => {
      const build = PACK_CALLS[vector.call];
      assert.ok(build, 'no translation for this vector call');
      const packed = pack(...build());
      assert.equal(hex(packed), vector.hex);
      assert.equal(hex(packed.subarray(0, vector.data_part_hex.length / 2)), vector.data_part_hex);
      if (vector.meta_json === null) {
        assert.equal(packed.length, vector.data_part_hex.length / 2, 'no meta, no tail');
        assert.deepEqual(metaOf(...build()), []);
      } else {
        assert.equal(JSON.stringify(metaOf(...build())), vector.meta_json);
        assert.equal(packed.readUInt16BE(packed.length - 2), vector.tail_u16be);
      }
      assert.deepStrictEqual(unpack(packed), fromVectorValue(vector.unpack));
    });
  }

  it('covers every vector case', () => {
    assert.equal(vectors.pack.length, Object.keys(PACK_CALLS).length);
  });
});

describe('mbp unpack_special vectors', () => {
  // Boho's ENC_488 layout, built the way a fixed layout is described.
  const enc488Meta = metaOf(MB('type', '8', 0), MB('len', '32L', 0), MB('otpSrc8', Buffer.alloc(8)), MB('hmac8', Buffer.alloc(8)));
  const metaFor: Record<string, typeof enc488Meta | undefined> = {
    'unpack(buf, Boho.Meta.ENC_488) with an explicit meta: extra bytes land in $OTHERS': enc488Meta,
    'unpack(buffer without meta tail)': undefined,
    'unpack(2-byte buffer)': undefined,
  };
  for (const vector of vectors.unpack_special) {
    it(vector.call, () => {
      assert.ok(vector.call in metaFor, 'no translation for this vector call');
      assert.deepStrictEqual(unpack(unhex(vector.buf_hex), metaFor[vector.call]), fromVectorValue(vector.result));
    });
  }
});

describe('mbp numberBuffer vectors', () => {
  for (const vector of vectors.numberBuffer) {
    it(`${vector.type} ${vector.value}`, () => {
      assert.equal(hex(numberBuffer(vector.type, vector.value)), vector.hex);
      const read = unpack(pack(MB('v', vector.type, vector.value)));
      // Float32 does not hold 0.1 exactly; compare at float32 precision.
      assert.equal(read?.['v'], vector.type === 'F' ? Math.fround(vector.value) : vector.value);
    });
  }
});

describe('mbp builders', () => {
  it('infers types from values', () => {
    assert.equal(MB('a', 'x').type, 'S');
    assert.equal(MB('a', 5).type, 'N');
    assert.equal(MB('a', true).type, '!');
    assert.equal(MB('a', null).type, 'O');
    assert.equal(MB('a', new ArrayBuffer(2)).type, 'B');
    assert.equal(hex(MB('a', new Uint16Array([0x0102])).bytes), '0201');
    assert.equal(hex(MB('a', new DataView(new Uint8Array([7, 8, 9]).buffer, 1)).bytes), '0809');
  });

  it('upper-cases explicit codes in the meta', () => {
    assert.equal(MB('a', '16l', 1).type, '16L');
    assert.equal(hex(MB('a', '16l', 1).bytes), '0100');
  });

  it('accepts explicit S/B/O/! codes with matching values', () => {
    assert.deepStrictEqual(unpack(pack(MB('s', 'S', 'hi'), MB('b', 'B', new Uint8Array([1])), MB('o', 'O', [1]), MB('t', '!', true))), {
      s: 'hi', b: Buffer.from([1]), o: [1], t: true,
    });
  });

  it('rejects values it cannot pack', () => {
    assert.throws(() => MB('a', undefined), TypeError);
    assert.throws(() => MB('a', () => 1), TypeError);
    assert.throws(() => MB('a', 'S', 5), TypeError);
    assert.throws(() => MB('a', 'B', 'text'), TypeError);
    assert.throws(() => MBA(1, undefined), TypeError);
    assert.throws(() => MB('a', '8', 256), RangeError);
    assert.throws(() => MB('a', 'I8', -129), RangeError);
    assert.throws(() => MB('a', '16', 0x10000), RangeError);
  });

  it('writes the reference example of §6.5', () => {
    const packed = pack(MBA('hi', 7, new Uint8Array([1, 2]), { a: 1 }, true));
    assert.equal(
      hex(packed),
      '68693701027b2261223a317d01' +
        Buffer.from('[[0,"S",0,2],[1,"N",2,1],[2,"B",3,2],[3,"O",5,7],[4,"!",12,1]]').toString('hex') +
        '003e',
    );
  });

  it('round-trips NaN as N', () => {
    const read = unpack(pack(MB('n', Number.NaN)));
    assert.ok(Number.isNaN(read?.['n']));
  });
});

describe('mbp unpack never throws', () => {
  const withMeta = (meta: string, data = ''): Buffer => {
    const json = Buffer.from(meta);
    const tail = Buffer.alloc(2);
    tail.writeUInt16BE(json.length);
    return Buffer.concat([unhex(data), json, tail]);
  };

  it('fails on short, tail-less or zero-tail input', () => {
    assert.equal(unpack(Buffer.alloc(0)), undefined);
    assert.equal(unpack(unhex('0000')), undefined);
    assert.equal(unpack(unhex('010000')), undefined);
    assert.equal(unpack(unhex('01ffff')), undefined, 'tail longer than the buffer');
  });

  it('fails when the meta is not JSON or has a bad first entry', () => {
    assert.equal(unpack(withMeta('[[')), undefined);
    assert.equal(unpack(withMeta('{"a":1}')), undefined);
    assert.equal(unpack(withMeta('[]')), undefined);
    assert.equal(unpack(withMeta('[["a","8"]]', '01')), undefined);
    assert.equal(unpack(withMeta('[["a",8,0,1]]', '01')), undefined);
    assert.equal(unpack(withMeta('[["a","8","0",1]]', '01')), undefined);
  });

  it('leaves out fields that do not decode', () => {
    const meta = JSON.stringify([
      ['ok', '8', 0, 1],
      ['far', '32', 1000, 4],
      ['unknownType', 'Q', 0, 1],
      ['badJson', 'O', 1, 2],
      ['tooLong', 'B', 0, 5000],
      'not an entry',
      [null, '8', 0, 1],
      ['noLength', 'S', 0],
      ['negative', '8', -1, 1],
    ]);
    assert.deepStrictEqual(unpack(withMeta(meta, '07ffff')), { ok: 7 });
  });

  it('reads a boolean whatever its length says, like the reference', () => {
    assert.deepStrictEqual(unpack(withMeta('[["t","!",0],["f","!",1,7]]', '0100')), { t: true, f: false });
  });

  it('keeps a field named __proto__ as plain data', () => {
    const read = unpack(withMeta('[["__proto__","8",0,1]]', '05'));
    assert.ok(read);
    assert.equal(Object.getPrototypeOf(read), Object.prototype);
    assert.equal(Object.getOwnPropertyDescriptor(read, '__proto__')?.value, 5);
  });

  it('survives random bytes', () => {
    let seed = 12345;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
    for (let n = 0; n < 2000; n++) {
      const bytes = Buffer.from(Array.from({ length: rnd() % 40 }, rnd));
      unpack(bytes);
      unpack(bytes, [['a', 'S', 0, 3]]);
    }
  });

  it('reads Buffer views at any offset', () => {
    const packed = pack(MB('a', '16', 0x0102), MBA('x', new Uint8Array([5])));
    const padded = Buffer.concat([unhex('ffff'), packed]).subarray(2);
    assert.deepStrictEqual(unpack(new Uint8Array(padded.buffer, padded.byteOffset, padded.byteLength)), unpack(packed));
  });
});
