// Loads the reference vectors (test/vectors/*.json) and turns their JSON encodings back into JS values.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repo root: the nearest ancestor holding test/vectors (works from test/ and from dist/test/). */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'test', 'vectors', 'README.md'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('test/vectors not found above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
  return dir;
}

/** Parsed JSON of test/vectors/<name>, e.g. loadVector('mbp.json'). */
export function loadVector<T = unknown>(name: string): T {
  return JSON.parse(readFileSync(join(repoRoot(), 'test', 'vectors', name), 'utf8')) as T;
}

/** `{"$hex": …}` → Buffer, `{"$undefined": true}` → undefined, `{"$number": "NaN"}` → NaN; recursive. */
export function fromVectorValue(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(fromVectorValue);
  if (value === null || typeof value !== 'object') return value;
  const record = value as Record<string, unknown>;
  if (typeof record.$hex === 'string') return Buffer.from(record.$hex, 'hex');
  if (record.$undefined === true) return undefined;
  if (typeof record.$number === 'string') return Number(record.$number);
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(record)) out[key] = fromVectorValue(inner);
  return out;
}

export const hex = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
export const unhex = (text: string): Buffer => Buffer.from(text, 'hex');
