// The plain WebSocket endpoint's request (issue 11 item 1): `/plain/<channel>[,<channel>…][?format=raw|json]`,
// and the socket a plain device talks over. Pure: what the upgrade asks for, or why it cannot be served.

/** `raw` carries payloads only; `json` carries envelopes ({"tag","from","type","payload"} out, {"to","payload"} in). */
export type PlainFormat = 'raw' | 'json';

/** What a plain device asks for: its channels (what it publishes to and hears) and its format. */
export interface PlainRequest {
  channels: string[];
  format: PlainFormat;
}

/** The few calls a plain device's link makes on its WebSocket (a uWS socket in the server, a stand-in in tests). */
export interface FrameSocket {
  /** uWS status: 1 written, 0 buffered, 2 dropped. */
  send(data: string | Uint8Array, isBinary: boolean): number;
  getBufferedAmount(): number;
  ping(): void;
  end(code?: number, reason?: string): void;
  close(): void;
}

/** `/plain/a,b?format=json` → channels and format; a reason when the request cannot be served. */
export function parsePlainRequest(
  path: string,
  query: string,
  prefix: string,
): { ok: true; channels: string[]; format: PlainFormat } | { ok: false; reason: string } {
  let rest: string;
  try {
    rest = decodeURIComponent(path.slice(prefix.length));
  } catch {
    return { ok: false, reason: 'the channel list is not valid percent-encoding' };
  }
  const channels = [...new Set(rest.split(',').filter((tag) => tag !== ''))];
  if (channels.length === 0) return { ok: false, reason: `no channel: connect to ${prefix}<channel>[,<channel>…]` };
  if (channels.length > MAX_PLAIN_CHANNELS) return { ok: false, reason: `at most ${MAX_PLAIN_CHANNELS} channels per connection` };
  for (const tag of channels) {
    if (Buffer.byteLength(tag) > 255) return { ok: false, reason: 'a channel name is longer than 255 bytes' };
    if (tag.startsWith('$')) return { ok: false, reason: `channel "${tag}": names starting with $ are reserved` };
    if (tag.includes('@')) return { ok: false, reason: `channel "${tag}": a plain device listens on channels, not cid@topic` };
  }
  const params = new URLSearchParams(query);
  const format = params.get('format') ?? 'raw';
  if (format !== 'raw' && format !== 'json') return { ok: false, reason: `format must be raw or json, not "${format}"` };
  return { ok: true, channels, format };
}

/** Channels one plain connection may name in its path. */
export const MAX_PLAIN_CHANNELS = 16;
