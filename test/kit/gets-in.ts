// Whether a connection gets past the connection caps: it gets the server's greeting, or is refused (a 503 to the
// WebSocket upgrade, a CongSocket socket closed without a word).
import { connectRaw, type RawClient, type RawClientOptions, type Transport } from './raw-client.js';

/** Opens a connection from `localAddress`; true when the server took it on (greeting), false when refused. */
export async function getsIn(kind: Transport, port: number, localAddress: string, keep: RawClient[], opts: RawClientOptions = {}): Promise<boolean> {
  let client: RawClient;
  try {
    client = await connectRaw(kind, port, { ...opts, localAddress, connectTimeoutMs: 5000 });
  } catch {
    return false; // WebSocket: the upgrade was answered 503
  }
  keep.push(client);
  try {
    const hello = await client.next(5000);
    return hello.length === 13;
  } catch (err) {
    // CongSocket: closed without a greeting. A socket that stays open and silent is neither admitted nor refused.
    if (!client.closed) throw err;
    return false;
  }
}

/** `n` connection attempts, `batch` at a time; how many got in. */
export async function countGetIn(
  kind: Transport,
  port: number,
  localAddress: string,
  n: number,
  keep: RawClient[],
  batch = 25,
  opts: RawClientOptions = {},
): Promise<number> {
  let inside = 0;
  for (let done = 0; done < n; done += batch) {
    const results = await Promise.all(Array.from({ length: Math.min(batch, n - done) }, () => getsIn(kind, port, localAddress, keep, opts)));
    inside += results.filter(Boolean).length;
  }
  return inside;
}
