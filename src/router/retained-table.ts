import { CHANNEL_PREFIX } from './tags.js';

// The channel-retained values, packed. A Map of key → Buffer (plus maps for the owner and the publisher) costs
// about 190 bytes per value besides the value itself, which dominates small sensor values (a million 27-byte
// signals: five times their own size). Here every value is one record — flags, lengths, an interned writer, the key's
// UTF-8 bytes (none when the key is `CH:` + the signal's own tag) and the message — appended to 1 MiB byte slabs,
// and one open-addressed Uint32Array indexes the records by key: about 15 bytes per value besides the message.
//
// Records are never written over: a value handed out (a view into its slab) stays intact while a socket or the store
// still holds it. Replaced and deleted records are garbage, counted per slab; once garbage passes half the live
// bytes, the slab with the most is compacted (its live records copied to the end, its id freed), one slab per write.

/** Bytes per slab; a record larger than this gets a slab of its own. */
const SLAB_BYTES = 1 << 20;
/** Records start on 4-byte boundaries, so a 32-bit location (14-bit slab id, 18-bit offset / 4) spans 16 GiB. */
const OFFSET_UNITS = 18;
const MAX_SLABS = 1 << (32 - OFFSET_UNITS);
const UNIT_MASK = (1 << OFFSET_UNITS) - 1;
/** Slot sentinels: slab id 0 is never used. Small numbers, so slot reads stay small integers (no heap numbers). */
const EMPTY = 0;
const DELETED = 1;
/** flags u8 ‖ key length u16 ‖ message length u32 ‖ writer id u32 (little-endian), then the key and the message. */
const HEADER = 11;
const MAX_KEY_BYTES = 0xffff;
const REMOTE = 1;
/**
 * The key is `CH:` + the message's own tag (a SIGNAL's tag length at byte 1, the tag from byte 2), as for almost
 * every channel-retained value: not stored a second time (the record's key length is 0).
 */
const KEY_IN_MSG = 2;
const DERIVED_PREFIX = CHANNEL_PREFIX;
const PREFIX_LENGTH = DERIVED_PREFIX.length;
/** Garbage below this is never worth a compaction. */
const COMPACT_FLOOR = SLAB_BYTES;
const MAX_LOAD = 0.7;

type Publisher = string | null;
type Owner = string | null;

/** One live value as iteration sees it. `stamp` changes whenever the value is rewritten (or moved by compaction). */
export interface RetainedRecord {
  readonly key: string;
  readonly msg: Buffer;
  readonly stamp: number;
  readonly remote: boolean;
}

/**
 * Who wrote values — (owner, publisher) pairs — interned with reference counts, so a value names its writer in 4
 * bytes. Id 0 is (null, ''), what values read back from the store carry; it is never counted or freed.
 */
class Writers {
  private readonly ids = new Map<string, number>();
  private readonly owners: Owner[] = [null];
  private readonly publishers: Publisher[] = [''];
  private readonly refs: number[] = [0];
  private readonly free: number[] = [];

  private static name(owner: Owner, publisher: Publisher): string {
    const o = owner === null ? '-' : `+${owner.length}:${owner}`;
    return publisher === null ? `${o}-` : `${o}+${publisher}`;
  }

  acquire(owner: Owner, publisher: Publisher): number {
    if (owner === null && publisher === '') return 0;
    const name = Writers.name(owner, publisher);
    let id = this.ids.get(name);
    if (id === undefined) {
      id = this.free.pop() ?? this.owners.length;
      this.ids.set(name, id);
      this.owners[id] = owner;
      this.publishers[id] = publisher;
      this.refs[id] = 0;
    }
    this.refs[id]!++;
    return id;
  }

  release(id: number): void {
    if (id === 0 || --this.refs[id]! > 0) return;
    this.ids.delete(Writers.name(this.owners[id]!, this.publishers[id]!));
    this.owners[id] = null;
    this.publishers[id] = '';
    this.free.push(id);
  }

  owner(id: number): Owner {
    return this.owners[id] ?? null;
  }

  publisher(id: number): Publisher {
    const p = this.publishers[id];
    return p === undefined ? '' : p;
  }
}

export class RetainedTable {
  private slots = new Uint32Array(16);
  /** 8 more bits of each slot's key hash: a probe reads a record only when they match (a byte per slot). */
  private tags = new Uint8Array(16);
  /**
   * By id (0 is never used). Replaced (not edited) when a slab is freed, so an iteration in progress keeps reading
   * the slabs it started with.
   */
  private slabs: Array<Buffer | undefined> = [undefined];
  private readonly slabUsed: number[] = [0];
  private readonly slabGarbage: number[] = [0];
  /** Live records per slab: a slab with none (not the tail) is freed at once. */
  private readonly slabLive: number[] = [0];
  /** Which allocation of its id a slab is (stamps tell a reused id's records from its previous ones). */
  private readonly slabSerial: number[] = [0];
  private serials = 0;
  private readonly freeSlabs: number[] = [];
  /** The slab records are appended to (-1: none yet). */
  private tail = -1;
  private count = 0;
  private deleted = 0;
  private liveBytes = 0;
  private garbageBytes = 0;
  private readonly writers = new Writers();
  private scratch = Buffer.allocUnsafe(256);
  /**
   * The last key looked up and what was found, so the router's find-then-set costs one probe: its slot (-1: absent),
   * the free slot its insertion would take and whether it is ASCII. Cleared by every change to the index.
   */
  private lastKey: string | null = null;
  private lastSlot = -1;
  private lastVacancy = -1;
  private lastAscii = true;
  private lastTag = 0;

  get size(): number {
    return this.count;
  }

  /** Bytes the slabs and the index take (the table's own memory, garbage included). */
  get footprint(): number {
    let slabs = 0;
    for (const slab of this.slabs) slabs += slab?.length ?? 0;
    return slabs + this.slots.byteLength + this.tags.byteLength;
  }

  // ---- by key --------------------------------------------------------------------------------------------------

  /** The location of `key`'s record, or -1. */
  find(key: string): number {
    const at = this.slotOf(key);
    return at < 0 ? -1 : this.slots[at]!;
  }

  has(key: string): boolean {
    return this.slotOf(key) >= 0;
  }

  get(key: string): Buffer | undefined {
    const at = this.slotOf(key);
    return at < 0 ? undefined : this.messageAt(this.slots[at]!);
  }

  /**
   * Keeps `msg` (copied) as `key`'s value, written by `owner` / `publisher`; `remote`: it came from another node.
   * Returns the new record's location, or -1 when it cannot be kept (a key over 64 KiB, or 16 GiB of slabs).
   */
  set(key: string, msg: Uint8Array, owner: Owner, publisher: Publisher, remote = false): number {
    if ((this.count + this.deleted + 1) / this.slots.length > MAX_LOAD) this.resize();
    const at = this.slotOf(key);
    const ascii = this.lastAscii;
    const inMsg = ascii && keyInMessage(key, msg);
    const keyBytes = inMsg ? 0 : ascii ? key.length : Buffer.byteLength(key);
    if (keyBytes > MAX_KEY_BYTES) return -1;
    const bytes = HEADER + keyBytes + msg.length;
    const loc = this.allocate(bytes);
    if (loc < 0) return -1;
    const vacancy = this.lastVacancy;
    this.lastKey = null;
    const slab = this.slabs[loc >>> OFFSET_UNITS]!;
    const off = (loc & UNIT_MASK) << 2;
    const writer = this.writers.acquire(owner, publisher);
    slab[off] = (remote ? REMOTE : 0) | (inMsg ? KEY_IN_MSG : 0);
    slab[off + 1] = keyBytes & 0xff;
    slab[off + 2] = keyBytes >>> 8;
    slab.writeUInt32LE(msg.length, off + 3);
    slab.writeUInt32LE(writer, off + 7);
    const start = off + HEADER;
    if (ascii) for (let i = 0; i < keyBytes; i++) slab[start + i] = key.charCodeAt(i);
    else slab.write(key, start, 'utf8');
    // Small values byte by byte: cheaper than a native copy's call.
    if (msg.length <= 64) for (let i = 0, to = start + keyBytes; i < msg.length; i++) slab[to + i] = msg[i]!;
    else slab.set(msg, start + keyBytes);
    if (at >= 0) {
      this.drop(this.slots[at]!);
      this.slots[at] = loc;
    } else {
      if (this.slots[vacancy] === DELETED) this.deleted--;
      this.slots[vacancy] = loc;
      this.tags[vacancy] = this.lastTag;
      this.count++;
    }
    this.liveBytes += bytes;
    this.slabLive[loc >>> OFFSET_UNITS]!++;
    this.maybeCompact();
    return loc;
  }

  delete(key: string): boolean {
    const at = this.slotOf(key);
    if (at < 0) return false;
    this.lastKey = null;
    this.drop(this.slots[at]!);
    this.slots[at] = DELETED;
    this.count--;
    this.deleted++;
    this.maybeCompact();
    return true;
  }

  // ---- by location (what find and set return) -------------------------------------------------------------------

  messageAt(loc: number): Buffer {
    const slab = this.slabs[loc >>> OFFSET_UNITS]!;
    const off = (loc & UNIT_MASK) << 2;
    const start = off + HEADER + slab.readUInt16LE(off + 1);
    return slab.subarray(start, start + slab.readUInt32LE(off + 3));
  }

  lengthAt(loc: number): number {
    const slab = this.slabs[loc >>> OFFSET_UNITS]!;
    return slab.readUInt32LE(((loc & UNIT_MASK) << 2) + 3);
  }

  ownerAt(loc: number): Owner {
    return this.writers.owner(this.writerAt(loc));
  }

  publisherAt(loc: number): Publisher {
    return this.writers.publisher(this.writerAt(loc));
  }

  remoteAt(loc: number): boolean {
    const slab = this.slabs[loc >>> OFFSET_UNITS]!;
    return (slab[(loc & UNIT_MASK) << 2]! & REMOTE) !== 0;
  }

  /** Changes whenever the value is rewritten or moved (the location, and which allocation of its slab id it is in). */
  stampAt(loc: number): number {
    return (this.slabSerial[loc >>> OFFSET_UNITS]! % 2 ** 21) * 2 ** 32 + loc;
  }

  // ---- iteration -----------------------------------------------------------------------------------------------

  /**
   * Every live value, each in its current form. Safe across writes and awaits between steps (it walks the index
   * and the slabs it started with; neither is edited once replaced): a key first written meanwhile may or may not
   * be seen, a key deleted meanwhile is not, and a key deleted and written again meanwhile may be seen twice.
   */
  *records(): Generator<RetainedRecord> {
    const slots = this.slots;
    const slabs = this.slabs;
    for (let i = 0; i < slots.length; i++) {
      const at = slots[i]!;
      if (at === EMPTY || at === DELETED) continue;
      const key = keyAt(slabs, at);
      const loc = this.find(key);
      if (loc < 0) continue;
      yield { key, msg: this.messageAt(loc), stamp: this.stampAt(loc), remote: this.remoteAt(loc) };
    }
  }

  *keys(): Generator<string> {
    for (const r of this.records()) yield r.key;
  }

  *[Symbol.iterator](): Generator<[string, Buffer]> {
    for (const r of this.records()) yield [r.key, r.msg];
  }

  // ---- inside ----------------------------------------------------------------------------------------------------

  private writerAt(loc: number): number {
    const slab = this.slabs[loc >>> OFFSET_UNITS]!;
    return slab.readUInt32LE(((loc & UNIT_MASK) << 2) + 7);
  }

  /** The slot holding `key`'s record, or -1 (then lastVacancy is where it would go). */
  private slotOf(key: string): number {
    if (key === this.lastKey) return this.lastSlot;
    let hash = 0x811c9dc5;
    let ascii = true;
    for (let i = 0; i < key.length; i++) {
      const c = key.charCodeAt(i);
      if (c > 0x7f) ascii = false;
      hash = Math.imul(hash ^ c, 0x01000193);
    }
    hash = mix(hash);
    this.lastKey = key;
    this.lastAscii = ascii;
    this.lastTag = hash >>> 23;
    this.lastSlot = this.probe(key, hash, ascii);
    return this.lastSlot;
  }

  /** The slot holding `key`'s record, or -1; lastVacancy: the first free slot on the way. */
  private probe(key: string, hash: number, ascii: boolean): number {
    const { slots, tags } = this;
    const mask = slots.length - 1;
    const tag = hash >>> 23;
    let encoded = -1;
    this.lastVacancy = -1;
    for (let i = hash & mask, step = 0; step <= mask; step++, i = (i + 1) & mask) {
      const loc = slots[i]!;
      if (loc === EMPTY) {
        if (this.lastVacancy < 0) this.lastVacancy = i;
        return -1;
      }
      if (loc === DELETED) {
        if (this.lastVacancy < 0) this.lastVacancy = i;
        continue;
      }
      if (tags[i] !== tag) continue;
      const slab = this.slabs[loc >>> OFFSET_UNITS]!;
      const off = ((loc & UNIT_MASK) << 2) + 1;
      const length = slab[off]! | (slab[off + 1]! << 8);
      const start = off + HEADER - 1;
      if ((slab[off - 1]! & KEY_IN_MSG) !== 0) {
        if (ascii && sameDerivedKey(key, slab, start)) return i;
      } else if (ascii) {
        if (length !== key.length) continue;
        let j = 0;
        while (j < length && slab[start + j] === key.charCodeAt(j)) j++;
        if (j === length) return i;
      } else {
        if (encoded < 0) encoded = this.encode(key);
        if (length === encoded && this.scratch.compare(slab, start, start + length, 0, encoded) === 0) return i;
      }
    }
    return -1;
  }

  private encode(key: string): number {
    const need = Buffer.byteLength(key);
    if (need > this.scratch.length) this.scratch = Buffer.allocUnsafe(need);
    return this.scratch.write(key, 0, 'utf8');
  }

  /** A new index (a power of two at most half full; tombstones dropped). */
  private resize(): void {
    const old = this.slots;
    let size = 16;
    while (size < (this.count + 1) * 2) size *= 2;
    const slots = new Uint32Array(size);
    const tags = new Uint8Array(size);
    const mask = size - 1;
    for (let i = 0; i < old.length; i++) {
      const loc = old[i]!;
      if (loc === EMPTY || loc === DELETED) continue;
      const hash = hashAt(this.slabs, loc);
      let j = hash & mask;
      while (slots[j] !== EMPTY) j = (j + 1) & mask;
      slots[j] = loc;
      tags[j] = hash >>> 23;
    }
    this.slots = slots;
    this.tags = tags;
    this.deleted = 0;
    this.lastKey = null;
  }

  /** Room for `bytes` at the tail (a new slab when full; a slab of its own when larger than one): its location. */
  private allocate(bytes: number): number {
    const need = (bytes + 3) & ~3;
    if (need > SLAB_BYTES) {
      const id = this.newSlab(need);
      if (id < 0) return -1;
      this.slabUsed[id] = need;
      return id << OFFSET_UNITS;
    }
    if (this.tail < 0 || this.slabUsed[this.tail]! + need > SLAB_BYTES) {
      if (this.newSlab(SLAB_BYTES) < 0) return -1;
    }
    const off = this.slabUsed[this.tail]!;
    this.slabUsed[this.tail] = off + need;
    return (this.tail << OFFSET_UNITS) | (off >>> 2);
  }

  private newSlab(bytes: number): number {
    const id = this.freeSlabs.pop() ?? this.slabs.length;
    if (id >= MAX_SLABS) return -1;
    this.slabs[id] = Buffer.allocUnsafeSlow(bytes);
    this.slabUsed[id] = 0;
    this.slabGarbage[id] = 0;
    this.slabLive[id] = 0;
    this.slabSerial[id] = ++this.serials;
    const previous = this.tail;
    if (bytes === SLAB_BYTES) this.tail = id;
    // The tail it replaces may hold nothing live any more.
    if (previous >= 0 && previous !== this.tail && this.slabLive[previous] === 0) this.freeSlab(previous);
    return id;
  }

  /** A record no longer live: its bytes become garbage and its writer is let go. */
  private drop(loc: number): void {
    const id = loc >>> OFFSET_UNITS;
    const bytes = recordBytes(this.slabs[id]!, (loc & UNIT_MASK) << 2);
    this.writers.release(this.writerAt(loc));
    this.liveBytes -= bytes;
    this.garbageBytes += bytes;
    this.slabGarbage[id]! += bytes;
    if (--this.slabLive[id]! === 0 && id !== this.tail) this.freeSlab(id);
  }

  private freeSlab(id: number): void {
    this.garbageBytes -= this.slabGarbage[id]!;
    this.slabs = this.slabs.slice();
    this.slabs[id] = undefined;
    this.slabUsed[id] = 0;
    this.slabGarbage[id] = 0;
    this.slabLive[id] = 0;
    this.freeSlabs.push(id);
  }

  /** Once garbage passes half the live bytes (and a slab), the slab with the most is compacted. */
  private maybeCompact(): void {
    if (this.garbageBytes < COMPACT_FLOOR || this.garbageBytes * 2 < this.liveBytes) return;
    let worst = -1;
    for (let id = 1; id < this.slabs.length; id++) {
      if (id !== this.tail && this.slabs[id] && (worst < 0 || this.slabGarbage[id]! > this.slabGarbage[worst]!)) worst = id;
    }
    if (worst >= 0) this.compact(worst);
  }

  /** Copies the live records of slab `id` to the tail, then frees it. */
  private compact(id: number): void {
    const slab = this.slabs[id]!;
    const used = this.slabUsed[id]!;
    for (let off = 0; off < used; ) {
      const bytes = recordBytes(slab, off);
      const loc = (id << OFFSET_UNITS) | (off >>> 2);
      const at = this.slotAt(hashAt(this.slabs, loc), loc);
      if (at >= 0) {
        const moved = this.allocate(bytes);
        if (moved < 0) return; // no room: keep the slab
        slab.copy(this.slabs[moved >>> OFFSET_UNITS]!, (moved & UNIT_MASK) << 2, off, off + bytes);
        this.slots[at] = moved;
        this.lastKey = null;
        this.slabLive[moved >>> OFFSET_UNITS]!++;
      }
      off += (bytes + 3) & ~3;
    }
    this.freeSlab(id);
  }

  /** The slot pointing at exactly `loc` (found through its key's probe sequence), or -1. */
  private slotAt(hash: number, loc: number): number {
    const { slots } = this;
    const mask = slots.length - 1;
    for (let i = hash & mask, step = 0; step <= mask && slots[i] !== EMPTY; step++, i = (i + 1) & mask) {
      if (slots[i] === loc) return i;
    }
    return -1;
  }
}

function recordBytes(slab: Buffer, off: number): number {
  return HEADER + slab.readUInt16LE(off + 1) + slab.readUInt32LE(off + 3);
}


/** Whether `key` is `CH:` + `msg`'s tag (ASCII keys only). */
function keyInMessage(key: string, msg: Uint8Array): boolean {
  const tagLength = msg[1];
  if (tagLength === undefined || key.length !== PREFIX_LENGTH + tagLength || msg.length < 2 + tagLength || !key.startsWith(DERIVED_PREFIX)) return false;
  for (let i = 0; i < tagLength; i++) if (msg[2 + i] !== key.charCodeAt(PREFIX_LENGTH + i)) return false;
  return true;
}

/** Whether ASCII `key` is the key of the KEY_IN_MSG record whose message starts at `start`. */
function sameDerivedKey(key: string, slab: Buffer, start: number): boolean {
  const tagLength = slab[start + 1]!;
  if (key.length !== PREFIX_LENGTH + tagLength) return false;
  for (let j = 0; j < PREFIX_LENGTH; j++) if (key.charCodeAt(j) !== DERIVED_PREFIX.charCodeAt(j)) return false;
  for (let j = 0; j < tagLength; j++) if (slab[start + 2 + j] !== key.charCodeAt(PREFIX_LENGTH + j)) return false;
  return true;
}

function keyAt(slabs: ReadonlyArray<Buffer | undefined>, loc: number): string {
  const slab = slabs[loc >>> OFFSET_UNITS]!;
  const off = (loc & UNIT_MASK) << 2;
  const start = off + HEADER;
  if ((slab[off]! & KEY_IN_MSG) !== 0) return DERIVED_PREFIX + slab.toString('latin1', start + 2, start + 2 + slab[start + 1]!);
  return slab.toString('utf8', start, start + slab.readUInt16LE(off + 1));
}

/** hashString of the key of the record at `loc`, from its bytes when they are ASCII. */
function hashAt(slabs: ReadonlyArray<Buffer | undefined>, loc: number): number {
  const slab = slabs[loc >>> OFFSET_UNITS]!;
  const off = (loc & UNIT_MASK) << 2;
  let h = 0x811c9dc5;
  let start = off + HEADER;
  let end = start + slab.readUInt16LE(off + 1);
  if ((slab[off]! & KEY_IN_MSG) !== 0) {
    for (let j = 0; j < PREFIX_LENGTH; j++) h = Math.imul(h ^ DERIVED_PREFIX.charCodeAt(j), 0x01000193);
    end = start + 2 + slab[start + 1]!;
    start += 2;
  }
  for (let i = start; i < end; i++) {
    const b = slab[i]!;
    if (b > 0x7f) return hashString(keyAt(slabs, loc));
    h = Math.imul(h ^ b, 0x01000193);
  }
  return mix(h);
}

/** FNV-1a over the key's UTF-16 code units (for ASCII keys, its bytes), mixed (the index uses the low bits). */
function hashString(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return mix(h);
}

/** murmur3's finalizer, to a non-negative 31-bit integer (a small integer in V8). */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return (h & 0x7fffffff) >>> 0;
}
