// One socket to one server, whatever the transport: the client core only sees whole messages.
// The interfaces and helpers every transport shares; open-transport.ts picks one.

/** @internal */
export interface TransportHandlers {
  open(): void;
  /** One whole protocol message (a WebSocket frame or a CongSocket frame payload). */
  message(data: Buffer): void;
  /** A WebSocket pong control frame (the server's answer to a PING message over WebSocket, §1.3). */
  pong(): void;
  /** Called exactly once; `error` is set when the socket failed rather than closed. */
  close(reason: string, error?: Error): void;
}

/** TLS settings for `wss://` and `congs://`. */
export interface TlsSettings {
  /** Check the server certificate (default true). */
  rejectUnauthorized?: boolean;
  /** Extra trusted CA certificates (PEM). */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Name to check the certificate against (default: the URL host). */
  servername?: string;
  /** Client certificate chain and key (PEM) for servers that require mutual TLS. */
  cert?: string | Buffer;
  key?: string | Buffer;
}

/** @internal */
export interface TransportOptions {
  tls?: TlsSettings;
  /** Give up on a connection attempt after this long. */
  connectTimeoutMs: number;
  /** Largest CongSocket frame accepted from the server. */
  maxMessageSize: number;
  /** The device kind the client declares (a WebSocket upgrade header; CongSocket has none: its IAM says so). */
  device?: 'serial' | undefined;
}

/** @internal */
export interface Transport {
  send(message: Uint8Array): void;
  /** Graceful close; `handlers.close` follows. */
  close(): void;
}

/** @internal Wraps handlers so `close` runs once and nothing is reported after it. */
export function onceClosed(handlers: TransportHandlers): TransportHandlers {
  let closed = false;
  return {
    open: () => {
      if (!closed) handlers.open();
    },
    message: (data) => {
      if (!closed) handlers.message(data);
    },
    pong: () => {
      if (!closed) handlers.pong();
    },
    close: (reason, error) => {
      if (closed) return;
      closed = true;
      handlers.close(reason, error);
    },
  };
}

/** @internal A short text for a socket error, e.g. "connection refused (ECONNREFUSED)". */
export function describeSocketError(error: Error): string {
  const code = (error as NodeJS.ErrnoException).code;
  const known: Record<string, string> = {
    ECONNREFUSED: 'connection refused',
    ENOTFOUND: 'host not found',
    EAI_AGAIN: 'host name lookup failed',
    ECONNRESET: 'connection reset by the server',
    ETIMEDOUT: 'connection timed out',
    EHOSTUNREACH: 'host unreachable',
    ENETUNREACH: 'network unreachable',
  };
  if (code && known[code]) return `${known[code]} (${code})`;
  return error.message || code || 'socket error';
}
