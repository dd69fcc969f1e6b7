// HTTP for the identity services (a JWKS endpoint, the auth hook): every request has a time limit that covers
// the whole answer, the body is read up to a bound and no further, redirects are refused, and whatever goes
// wrong comes back as a FetchError with a one-line reason — never a hang, never a throw from somewhere else.
import { isLoopbackAddress, normalizeIp } from '../guard/address.js';

export class FetchError extends Error {
  constructor(
    message: string,
    /** 'timeout' | 'too_large' | 'status' | 'network' | 'json': what the caller's policy looks at. */
    readonly kind: 'timeout' | 'too_large' | 'status' | 'network' | 'json',
  ) {
    super(message);
    this.name = 'FetchError';
  }
}

export interface BoundedRequest {
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  timeoutMs: number;
  maxBytes: number;
}

export interface BoundedResponse {
  status: number;
  /** The body as text (at most maxBytes). */
  text: string;
}

/** A URL the services may use: https, or http to this host only (a key or a password must not cross a network in clear). */
export function checkServiceUrl(raw: string, what: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`${what}: "${raw}" is not a URL`);
  }
  if (url.protocol === 'https:') return url;
  if (url.protocol !== 'http:') throw new Error(`${what}: only https:// (or http:// to this host) is accepted, not ${url.protocol}//`);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost' || isLoopbackAddress(normalizeIp(host))) return url;
  throw new Error(`${what}: http:// is accepted for this host only (127.0.0.1, ::1, localhost); use https:// for ${url.host}`);
}

/** One request within `timeoutMs` from start to the last byte of a body of at most `maxBytes`. */
export async function boundedFetch(url: URL, request: BoundedRequest): Promise<BoundedResponse> {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, request.timeoutMs);
  timer.unref?.();
  try {
    const response = await fetch(url, {
      method: request.method ?? 'GET',
      headers: request.headers,
      body: request.body,
      redirect: 'error',
      signal: controller.signal,
    });
    const declared = Number(response.headers.get('content-length'));
    if (Number.isFinite(declared) && declared > request.maxBytes) {
      controller.abort();
      throw new FetchError(`the answer is ${declared} bytes, over ${request.maxBytes}`, 'too_large');
    }
    const text = await readBody(response, request.maxBytes, controller);
    return { status: response.status, text };
  } catch (err) {
    if (err instanceof FetchError) throw err;
    if (timedOut) throw new FetchError(`no complete answer within ${request.timeoutMs} ms`, 'timeout');
    const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
    throw new FetchError(`${err instanceof Error ? err.message : String(err)}${cause}`, 'network');
  } finally {
    clearTimeout(timer);
  }
}

async function readBody(response: Response, maxBytes: number, controller: AbortController): Promise<string> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let length = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    length += value.byteLength;
    if (length > maxBytes) {
      controller.abort();
      await reader.cancel().catch(() => undefined);
      throw new FetchError(`the answer is over ${maxBytes} bytes`, 'too_large');
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, length).toString('utf8');
}

/** JSON.parse that reports as a FetchError. */
export function parseJsonBody(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new FetchError(`${what} is not JSON (${err instanceof Error ? err.message : String(err)})`, 'json');
  }
}
