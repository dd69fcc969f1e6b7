// What a store must be to be used: an iosig store in a format this version reads. Anything else stops the start
// with a message naming the file and the way out — never a crash loop at the first bad record, never a store
// silently treated as empty (which would wipe every retained value and session on the next write).
import { FORMAT_VERSION, type FormatRecord } from './codec.js';
import type { OpenReport } from './types.js';

/** Process exit code for a store that cannot be used: a configuration problem, which no restart cures. */
export const STORE_EXIT_CODE = 2;

export class StoreOpenError extends Error {
  constructor(
    /** The file, directory or Redis URL at fault. */
    readonly location: string,
    readonly reason: string,
    /** What the operator can do. */
    readonly wayOut: string,
  ) {
    super(`store ${location}: ${reason}\n  ${wayOut}`);
    this.name = 'StoreOpenError';
  }
}

/** The usual way out for a store that cannot be read: keep it for inspection, start with a fresh one. */
export function moveAsideHint(path: string): string {
  return `Nothing was changed. To start with an empty store, move it aside (keep it for inspection): mv '${path}' '${path}.broken' — then start again; or point --data-dir elsewhere.`;
}

/** Readers of older formats, by format number (none yet: 1 is the first format). */
const READABLE_OLDER_FORMATS: ReadonlySet<number> = new Set();

/**
 * Decides on the format record found (`absent`: none; null: unreadable). `hasData`: the store holds other records.
 * Returns the report and the record to write now (state 'open' until a clean close).
 */
export function admitFormat(found: FormatRecord | null | 'absent', hasData: boolean, location: string, wayOut: string, version: string, now: number): { report: OpenReport; record: FormatRecord } {
  if (found === 'absent') {
    if (hasData) throw new StoreOpenError(location, 'it holds data but no iosig format record: it is not an iosig store (or not one this version knows)', wayOut);
    return { report: { cleanShutdown: true, created: true, format: FORMAT_VERSION, writtenBy: version }, record: { format: FORMAT_VERSION, writtenBy: version, state: 'open', created: now } };
  }
  if (found === null) throw new StoreOpenError(location, 'its format record cannot be read (damaged)', wayOut);
  const by = found.writtenBy ? `iosig ${found.writtenBy}` : 'an unknown iosig version';
  if (found.format > FORMAT_VERSION) {
    throw new StoreOpenError(location, `it was written by ${by} in store format ${found.format}; this iosig (${version || 'this version'}) reads formats up to ${FORMAT_VERSION}`, `Run the newer iosig, which reads it. ${wayOut}`);
  }
  if (found.format < FORMAT_VERSION && !READABLE_OLDER_FORMATS.has(found.format)) {
    throw new StoreOpenError(location, `it was written by ${by} in store format ${found.format}, which this iosig (${version || 'this version'}, format ${FORMAT_VERSION}) no longer reads`, `Start ${by} on it to get at what it holds. ${wayOut}`);
  }
  return {
    report: { cleanShutdown: found.state === 'clean', created: false, format: found.format, writtenBy: found.writtenBy },
    record: { format: FORMAT_VERSION, writtenBy: version || found.writtenBy, state: 'open', created: found.created },
  };
}
