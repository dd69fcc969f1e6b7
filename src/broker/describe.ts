// What observers are told about a session and a channel (info.ts): plain data, read from the session, its secure
// channel and what the router keeps for it.
import type { ChannelInfo, ConnectionInfo } from '../info.js';
import type { Router } from '../router/router.js';
import type { Connection } from '../connection/connection.js';
import { firstOf } from '../http/paging.js';

/** Most channels named in one connection's description; `channelCount` has the total. */
export const CHANNELS_LISTED = 100;

export function describeSession(router: Router<Connection>, conn: Connection): ConnectionInfo {
  const subscriptions = router.subscriptionsOf(conn);
  const shared = router.sharedTo(conn);
  const { channel } = conn;
  return {
    ssid: conn.ssid,
    cid: conn.cid,
    state: conn.state,
    transport: conn.transport,
    kind: channel.link.kind ?? conn.declaredKind ?? 'iosignal',
    ip: conn.ip,
    nick: conn.nick,
    did: conn.did,
    level: conn.level,
    uid: conn.uid,
    tls: conn.tls,
    authorized: conn.authorized,
    admin: conn.admin,
    quotaViolations: conn.quotaViolations,
    retained: router.retainedCountOf(conn),
    uptimeMs: Date.now() - conn.createdAt,
    channels: firstOf(subscriptions.keys(), CHANNELS_LISTED, (key) => key),
    channelCount: subscriptions.size,
    messagesIn: conn.messagesIn,
    messagesOut: channel.messagesOut + shared.messages,
    bytesIn: conn.bytesIn,
    bytesOut: channel.bytesOut + shared.bytes,
  };
}

export function describeChannel(router: Router<Connection>, key: string, subscribers: number): ChannelInfo {
  return { key, subscribers, retained: router.retained.has(key) };
}
