// Helpers for the HTTP tests: one-shot requests that never linger in a keep-alive pool, a Prometheus text
// parser, and ready clients on the iosig server.
import http from 'node:http';
import https from 'node:https';
import type tls from 'node:tls';
import { resolve } from 'node:path';
import { IoClient } from '../../src/client/index.js';
import { ROOT } from '../kit/server.js';

export const TEST_OUTPUT = process.env.IOSIG_TEST_OUTPUT ?? resolve(ROOT, 'test-output');


export async function readyClient(url: string): Promise<IoClient> {
  const client = new IoClient(url, { reconnect: false, callTimeoutMs: 2000 });
  await client.whenReady(3000);
  return client;
}

export interface HttpReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface HttpCall {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  timeoutMs?: number;
  /** HTTPS with these settings (a CA, a client certificate for mutual TLS); plain HTTP without. */
  tls?: tls.ConnectionOptions;
}

/** One request on its own connection, closed afterwards, with a time limit. */
export function request(port: number, path: string, call: HttpCall = {}): Promise<HttpReply> {
  return new Promise((resolvePromise, reject) => {
    const req = (call.tls ? https : http).request(
      {
        ...call.tls,
        host: '127.0.0.1',
        port,
        path,
        method: call.method ?? 'GET',
        agent: false,
        headers: { connection: 'close', ...call.headers },
        timeout: call.timeoutMs ?? 3000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
    req.end(call.body);
  });
}

export function postJson(port: number, path: string, body: unknown, headers: Record<string, string> = {}): Promise<HttpReply> {
  return request(port, path, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } });
}

export interface PrometheusText {
  /** `name{label="value",...}` exactly as exposed → value. */
  samples: Map<string, number>;
  /** Metric family name → `counter`, `gauge`... */
  types: Map<string, string>;
}

/** Parses the Prometheus text format (0.0.4) well enough for tests: comments, names, labels, values. */
export function parsePrometheus(text: string): PrometheusText {
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP')) continue;
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) {
      types.set(type[1]!, type[2]!);
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (!sample) throw new Error(`not a Prometheus line: ${line}`);
    samples.set(sample[1]!, Number(sample[2]));
  }
  return { samples, types };
}

export function sampleValue(parsed: PrometheusText, key: string): number {
  const value = parsed.samples.get(key);
  if (value === undefined) throw new Error(`no sample ${key}`);
  return value;
}
