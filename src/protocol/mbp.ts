// Meta-buffer-pack (docs/protocol.md §6): `field bytes ‖ meta JSON ‖ metaLen u16BE`, meta = [[name, type, offset, length], …].
// Pure codec. `unpack` never throws: malformed input gives undefined, undecodable fields are left out.
import { parseJsonWithin } from './json-depth.js';

/** Anything JSON can hold. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** A decoded field: raw bytes (type B) or anything JSON can hold. */
export type MbpValue = Buffer | JsonValue;

/** A field's name in the meta: a string, or a number for positional fields. */
export type MbpName = string | number;

/** One field ready to pack. An empty name means "take space but stay out of the meta". */
export interface MbpItem {
  readonly name: MbpName;
  readonly type: string;
  readonly bytes: Uint8Array;
}

/** `[name, type, offset, length]`, as written in the meta JSON. */
export type MbpMetaEntry = readonly [name: MbpName, type: string, offset: number, length: number];

/** A decoded record: its fields by name, and their values in order. */
export interface MbpRecord {
  [name: string]: MbpValue | MbpValue[] | undefined;
  /** Fields 0, 1, 2… up to the first missing or falsy one (Q10); absent when there are none. */
  args?: MbpValue[];
  /** Same array as `args`. */
  $?: MbpValue[];
  /** With an explicit meta: the bytes after the described fields. */
  $OTHERS?: Buffer;
}

type FixedKind = 'u8' | 'i8' | 'u16be' | 'u16le' | 'i16be' | 'i16le' | 'u32be' | 'u32le' | 'i32be' | 'i32le' | 'f32be' | 'f32le';
type VariableKind = 'bytes' | 'string' | 'number' | 'json' | 'boolean';
type FieldKind = FixedKind | VariableKind;

const FIXED_SIZE: Readonly<Record<FixedKind, number>> = {
  u8: 1, i8: 1, u16be: 2, u16le: 2, i16be: 2, i16le: 2, u32be: 4, u32le: 4, i32be: 4, i32le: 4, f32be: 4, f32le: 4,
};

const VARIABLE_KIND: Readonly<Record<string, VariableKind>> = { B: 'bytes', S: 'string', N: 'number', O: 'json', '!': 'boolean' };

/** §6.2 matching order: contains 8, 16, 32, F; else an exact letter. `I` = signed, `L` = little-endian. */
function fieldKind(code: string): FieldKind | null {
  const upper = code.toUpperCase();
  const signed = upper.includes('I');
  const little = upper.includes('L');
  const order = little ? 'le' : 'be';
  if (upper.includes('8')) return signed ? 'i8' : 'u8';
  if (upper.includes('16')) return `${signed ? 'i' : 'u'}16${order}`;
  if (upper.includes('32')) return `${signed ? 'i' : 'u'}32${order}`;
  if (upper.includes('F')) return `f32${order}`;
  return Object.hasOwn(VARIABLE_KIND, upper) ? VARIABLE_KIND[upper]! : null;
}

function isFixed(kind: FieldKind): kind is FixedKind {
  return kind in FIXED_SIZE;
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function writeFixed(kind: FixedKind, value: number): Buffer {
  const out = Buffer.alloc(FIXED_SIZE[kind]);
  // Buffer's writers throw RangeError for out-of-range integers, which is what the sender should see.
  switch (kind) {
    case 'u8': out.writeUInt8(value); break;
    case 'i8': out.writeInt8(value); break;
    case 'u16be': out.writeUInt16BE(value); break;
    case 'u16le': out.writeUInt16LE(value); break;
    case 'i16be': out.writeInt16BE(value); break;
    case 'i16le': out.writeInt16LE(value); break;
    case 'u32be': out.writeUInt32BE(value); break;
    case 'u32le': out.writeUInt32LE(value); break;
    case 'i32be': out.writeInt32BE(value); break;
    case 'i32le': out.writeInt32LE(value); break;
    case 'f32be': out.writeFloatBE(value); break;
    case 'f32le': out.writeFloatLE(value); break;
  }
  return out;
}

function readFixed(kind: FixedKind, buf: Buffer, offset: number): number {
  switch (kind) {
    case 'u8': return buf.readUInt8(offset);
    case 'i8': return buf.readInt8(offset);
    case 'u16be': return buf.readUInt16BE(offset);
    case 'u16le': return buf.readUInt16LE(offset);
    case 'i16be': return buf.readInt16BE(offset);
    case 'i16le': return buf.readInt16LE(offset);
    case 'u32be': return buf.readUInt32BE(offset);
    case 'u32le': return buf.readUInt32LE(offset);
    case 'i32be': return buf.readInt32BE(offset);
    case 'i32le': return buf.readInt32LE(offset);
    case 'f32be': return buf.readFloatBE(offset);
    case 'f32le': return buf.readFloatLE(offset);
  }
}

/**
 * A number in a fixed-size code (`8`, `I16L`, `F`…) or as decimal text (`N`).
 * Throws TypeError for other codes and RangeError when the value does not fit.
 */
export function numberBuffer(type: string, value: number): Buffer {
  const kind = fieldKind(type);
  if (kind === 'number') return Buffer.from(String(value));
  if (kind === null || !isFixed(kind)) throw new TypeError(`MBP: "${type}" is not a number type`);
  return writeFixed(kind, value);
}

/** Bytes of a Uint8Array, any typed-array view, DataView or ArrayBuffer; null for anything else. */
export function binaryBytes(value: unknown): Uint8Array | null {
  if (value instanceof Uint8Array) return value;
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  return null;
}

function jsonBytes(value: unknown): Buffer {
  const text: unknown = JSON.stringify(value);
  if (typeof text !== 'string') throw new TypeError('MBP: value has no JSON form');
  return Buffer.from(text);
}

function item(name: MbpName, type: string, bytes: Uint8Array): MbpItem {
  // '#' marks a field that takes space but is not described (fixed layouts).
  return { name: typeof name === 'string' && name.includes('#') ? '' : name, type, bytes };
}

/** Field typed from its value: string → S, number → N, binary → B, boolean → !, other object or null → O. */
function inferred(name: MbpName, value: unknown): MbpItem {
  if (typeof value === 'string') return item(name, 'S', Buffer.from(value));
  if (typeof value === 'number') return item(name, 'N', Buffer.from(String(value)));
  if (typeof value === 'boolean') return item(name, '!', Buffer.from([value ? 1 : 0]));
  const binary = binaryBytes(value);
  if (binary) return item(name, 'B', binary);
  if (typeof value === 'object') return item(name, 'O', jsonBytes(value));
  throw new TypeError(`MBP: cannot pack a ${typeof value}`);
}

/** Field with an explicit code: any number code with a number, or S/B/O/! with a matching value. */
function explicit(name: MbpName, type: string, value: unknown): MbpItem {
  const code = type.toUpperCase();
  if (typeof value === 'number') return item(name, code, numberBuffer(type, value));
  const kind = fieldKind(type);
  if (kind === 'string' && typeof value === 'string') return item(name, code, Buffer.from(value));
  if (kind === 'boolean' && typeof value === 'boolean') return item(name, code, Buffer.from([value ? 1 : 0]));
  if (kind === 'json' && value !== undefined) return item(name, code, jsonBytes(value));
  const binary = kind === 'bytes' ? binaryBytes(value) : null;
  if (binary) return item(name, code, binary);
  throw new TypeError(`MBP: a ${typeof value} cannot be packed as "${type}"`);
}

/**
 * One named field. Forms:
 * `MB(name, value)` — type inferred (§6.2);
 * `MB(name, type, value)` — explicit code, e.g. `MB('mid', '16', 1)`;
 * `MB(name, size, fill)` — two numbers: a `size`-byte buffer filled with `fill`.
 * Names that are empty or contain `#` are left out of the meta.
 */
export function MB(name: MbpName, value: unknown): MbpItem;
export function MB(name: MbpName, typeOrSize: string | number, value: unknown): MbpItem;
export function MB(name: MbpName, typeOrValue: unknown, value?: unknown): MbpItem {
  if (value === undefined) return inferred(name, typeOrValue);
  if (typeof typeOrValue === 'number' && typeof value === 'number') return item(name, 'B', Buffer.alloc(typeOrValue, value));
  if (typeof typeOrValue === 'string') return explicit(name, typeOrValue, value);
  throw new TypeError('MBP: MB(name, type, value) needs a type code or a size');
}

/** Arguments as fields named 0, 1, 2…; numbers are stored as decimal text (N). `pack` puts them last. */
export function MBA(...args: unknown[]): MbpItem[] {
  return args.map((value, index) => (typeof value === 'number' ? explicit(index, 'N', value) : inferred(index, value)));
}

function isDescribed(name: MbpName): boolean {
  return typeof name === 'number' || (name.length > 0 && !name.includes('#'));
}

/** Lays out the fields (MBA groups after all single items) and their meta entries. */
function layout(parts: ReadonlyArray<MbpItem | readonly MbpItem[]>): { items: MbpItem[]; meta: MbpMetaEntry[]; size: number } {
  const singles: MbpItem[] = [];
  const groups: MbpItem[] = [];
  for (const part of parts) {
    if (Array.isArray(part)) groups.push(...(part as readonly MbpItem[]));
    else singles.push(part as MbpItem);
  }
  const items = singles.concat(groups);
  const meta: MbpMetaEntry[] = [];
  let size = 0;
  for (const field of items) {
    if (isDescribed(field.name)) meta.push([field.name, field.type, size, field.bytes.length]);
    size += field.bytes.length;
  }
  return { items, meta, size };
}

/** The meta entries `pack` would write for these parts (used to read fixed layouts with `unpack`). */
export function metaOf(...parts: Array<MbpItem | readonly MbpItem[]>): MbpMetaEntry[] {
  return layout(parts).meta;
}

/** Concatenated fields, then meta JSON and its u16BE length — or just the fields when none is described. */
export function pack(...parts: Array<MbpItem | readonly MbpItem[]>): Buffer {
  const { items, meta, size } = layout(parts);
  const metaBytes = meta.length > 0 ? Buffer.from(JSON.stringify(meta)) : null;
  if (metaBytes && metaBytes.length > 0xffff) throw new RangeError(`MBP: meta is ${metaBytes.length} bytes; the limit is 65535`);
  const out = Buffer.allocUnsafe(size + (metaBytes ? metaBytes.length + 2 : 0));
  let offset = 0;
  for (const field of items) {
    out.set(field.bytes, offset);
    offset += field.bytes.length;
  }
  if (metaBytes) {
    out.set(metaBytes, offset);
    out.writeUInt16BE(metaBytes.length, offset + metaBytes.length);
  }
  return out;
}

const utf8 = new TextDecoder();

/**
 * The embedded meta, or undefined when there is none: needs a non-zero u16BE tail that fits, and JSON
 * whose first entry is an array of ≥ 3 items with a string type and a number offset (§6.4).
 */
export function readMeta(buf: Uint8Array): unknown[] | undefined {
  if (buf.length <= 2) return undefined;
  const metaLen = (buf[buf.length - 2]! << 8) | buf[buf.length - 1]!;
  if (metaLen === 0 || metaLen > buf.length - 2) return undefined;
  // Nested deeper than MAX_JSON_DEPTH, the meta is no meta: nothing recursive ever walks what a peer wrote.
  const meta = parseJsonWithin(buf.subarray(buf.length - 2 - metaLen, buf.length - 2));
  if (!Array.isArray(meta)) return undefined;
  const first: unknown = meta[0];
  if (!Array.isArray(first) || first.length < 3 || typeof first[1] !== 'string' || typeof first[2] !== 'number') {
    return undefined;
  }
  return meta;
}

interface FieldSpec {
  name: string;
  kind: FieldKind;
  offset: number;
  length: number | undefined;
}

function isCount(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0;
}

/** A meta entry in usable shape, or null. Fixed-size types may omit the length; others need it. */
function fieldSpec(entry: unknown): FieldSpec | null {
  if (!Array.isArray(entry)) return null;
  const [name, type, offset, length]: unknown[] = entry;
  if (typeof name !== 'string' && typeof name !== 'number') return null;
  if (typeof type !== 'string' || !isCount(offset)) return null;
  const kind = fieldKind(type);
  if (kind === null) return null;
  // Booleans are one byte whatever the length says, as in the reference.
  if (!isFixed(kind) && kind !== 'boolean' && !isCount(length)) return null;
  return { name: String(name), kind, offset, length: typeof length === 'number' ? length : undefined };
}

/** The field's value, or undefined when it does not decode (out of range, bad JSON…). */
function readField(buf: Buffer, spec: FieldSpec): MbpValue | undefined {
  const { kind, offset } = spec;
  if (isFixed(kind)) {
    return offset + FIXED_SIZE[kind] <= buf.length ? readFixed(kind, buf, offset) : undefined;
  }
  if (kind === 'boolean') return offset < buf.length ? buf[offset] === 1 : undefined;
  const end = offset + (spec.length ?? 0);
  if (end > buf.length) return undefined;
  switch (kind) {
    case 'bytes': return Buffer.from(buf.subarray(offset, end));
    case 'string': return utf8.decode(buf.subarray(offset, end));
    case 'number': return Number(utf8.decode(buf.subarray(offset, end)));
    // JSON nested deeper than MAX_JSON_DEPTH does not decode: the field is left out.
    case 'json': return parseJsonWithin(buf.subarray(offset, end)) as JsonValue | undefined;
  }
}

function setField(record: MbpRecord, name: string, value: MbpValue | MbpValue[]): void {
  // defineProperty keeps a field named "__proto__" an ordinary own property.
  Object.defineProperty(record, name, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * Reads a pack. Without `meta` the embedded meta is used (undefined when there is none).
 * With `meta` (fixed layouts) the bytes after the described fields land in `$OTHERS`.
 * Null and undecodable fields are left out. Never throws.
 */
export function unpack(buf: Uint8Array, meta?: readonly unknown[]): MbpRecord | undefined {
  const entries = meta ?? readMeta(buf);
  if (!entries) return undefined;
  const bytes = asBuffer(buf);
  const record: MbpRecord = {};
  let described = 0;
  for (const entry of entries) {
    const spec = fieldSpec(entry);
    if (!spec) continue;
    const value = readField(bytes, spec);
    if (value === undefined || value === null) continue;
    setField(record, spec.name, value);
    if (spec.length) described += spec.length;
  }
  if (meta && bytes.length > described) setField(record, '$OTHERS', Buffer.from(bytes.subarray(described)));
  const args: MbpValue[] = [];
  for (let value = record[0]; value; value = record[args.length]) args.push(value as MbpValue);
  if (args.length > 0) {
    setField(record, 'args', args);
    setField(record, '$', args);
  }
  return record;
}
