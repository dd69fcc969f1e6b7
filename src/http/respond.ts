// Small uWS response helpers shared by the HTTP routes.
import type uWS from 'uWebSockets.js';

const COMMON_HEADERS: readonly (readonly [string, string])[] = [
  ['Cache-Control', 'no-store'],
  ['X-Content-Type-Options', 'nosniff'],
];

/**
 * uWS prefers these static routes over the WebSocket wildcard, so a WebSocket upgrade to `/` or `/metrics`
 * would land here: hand it back to the router, which then finds the iosignal WebSocket handler.
 */
export function passUpgrade(req: uWS.HttpRequest): boolean {
  if (req.getHeader('upgrade') === '') return false;
  req.setYield(true);
  return true;
}

/** Tracks whether the response is over, so late writes never touch a dead response. */
export class PendingResponse {
  /** Answered, or abandoned by the client. */
  finished = false;
  private readonly abortListeners: (() => void)[] = [];

  constructor(readonly res: uWS.HttpResponse) {
    res.onAborted(() => {
      this.finished = true;
      for (const listener of this.abortListeners) listener();
    });
  }

  onAbort(listener: () => void): void {
    this.abortListeners.push(listener);
  }

  send(status: string, contentType: string, body: string | Uint8Array, extraHeaders: readonly (readonly [string, string])[] = []): void {
    if (this.finished) return;
    this.res.cork(() => {
      this.res.writeStatus(status).writeHeader('Content-Type', contentType);
      for (const [name, value] of [...COMMON_HEADERS, ...extraHeaders]) this.res.writeHeader(name, value);
      this.res.end(body);
    });
    this.finished = true;
  }

  json(status: string, body: unknown): void {
    this.send(status, 'application/json; charset=utf-8', JSON.stringify(body));
  }
}

export const STATUS = {
  ok: '200 OK',
  badRequest: '400 Bad Request',
  unauthorized: '401 Unauthorized',
  forbidden: '403 Forbidden',
  tooLarge: '413 Payload Too Large',
  unsupported: '415 Unsupported Media Type',
  unavailable: '503 Service Unavailable',
  error: '500 Internal Server Error',
} as const;

/** Reads a request body up to `limit` bytes; resolves null when it is larger (the rest is ignored). */
export function readBody(pending: PendingResponse, limit: number): Promise<Buffer | null> {
  return new Promise((resolve) => {
    pending.onAbort(() => resolve(null));
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    pending.res.onData((chunk, isLast) => {
      if (!tooLarge) {
        size += chunk.byteLength;
        if (size > limit) tooLarge = true;
        // uWS reuses the chunk's memory after this callback returns, so copy it.
        else chunks.push(Buffer.from(new Uint8Array(chunk)));
      }
      if (isLast) resolve(tooLarge ? null : Buffer.concat(chunks));
    });
  });
}
