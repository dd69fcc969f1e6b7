// A look at an LMDB data file before LMDB maps it. LMDB trusts its file: handed a file of another kind it reads
// garbage as page numbers (SIGSEGV), handed a truncated one it touches mapped pages past the end (SIGBUS) — the
// process dies, and a supervisor restarting it dies again. So iosig reads the two meta pages itself first and
// refuses a file they do not describe. The layout is that of the LMDB inside lmdb-js 3 (64-bit: a page header of
// 24 bytes with a transaction id, then the meta); the store tests open every file they make through this check,
// so an lmdb upgrade that moves it fails there, not in production.
// This catches the usual damage — a wrong file, a copy cut short, a disk that filled up — not a page damaged in
// place (LMDB keeps no checksums; its copy-on-write pages are never half-written by LMDB itself).
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

const META_MAGIC = 0xbeefc0de;
const P_META = 0x08;
/** Offsets inside a meta page. */
const FLAGS_AT = 0x12;
const MAGIC_AT = 0x18;
const PAGE_SIZE_AT = 0x30; // mm_dbs[FREE_DBI].md_pad holds the page size
const LAST_PAGE_AT = 0x90;
const TXN_ID_AT = 0x98;
const META_BYTES = TXN_ID_AT + 8;

/** null when the file looks like a whole LMDB file; otherwise what is wrong with it. */
export function lmdbFileProblem(file: string): string | null {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    return `it cannot be read (${err instanceof Error ? err.message : String(err)})`;
  }
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return 'the file is empty (0 bytes): cut short, or never written';
    const first = Buffer.alloc(META_BYTES);
    if (readSync(fd, first, 0, META_BYTES, 0) < META_BYTES) return `the file is ${size} bytes: too short to be an LMDB store`;
    const problem = metaProblem(first, 0);
    if (problem) return problem;
    const pageSize = first.readUInt32LE(PAGE_SIZE_AT);
    if (pageSize < 512 || pageSize > 65_536 || (pageSize & (pageSize - 1)) !== 0) return `its page size reads ${pageSize}: not an LMDB store, or damaged`;
    if (size < 2 * pageSize) return `the file is ${size} bytes, less than its two meta pages`;
    const second = Buffer.alloc(META_BYTES);
    readSync(fd, second, 0, META_BYTES, pageSize);
    const secondProblem = metaProblem(second, 1);
    if (secondProblem) return secondProblem;
    const newest = first.readBigUInt64LE(TXN_ID_AT) >= second.readBigUInt64LE(TXN_ID_AT) ? first : second;
    const pages = Number(newest.readBigUInt64LE(LAST_PAGE_AT)) + 1;
    if (pages * pageSize > size) return `the file is ${size} bytes but its last transaction uses ${pages * pageSize} (${pages} pages of ${pageSize}): cut short`;
    return null;
  } finally {
    closeSync(fd);
  }
}

function metaProblem(meta: Buffer, page: number): string | null {
  if (meta.readUInt32LE(MAGIC_AT) !== META_MAGIC) return `meta page ${page} has no LMDB signature: not an LMDB store, or damaged`;
  if ((meta.readUInt16LE(FLAGS_AT) & P_META) === 0) return `meta page ${page} is not marked as one: damaged`;
  return null;
}
