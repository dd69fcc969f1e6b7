// Boho encryption micro-benchmark: ENC_488 and ENC_PACK seal/open throughput, today's code against the
// implementation it replaced (one createHash object and one Buffer per 32-byte block), side by side in one run.
//
//   npm run bench:crypto [-- --sizes 1024,65536,1048576,4194304 --rounds 5 --min-ms 300]
//
// Rounds alternate legacy and current for every cell; the table shows medians of MiB/s and their ratio.
// Both implementations must produce the same bytes, or the run stops.
import { createHash } from 'node:crypto';
import { MSG } from '../src/protocol/codes.js';
import { PACK_HEADER_SIZE, SESSION_HEADER_SIZE, openPack, openSession, sealPack, sealSession } from '../src/crypto/frames.js';
import { sameBytes, sha256, tag8 } from '../src/crypto/otp.js';
import { median } from './lib/stats.js';

// ---- the replaced implementation (kept here only, for the side-by-side) ----

function legacyXotp(key: Uint8Array, salt12: Uint8Array, data: Uint8Array): Buffer {
  const otp = sha256(key, salt12);
  const out = Buffer.allocUnsafe(data.length);
  const blockIndex = Buffer.allocUnsafe(4);
  for (let offset = 0, block = 1; offset < data.length; offset += 32, block++) {
    blockIndex.writeUInt32LE(block, 0);
    const pad = createHash('sha256').update(otp).update(blockIndex).digest();
    const end = Math.min(offset + 32, data.length);
    for (let i = offset; i < end; i++) out[i] = data[i]! ^ pad[i - offset]!;
  }
  return out;
}

function legacySealSession(key: Uint8Array, salt12: Uint8Array, secret: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(SESSION_HEADER_SIZE + secret.length);
  out[0] = MSG.ENC_488;
  out.writeUInt32LE(secret.length, 1);
  out.set(salt12.subarray(0, 8), 5);
  out.set(tag8(key, salt12, secret), 13);
  out.set(legacyXotp(key, salt12, secret), SESSION_HEADER_SIZE);
  return out;
}

function legacyOpenSession(key: Uint8Array, localNonce: Uint8Array, msg: Buffer): Buffer | null {
  const length = msg.readUInt32LE(1);
  const salt12 = Buffer.concat([msg.subarray(5, 13), localNonce]);
  const secret = legacyXotp(key, salt12, msg.subarray(SESSION_HEADER_SIZE, SESSION_HEADER_SIZE + length));
  return sameBytes(tag8(key, salt12, secret), msg.subarray(13, SESSION_HEADER_SIZE)) ? secret : null;
}

function legacySealPack(key: Uint8Array, salt12: Uint8Array, data: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(PACK_HEADER_SIZE + data.length);
  out[0] = MSG.ENC_PACK;
  out.writeUInt32LE(data.length, 1);
  out.set(salt12, 5);
  out.set(tag8(key, salt12, data), 17);
  out.set(legacyXotp(key, salt12, data), PACK_HEADER_SIZE);
  return out;
}

function legacyOpenPack(key: Uint8Array, pack: Buffer): Buffer | null {
  const salt12 = pack.subarray(5, 17);
  const data = legacyXotp(key, salt12, pack.subarray(PACK_HEADER_SIZE));
  return sameBytes(tag8(key, salt12, data), pack.subarray(17, PACK_HEADER_SIZE)) ? data : null;
}

// ---- the cells ----

const KEY = sha256(Buffer.from('bench-key'));
const NONCE = Buffer.from([0xc1, 0xc2, 0xc3, 0xc4]);
const SALT12 = Buffer.concat([Buffer.from('0102030405060708', 'hex'), NONCE]);

type Op = (data: Buffer, sealed: { session: Buffer; pack: Buffer }) => Buffer | null;

interface Cell {
  name: string;
  legacy: Op;
  current: Op;
}

const CELLS: Cell[] = [
  {
    name: 'ENC_488 seal',
    legacy: (d) => legacySealSession(KEY, SALT12, d),
    current: (d) => sealSession(MSG.ENC_488, KEY, SALT12, d),
  },
  {
    name: 'ENC_488 open',
    legacy: (_d, s) => legacyOpenSession(KEY, NONCE, s.session),
    current: (_d, s) => openSession(MSG.ENC_488, KEY, NONCE, s.session)?.secret ?? null,
  },
  { name: 'ENC_PACK seal', legacy: (d) => legacySealPack(KEY, SALT12, d), current: (d) => sealPack(KEY, SALT12, d) },
  { name: 'ENC_PACK open', legacy: (_d, s) => legacyOpenPack(KEY, s.pack), current: (_d, s) => openPack(KEY, s.pack) },
];

/** MiB/s of `op` on `size` bytes, repeated for at least `minMs`. */
function measure(op: Op, data: Buffer, sealed: { session: Buffer; pack: Buffer }, minMs: number): number {
  let bytes = 0;
  const start = performance.now();
  let elapsed = 0;
  do {
    if (!op(data, sealed)) throw new Error('operation failed');
    bytes += data.length;
    elapsed = performance.now() - start;
  } while (elapsed < minMs);
  return bytes / (1024 * 1024) / (elapsed / 1000);
}

function parse(argv: string[]): { sizes: number[]; rounds: number; minMs: number } {
  const o = { sizes: [1024, 64 * 1024, 1024 * 1024, 4 * 1024 * 1024], rounds: 5, minMs: 300 };
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1] ?? '';
    if (argv[i] === '--sizes') o.sizes = value.split(',').map(Number);
    else if (argv[i] === '--rounds') o.rounds = Number(value);
    else if (argv[i] === '--min-ms') o.minMs = Number(value);
    else continue;
    i++;
  }
  return o;
}

function sizeLabel(n: number): string {
  return n >= 1024 * 1024 ? `${n / (1024 * 1024)} MiB` : n >= 1024 ? `${n / 1024} KiB` : `${n} B`;
}

function main(): void {
  const { sizes, rounds, minMs } = parse(process.argv.slice(2));
  console.log(`node ${process.version}, ${rounds} rounds, ≥ ${minMs} ms per measurement, legacy and current alternate\n`);
  console.log('| operation | size | legacy MiB/s | current MiB/s | speed-up | ms per MiB (current) |');
  console.log('|---|---|---|---|---|---|');
  for (const cell of CELLS) {
    for (const size of sizes) {
      const data = Buffer.alloc(size);
      for (let i = 0; i < size; i++) data[i] = (i * 31 + 7) & 0xff;
      const sealed = { session: sealSession(MSG.ENC_488, KEY, SALT12, data), pack: sealPack(KEY, SALT12, data) };
      // Same bytes from both, or the comparison means nothing.
      if (!cell.legacy(data, sealed)!.equals(cell.current(data, sealed)!)) throw new Error(`${cell.name}: outputs differ`);
      const legacy: number[] = [];
      const current: number[] = [];
      for (let r = 0; r < rounds; r++) {
        legacy.push(measure(cell.legacy, data, sealed, minMs));
        current.push(measure(cell.current, data, sealed, minMs));
      }
      const l = median(legacy);
      const c = median(current);
      console.log(
        `| ${cell.name} | ${sizeLabel(size)} | ${l.toFixed(1)} | ${c.toFixed(1)} | ${(c / l).toFixed(2)}× | ${(1000 / c).toFixed(1)} |`,
      );
    }
  }
}

main();
