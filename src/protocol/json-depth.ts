// How deep JSON may nest where iosig (or its client library) turns it into values (issue 16 item 1). V8's
// JSON.parse does not recurse, but JSON.stringify and every walk over the parsed value do: a 12 KB text of
// nested brackets overflows the stack. So JSON is scanned, without recursion, before it is parsed, and a text
// nested deeper than the bound is never parsed into values at all: whatever holds a parsed value can always
// serialise it again. Pure: no I/O.

/**
 * The deepest nesting of arrays and objects iosig parses: `[]` is 1 level, `{"a":[1]}` 2. Far beyond what
 * devices send, far below what overflows a stack (a few thousand levels).
 */
export const MAX_JSON_DEPTH = 64;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;

/**
 * True when the arrays and objects of the JSON text in `bytes` (UTF-8) nest at most `max` levels deep. Brackets
 * inside strings do not count. It checks nesting only, not validity: a malformed text within the bound passes
 * (JSON.parse judges it next); an unterminated string ends the scan.
 */
export function jsonDepthWithin(bytes: Uint8Array, max = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  const n = bytes.length;
  for (let i = 0; i < n; i++) {
    const c = bytes[i]!;
    if (c === QUOTE) {
      i = stringEnd(bytes, i + 1);
    } else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      if (++depth > max) return false;
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) {
      depth--;
    }
  }
  return true;
}

/** The index of the quote that closes the string starting at `from` (past the end when there is none). */
function stringEnd(bytes: Uint8Array, from: number): number {
  for (let at = bytes.indexOf(QUOTE, from); at >= 0; at = bytes.indexOf(QUOTE, at + 1)) {
    // A quote preceded by an odd number of backslashes is escaped.
    let slashes = 0;
    while (at - 1 - slashes >= from && bytes[at - 1 - slashes] === BACKSLASH) slashes++;
    if (slashes % 2 === 0) return at;
  }
  return bytes.length;
}

const utf8 = new TextDecoder();

/**
 * The value of the JSON text in `bytes`, or undefined when it is not JSON or nests deeper than `max`. The one
 * way iosig's codecs read JSON that someone else wrote (signal payloads, MBP fields and meta, server messages).
 */
export function parseJsonWithin(bytes: Uint8Array, max = MAX_JSON_DEPTH): unknown {
  if (!jsonDepthWithin(bytes, max)) return undefined;
  try {
    return JSON.parse(utf8.decode(bytes)) as unknown;
  } catch {
    return undefined;
  }
}
