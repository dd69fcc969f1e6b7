// Channels, the CID index and retained signals (PROTOCOL.md §5). Knows tags and subscribers, not sockets.
import { randomFillSync } from 'node:crypto';
import type { Connection } from '../connection/connection.js';
import type { ServerOptions } from '../options.js';
import type { Counters } from '../metrics/counters.js';
import { retag } from '../protocol/messages.js';
import { Outbound } from '../transport/link.js';
import { Channel, type Subscription } from './channel.js';
import { channelKey, isReservedTag, isRetainedKey, unicastTopic, CID_PREFIX } from './tags.js';

export type PublishResult =
  | { ok: true; delivered: number }
  | { ok: false; reason: 'reserved' | 'offline' | 'no-subscriber' | 'tag-too-long' | 'members-only' };

/** Sends bytes to every native subscriber of a topic (uWS `app.publish`). */
export type NativePublish = (key: string, msg: Uint8Array) => void;

export class Router {
  readonly channels = new Map<string, Channel>();
  /** cid → the online connection holding it. */
  readonly cids = new Map<string, Connection>();
  /** Channel-retained messages by channel key. */
  readonly retained = new Map<string, Buffer>();
  private nativePublish: NativePublish | null = null;
  private readonly randomPool = Buffer.alloc(3);

  constructor(
    private readonly options: ServerOptions,
    private readonly counters: Counters,
  ) {}

  /** Native pub/sub is used only when every native subscriber gets the same bytes, in full. */
  attachNativePublish(publish: NativePublish): void {
    if (!this.options.useQuota.publishCounter) this.nativePublish = publish;
  }

  // ---- CIDs -------------------------------------------------------------------------------

  /** An anonymous CID (`?` + base64url of 3 random bytes), new while the candidate is online (Q22). */
  assignAnonymousCid(conn: Connection): string {
    let cid: string;
    do {
      randomFillSync(this.randomPool);
      cid = '?' + this.randomPool.toString('base64url');
    } while (this.cids.has(cid));
    this.setCid(conn, cid);
    return cid;
  }

  /** Gives `conn` a CID, dropping its previous index entry. */
  setCid(conn: Connection, cid: string): void {
    this.releaseCid(conn);
    conn.cid = cid;
    this.cids.set(cid, conn);
  }

  private releaseCid(conn: Connection): void {
    if (conn.cid && this.cids.get(conn.cid) === conn) this.cids.delete(conn.cid);
  }

  // ---- subscriptions ------------------------------------------------------------------------

  /** SUBSCRIBE: every comma-separated element, empty ones included; retained messages follow. */
  subscribe(conn: Connection, tagList: string): void {
    for (const tag of tagList.split(',')) {
      const key = channelKey(tag, conn.home);
      this.join(conn, key);
      if (isRetainedKey(key) && this.options.retain.isAvailable) {
        const kept = this.retainedFor(key);
        if (kept) conn.deliver(new Outbound(kept));
      }
    }
  }

  private retainedFor(key: string): Buffer | undefined {
    const at = key.indexOf('@');
    if (at < 0) return this.retained.get(key);
    const owner = this.cids.get(key.slice(CID_PREFIX.length, at));
    return owner?.retainedFor(key.slice(at + 1));
  }

  private join(conn: Connection, key: string): void {
    if (conn.subscriptions.has(key)) return;
    let channel = this.channels.get(key);
    if (!channel) {
      channel = new Channel(key);
      this.channels.set(key, channel);
    }
    channel.subscribers.add(conn);
    const sub: Subscription = { channel, native: false, messagesAtJoin: 0, bytesAtJoin: 0 };
    conn.addSubscription(key, sub);
    this.placeSubscriber(conn, sub);
  }

  /** Puts a subscriber on the native or the direct path, whichever its session allows. */
  private placeSubscriber(conn: Connection, sub: Subscription): void {
    const { channel } = sub;
    if (this.nativePublish && conn.sharesPlainBytes() && conn.link.joinTopic(channel.key)) {
      sub.native = true;
      sub.messagesAtJoin = channel.nativeMessages;
      sub.bytesAtJoin = channel.nativeBytes;
      channel.nativeCount++;
    } else {
      channel.direct.add(conn);
    }
  }

  private detach(conn: Connection, sub: Subscription): void {
    const { channel } = sub;
    if (sub.native) {
      sub.native = false;
      channel.nativeCount--;
      conn.link.leaveTopic(channel.key);
      conn.addNativeTraffic(channel.nativeMessages - sub.messagesAtJoin, channel.nativeBytes - sub.bytesAtJoin);
    } else {
      channel.direct.delete(conn);
    }
  }

  /** Re-evaluates every subscription after the session's delivery needs changed (e.g. encryption on). */
  refreshDelivery(conn: Connection): void {
    for (const sub of conn.subscriptions.values()) {
      this.detach(conn, sub);
      this.placeSubscriber(conn, sub);
    }
  }

  unsubscribe(conn: Connection, tagList: string): void {
    for (const tag of tagList.split(',')) this.leave(conn, channelKey(tag, conn.home));
  }

  unsubscribeAll(conn: Connection): void {
    for (const key of [...conn.subscriptions.keys()]) this.leave(conn, key);
  }

  private leave(conn: Connection, key: string): void {
    const sub = conn.subscriptions.get(key);
    if (!sub) return;
    this.detach(conn, sub);
    conn.removeSubscription(key);
    const { channel } = sub;
    channel.subscribers.delete(conn);
    if (channel.subscribers.size === 0) this.channels.delete(key);
  }

  // ---- publishing ---------------------------------------------------------------------------

  /**
   * Routes a SIGNAL / SIGNAL_E2E `msg` whose tag is `tag` (PROTOCOL.md §5.4). `msg` may be a view
   * into a transient buffer: it is copied before anything keeps it.
   */
  publish(conn: Connection, msg: Uint8Array, tag: string): PublishResult {
    if (isReservedTag(tag)) return { ok: false, reason: 'reserved' };
    const at = tag.indexOf('@');
    if (at > 0) return this.unicast(msg, tag, at);
    if (at === 0) {
      tag = conn.cid + tag;
      const rewritten = retag(msg, tag);
      if (!rewritten) return { ok: false, reason: 'tag-too-long' };
      msg = rewritten;
    }
    const key = channelKey(tag, conn.home);
    if (isRetainedKey(key)) this.keep(conn, key, msg);
    const channel = this.channels.get(key);
    if (!channel) return { ok: false, reason: 'no-subscriber' };
    this.counters.publishes++;
    return { ok: true, delivered: this.fanOut(channel, msg, conn) };
  }

  /**
   * A signal sent by the server itself (dashboard, admin API): to a plain channel or a `cid@topic`
   * unicast. Home channels and CID publishes need a publishing connection, so they are refused.
   */
  publishFromServer(msg: Uint8Array, tag: string): PublishResult {
    if (isReservedTag(tag) || tag.startsWith('#') || tag.startsWith('@')) return { ok: false, reason: 'reserved' };
    const at = tag.indexOf('@');
    if (at > 0) return this.unicast(msg, tag, at);
    const key = channelKey(tag, '');
    const { retain } = this.options;
    if (isRetainedKey(key) && retain.isAvailable && msg.length < retain.limitSize) this.keepForChannel(key, msg);
    const channel = this.channels.get(key);
    if (!channel) return { ok: false, reason: 'no-subscriber' };
    this.counters.publishes++;
    return { ok: true, delivered: this.fanOut(channel, msg, null) };
  }

  private unicast(msg: Uint8Array, tag: string, at: number): PublishResult {
    const target = this.cids.get(tag.slice(0, at));
    if (!target) return { ok: false, reason: 'offline' };
    const rewritten = retag(msg, '@' + unicastTopic(tag, at));
    if (!rewritten) return { ok: false, reason: 'tag-too-long' };
    this.counters.publishes++;
    target.deliver(new Outbound(rewritten));
    this.counters.deliveries++;
    return { ok: true, delivered: 1 };
  }

  /** Stores a retained message; a full store still accepts updates to existing keys (Q24). */
  private keep(conn: Connection, key: string, msg: Uint8Array): void {
    const { retain } = this.options;
    if (!retain.isAvailable || msg.length >= retain.limitSize) return;
    const at = key.indexOf('@');
    if (at < 0) return this.keepForChannel(key, msg);
    conn.retain(key.slice(at + 1), msg, retain.limitPerConnection);
  }

  private keepForChannel(key: string, msg: Uint8Array): void {
    if (this.retained.size < this.options.retain.limitCounter || this.retained.has(key)) this.retained.set(key, Buffer.from(msg));
  }

  /** Sends one message to a channel: encoded once, native publish plus a loop over the rest. */
  private fanOut(channel: Channel, msg: Uint8Array, publisher: Connection | null): number {
    const out = new Outbound(msg);
    if (this.options.useQuota.publishCounter) {
      let budget = publisher ? publisher.quota.publishCounter : Infinity;
      let sent = 0;
      for (const sub of channel.subscribers) {
        if (budget-- <= 0) break;
        sub.deliver(out);
        sent++;
      }
      this.counters.deliveries += sent;
      return sent;
    }
    const native = channel.nativeCount;
    if (native > 0 && this.nativePublish) {
      this.nativePublish(channel.key, msg);
      channel.nativeMessages++;
      channel.nativeBytes += msg.length;
      this.counters.messagesOut += native;
      this.counters.bytesOut += native * msg.length;
    }
    for (const sub of channel.direct) sub.deliver(out);
    const delivered = native + channel.direct.size;
    this.counters.deliveries += delivered;
    return delivered;
  }

  // ---- disconnect ---------------------------------------------------------------------------

  /** Forgets a closed connection (§5.8 steps 3–5); the close notices are published by the connection. */
  forget(conn: Connection): void {
    this.unsubscribeAll(conn);
    // Q25: the connection's retained CID messages go with it; other subscribers keep their entries.
    conn.dropRetained();
    this.releaseCid(conn);
  }

  // ---- introspection ------------------------------------------------------------------------

  subscriptionCount(): number {
    let n = 0;
    for (const channel of this.channels.values()) n += channel.subscribers.size;
    return n;
  }
}
