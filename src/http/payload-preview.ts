// A short, printable start of a signal payload for the dashboard's tail.
import { PAYLOAD } from '../protocol/codes.js';

export const PREVIEW_BYTES = 96;

const TEXTUAL: ReadonlySet<number> = new Set([PAYLOAD.TEXT, PAYLOAD.OBJECT, PAYLOAD.MJSON]);

export function payloadPreview(payloadType: number, payload: Uint8Array | undefined): string {
  if (!payload || payload.length === 0) return '';
  const head = payload.subarray(0, PREVIEW_BYTES);
  const more = payload.length > PREVIEW_BYTES ? '…' : '';
  if (TEXTUAL.has(payloadType)) {
    // TEXT ends with a NUL for C readers; control characters would garble the page's table.
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what the preview replaces
    const text = Buffer.from(head).toString('utf8').replace(/\0+$/, '').replace(/[\u0000-\u001f\u007f]/g, '·');
    return text + more;
  }
  return Buffer.from(head).toString('hex') + more;
}
