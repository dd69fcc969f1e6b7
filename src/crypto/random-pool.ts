// Random bytes for what every new connection needs (its hello nonce, an anonymous CID): a few bytes each,
// taken from one CSPRNG fill of POOL_BYTES instead of one randomFillSync call per use (a native call of
// ~2 µs, twice per connection, measured in the connection storm). Each byte is handed out once.
import { randomFillSync } from 'node:crypto';

const POOL_BYTES = 4096;
const pool = Buffer.allocUnsafeSlow(POOL_BYTES);
let next = POOL_BYTES;

/** Index in the pool of `count` fresh bytes (count ≤ POOL_BYTES); the caller reads them at once. */
function reserve(count: number): number {
  if (next + count > POOL_BYTES) {
    randomFillSync(pool);
    next = 0;
  }
  const at = next;
  next += count;
  return at;
}

/** A random unsigned integer of `bytes` bytes (1..6). */
export function randomUint(bytes: number): number {
  return pool.readUIntLE(reserve(bytes), bytes);
}

/** `bytes` random bytes as base64url text. */
export function randomBase64url(bytes: number): string {
  const at = reserve(bytes);
  return pool.toString('base64url', at, at + bytes);
}
