// Server addresses the client accepts: ws://, wss://, cong:// and congs:// (CongSocket over TLS).
// A bare `host:port` means ws:// (docs/protocol.md §9.3).

/** The transport a URL selects: WebSocket or CongSocket. */
export type TransportKind = 'ws' | 'cong';

/** A parsed server URL. */
export interface ServerAddress {
  kind: TransportKind;
  /** TLS on the wire (wss:// or congs://); it also switches AUTO encryption off (§4.7). */
  tls: boolean;
  host: string;
  port: number;
  /** The normalised URL, as shown to users and passed to the WebSocket layer. */
  href: string;
}

/** A server URL that cannot be used; the message says why. */
export class BadUrlError extends Error {
  constructor(readonly input: string, why: string) {
    super(`bad server URL "${input}": ${why}`);
    this.name = 'BadUrlError';
  }
}

const SCHEMES: Readonly<Record<string, { kind: TransportKind; tls: boolean; defaultPort: number }>> = {
  'ws:': { kind: 'ws', tls: false, defaultPort: 80 },
  'wss:': { kind: 'ws', tls: true, defaultPort: 443 },
  'cong:': { kind: 'cong', tls: false, defaultPort: 8888 },
  'congs:': { kind: 'cong', tls: true, defaultPort: 8889 },
};

/** @internal */
export const SUPPORTED_SCHEMES = 'ws://, wss://, cong:// or congs://';

/** Parses and checks a server URL; throws BadUrlError with a message fit for users. */
export function parseServerUrl(input: string): ServerAddress {
  const text = input.trim();
  if (text === '') throw new BadUrlError(input, 'it is empty');
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `ws://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new BadUrlError(input, `expected ${SUPPORTED_SCHEMES} followed by host:port`);
  }
  const scheme = SCHEMES[url.protocol];
  if (!scheme) throw new BadUrlError(input, `unsupported scheme "${url.protocol}//"; use ${SUPPORTED_SCHEMES}`);
  if (url.hostname === '') throw new BadUrlError(input, 'no host name');
  const port = url.port === '' ? scheme.defaultPort : Number(url.port);
  // URL keeps IPv6 hosts in brackets; sockets want them bare.
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const href = scheme.kind === 'ws' ? url.href : `${url.protocol}//${url.host}`;
  return { kind: scheme.kind, tls: scheme.tls, host, port, href };
}

/** @internal The target of a SERVER_REDIRECT (§3.6): 7 bytes = IPv4 + port (BE) as cong://, otherwise a URL. */
export function redirectTarget(msg: Uint8Array): string {
  if (msg.length === 7) {
    const port = (msg[5]! << 8) | msg[6]!;
    return `cong://${msg[1]}.${msg[2]}.${msg[3]}.${msg[4]}:${port}`;
  }
  return Buffer.from(msg.subarray(1)).toString('utf8');
}
