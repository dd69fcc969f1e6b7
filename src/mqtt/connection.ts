// One MQTT network connection: the state machine from the first byte to the close. Bytes come in through `feed`,
// packets go out through the transport; CONNECT is checked, the client admitted through the broker port, and the
// session (session.ts) attached. Every way in (feed, transport close, timers, the authentication continuation) is
// contained: an unexpected error closes this connection only, and nothing is thrown to the caller.
import { isUtf8 } from 'node:buffer';
import mqttPacket from 'mqtt-packet';
import type { IConnectPacket, IPublishPacket, ISubscribePacket, IUnsubscribePacket, Packet } from 'mqtt-packet';
import type { Timer } from '../clock.js';
import { publishTarget, subscribeTarget, unicastRoutingTopic, type MappingIdentity } from './channel-map.js';
import { RC, V3_CONNACK, V3_SUBACK_FAILURE, reasonText, v3ConnackCode } from './codes.js';
import type { Delivery, EngineContext, SessionLink } from './context.js';
import { MqttDecoder, connectLevel, isFailure, type DecodedPacket } from './decoder.js';
import type { UserProperty } from './inspect.js';
import { LOGIN_EXPIRED, type AuthRefusal, type AuthResult, type MqttIdentity, type MqttMessage, type QoS, type SessionJournal, type SubscriptionOptions } from './port.js';
import type { KeepAliveSubject } from './keepalive-sweep.js';
import { PublishWriter } from './publish-writer.js';
import type { MqttSession } from './session.js';
import { isValidTopicFilter, isValidTopicName, parseSharedFilter } from './topic.js';
import { MQTT_MAX_PACKET, readConnect, type ConnectTerms } from './connect.js';

/** The network side of a connection (a TCP/TLS socket, a WebSocket, an in-memory pipe). */
export interface MqttTransport {
  write(bytes: Buffer): void;
  /** Ends the connection once written bytes are flushed. Called once. */
  close(): void;
  /** Bytes written and not yet taken by the peer (QoS 0 deliveries are dropped past maxWriteBacklog). */
  backlog?(): number;
  readonly remoteAddress: string;
  readonly tls: boolean;
  /** Names from a verified client certificate. */
  readonly certificateNames?: readonly string[];
}

/** What a connection needs from its hub (sessions by client id, takeover, wills). */
export interface SessionRegistry {
  /** Attaches `conn` to the session of `clientId` (taking it over from another connection, or loading it). */
  open(conn: MqttConnection, clientId: string, cleanStart: boolean, identity: MqttIdentity): { session: MqttSession; present: boolean } | Promise<{ session: MqttSession; present: boolean }>;
  /** The connection ended; `will` is its Will Message unless a normal DISCONNECT deleted it. */
  ended(conn: MqttConnection, session: MqttSession | null, will: PendingWillMessage | null, reason: string): void;
}

export interface PendingWillMessage {
  message: MqttMessage;
  /** Seconds. */
  delay: number;
}

type State = 'connect-wait' | 'authenticating' | 'connected' | 'closed';


// mqtt-packet's writer would otherwise build a cache of 65 536 two-byte Buffers (~6 MB of heap) at its first
// packet; the server writes few packets with it (CONNACK, SUBACK, reason-coded ones), so it writes numbers as it goes.
mqttPacket.writeToStream.cacheNumbers = false;

const PINGRESP = Buffer.from([0xd0, 0x00]);
const V3_UNACCEPTABLE_VERSION = Buffer.from([0x20, 0x02, 0x00, V3_CONNACK.UNACCEPTABLE_PROTOCOL_VERSION]);

const REFUSAL_CODE: Record<AuthRefusal, number> = {
  'bad-credentials': RC.BAD_USER_NAME_OR_PASSWORD,
  'not-authorized': RC.NOT_AUTHORIZED,
  banned: RC.BANNED,
  unavailable: RC.SERVER_UNAVAILABLE,
  busy: RC.SERVER_BUSY,
};

/** A success acknowledgement in 4 bytes (PUBACK, PUBREC, PUBREL, PUBCOMP): the same in 3.1.1 and 5 [MQTT-3.4.2-1]. */
function ack(type: number, id: number): Buffer {
  return Buffer.from([type, 0x02, id >> 8, id & 0xff]);
}

/** A PUBACK/PUBREC owed, in PUBLISH order; `ready` once what its publish journaled is committed. */
interface PendingAck {
  cmd: 'puback' | 'pubrec';
  type: number;
  id: number;
  code: number;
  ready: boolean;
}

export class MqttConnection implements SessionLink, KeepAliveSubject {
  private state: State = 'connect-wait';
  private readonly decoder: MqttDecoder;
  version: 3 | 4 | 5 = 4;
  clientId = '';
  identity: MqttIdentity | null = null;
  session: MqttSession | null = null;
  private will: PendingWillMessage | null = null;
  private keepAliveMs = 0;
  private lastPacketAt: number;
  /** Ends the connection when its login runs out (a token's expiry). */
  private expiryTimer: Timer | null = null;
  private connectTimer: Timer | null;
  private clientMaxPacket = MQTT_MAX_PACKET;
  private clientReceiveMaximum = 65_535;
  private problemInformation = true;
  /** Session expiry the client asked for at CONNECT (a DISCONNECT may not raise it from 0) [MQTT-3.14.2-2]. */
  private connectExpiry = 0;
  /** Topic aliases the client set (MQTT 5), made at the first one. */
  private aliasesIn: Map<number, string> | null = null;
  private aliasOutMax = 0;
  /** Made at the first delivery (an idle connection has none). */
  private publishWriter: PublishWriter | null = null;
  closeReason = '';
  /** This connection's traffic, for the dashboard: PUBLISHes in and out, bytes in and out. */
  messagesIn = 0;
  messagesOut = 0;
  bytesIn = 0;
  bytesOut = 0;
  readonly openedAt: number;

  constructor(
    private readonly ctx: EngineContext,
    private readonly registry: SessionRegistry,
    readonly transport: MqttTransport,
  ) {
    this.decoder = new MqttDecoder(ctx.limits.maxPacketSize);
    this.lastPacketAt = ctx.clock.now();
    this.openedAt = this.lastPacketAt;
    this.connectTimer = ctx.clock.after(ctx.limits.connectTimeoutMs, () =>
      this.contained('connect timer', () => {
        if (this.state === 'connect-wait' || this.state === 'authenticating') this.end('no CONNECT in time');
      }),
    );
  }

  get connected(): boolean {
    return this.state === 'connected';
  }

  get closed(): boolean {
    return this.state === 'closed';
  }

  get window(): number {
    return Math.min(this.clientReceiveMaximum, this.ctx.limits.maxInflightOut);
  }

  // ---- ways in -------------------------------------------------------------------------------------------------

  /** Bytes from the network. Never throws. */
  feed(bytes: Buffer): void {
    // Inline rather than through contained(): no closure per chunk on the hot path.
    try {
      if (this.state === 'closed') return;
      this.bytesIn += bytes.length;
      this.decoder.push(bytes);
      if (this.state === 'authenticating') {
        if (this.decoder.buffered > this.ctx.limits.maxPendingBytes) this.end('too much sent before CONNACK');
        return;
      }
      this.drain(this.ctx.clock.now());
    } catch (err) {
      this.internalError('feed', err);
    }
  }

  /** The network connection is gone. Never throws. */
  transportClosed(): void {
    this.contained('transport close', () => {
      if (this.state !== 'closed') this.end('connection lost');
    });
  }

  /** Runs connection code; an exception closes this connection (counted, logged) instead of reaching the caller. */
  contained(where: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.internalError(where, err);
    }
  }

  internalError(where: string, err: unknown): void {
    this.ctx.stats.internalErrors++;
    this.ctx.log(`mqtt: ${this.describe()}: internal error in ${where}: ${err instanceof Error ? err.message : String(err)}`);
    try {
      this.end(`internal error in ${where}`, RC.IMPLEMENTATION_SPECIFIC_ERROR);
    } catch {
      this.state = 'closed';
    }
  }

  private describe(): string {
    return `client ${JSON.stringify(this.clientId)} from ${this.transport.remoteAddress}`;
  }

  /** Handles the whole packets buffered; `now` is when they arrived (the packets of one chunk arrive together). */
  private drain(now: number): void {
    while (this.state === 'connect-wait' || this.state === 'connected') {
      if (this.acks.length >= this.ctx.limits.receiveMaximum) {
        // Receive Maximum acknowledgements wait for the store: packets wait in the decoder, within its bound.
        if (this.decoder.buffered > this.ctx.limits.maxPendingBytes) this.end('too much sent while acknowledgements wait for the store');
        return;
      }
      const result = this.decoder.next();
      if (result === null) return;
      this.ctx.stats.packetsIn++;
      this.lastPacketAt = now;
      if (isFailure(result)) {
        this.ctx.stats.protocolErrors++;
        if (this.state === 'connect-wait') this.badConnect(result.code, result.why, result.raw);
        else this.fail(result.code, result.why);
        return;
      }
      if (this.state === 'connect-wait') this.onConnect(result);
      else this.onPacket(result);
    }
  }

  // ---- CONNECT -------------------------------------------------------------------------------------------------

  /** The first packet could not be read: a CONNECT answers with CONNACK where the spec says so, then close. */
  private badConnect(code: number, why: string, raw: Buffer | undefined): void {
    const level = connectLevel(raw);
    if (raw && raw[0]! >> 4 === 1 && level !== 0 && level !== 3 && level !== 4 && level !== 5) {
      // Unsupported protocol level: CONNACK 0x01 in the 3.1.1 form [MQTT-3.1.2-2].
      this.transport.write(V3_UNACCEPTABLE_VERSION);
    } else if (level === 5) {
      this.version = 5;
      this.writePacket({ cmd: 'connack', sessionPresent: false, reasonCode: code, ...this.reason(why) });
    }
    this.end(`bad CONNECT: ${why}`);
  }

  private onConnect(decoded: DecodedPacket): void {
    const p = decoded.packet;
    if (p.cmd !== 'connect') return this.end(`first packet is ${p.cmd}, not CONNECT`); // [MQTT-3.1.0-1]
    const terms = readConnect(p, this.ctx.limits);
    this.version = terms.version;
    this.problemInformation = terms.problemInformation;
    if ('refused' in terms) {
      if (terms.answer === 'connack') return this.refuse(terms.code, terms.why);
      this.ctx.stats.connectionsRefused++;
      if (terms.answer === 'unacceptable-version') this.transport.write(V3_UNACCEPTABLE_VERSION);
      return this.end(`refused: ${terms.why}`);
    }
    this.decoder.version = terms.version;
    this.clientId = terms.clientId;
    this.keepAliveMs = terms.keepAliveMs;
    this.clientReceiveMaximum = terms.clientReceiveMaximum;
    this.clientMaxPacket = terms.clientMaxPacket;
    this.aliasOutMax = terms.aliasOutMax;
    this.connectExpiry = terms.requestedExpiry;
    const clientId = terms.clientId;
    const level = terms.version;
    this.state = 'authenticating';
    const request = {
      clientId,
      address: this.transport.remoteAddress,
      tls: this.transport.tls,
      protocolVersion: level as 3 | 4 | 5,
      ...(p.username !== undefined && { username: p.username }),
      ...(p.password !== undefined && { password: p.password }),
      ...(this.transport.certificateNames && { certificateNames: this.transport.certificateNames }),
    };
    const answer = this.ctx.port.authenticate(request);
    const proceed = (result: AuthResult): void => this.afterAuth(result, p, decoded, terms);
    if (answer instanceof Promise) {
      answer.then(
        (result) => this.contained('authentication', () => proceed(result)),
        (err: unknown) => this.contained('authentication', () => {
          this.ctx.log(`mqtt: ${this.describe()}: authentication failed: ${String(err)}`);
          this.refuse(RC.SERVER_UNAVAILABLE, 'authentication is unavailable');
        }),
      );
    } else proceed(answer);
  }

  private afterAuth(
    result: AuthResult,
    p: IConnectPacket,
    decoded: DecodedPacket,
    c: ConnectTerms,
  ): void {
    if (this.state !== 'authenticating') return;
    if (!result.ok) return this.refuse(REFUSAL_CODE[result.reason], 'not admitted');
    const identity = result.identity;
    if (p.will) {
      const target = publishTarget(p.will.topic, identity);
      if (target.kind === 'refused') return this.refuse(RC.NOT_AUTHORIZED, `will topic is ${target.reason}`);
      const wp = p.will.properties ?? {};
      const payload = Buffer.from(p.will.payload);
      const message: MqttMessage = {
        topic: target.routingTopic,
        payload,
        qos: (p.will.qos ?? 0) as QoS,
        retain: p.will.retain ?? false,
        origin: null,
        ...this.messageProperties(wp, decoded.willUserProperties, identity),
      };
      this.will = { message, delay: Math.min(wp.willDelayInterval ?? 0, this.ctx.limits.maxWillDelay) };
    }
    const opened = this.registry.open(this, this.clientId, p.clean ?? true, identity);
    const finish = (r: { session: MqttSession; present: boolean }): void => {
      this.admitted(r.session, r.present, identity, c);
      if (result.endsAt !== undefined && this.state === 'connected') this.armExpiry(result.endsAt);
    };
    if (opened instanceof Promise) {
      opened.then(
        (r) => this.contained('session', () => finish(r)),
        (err: unknown) => this.contained('session', () => {
          this.ctx.log(`mqtt: ${this.describe()}: session store failed: ${String(err)}`);
          this.refuse(RC.SERVER_UNAVAILABLE, 'session store is unavailable');
        }),
      );
    } else finish(opened);
  }

  private admitted(session: MqttSession, present: boolean, identity: MqttIdentity, c: ConnectTerms): void {
    if (this.state !== 'authenticating') {
      // Closed while the session was loaded: the registry takes it back.
      this.registry.ended(this, session, null, this.closeReason || 'closed before CONNACK');
      return;
    }
    this.identity = identity;
    this.session = session;
    session.setExpiry(c.expiry);
    const { limits } = this.ctx;
    if (this.version === 5) {
      const properties: Record<string, unknown> = {
        receiveMaximum: limits.receiveMaximum,
        maximumPacketSize: limits.maxPacketSize,
        topicAliasMaximum: limits.topicAliasMaximum,
        userProperties: { 'iosig-cid': identity.cid },
      };
      if (c.expiry !== c.requestedExpiry) properties['sessionExpiryInterval'] = c.expiry;
      if (c.assigned) properties['assignedClientIdentifier'] = this.clientId;
      if (c.serverKeepAlive !== undefined) properties['serverKeepAlive'] = c.serverKeepAlive;
      // Response Information: the client's own unicast prefix, which only it can subscribe to and anyone can
      // publish to (channel-map.ts), so request/response needs no shared topic.
      if (c.wantsResponseInformation) {
        const prefix = unicastRoutingTopic(identity.cid, '');
        if (prefix !== null) properties['responseInformation'] = prefix;
      }
      this.writePacket({ cmd: 'connack', sessionPresent: present, reasonCode: RC.SUCCESS, properties } as Packet);
    } else {
      // MQTT 3.1 has no Session Present flag.
      this.writePacket({ cmd: 'connack', sessionPresent: present && this.version === 4, returnCode: V3_CONNACK.ACCEPTED });
    }
    this.state = 'connected';
    this.connectTimer?.cancel();
    this.connectTimer = null;
    this.ctx.stats.connectionsAccepted++;
    this.ctx.port.admitted?.(this.clientId, identity, this);
    if (this.keepAliveMs > 0) this.ctx.keepAlive.watch(this);
    session.attach(this);
    this.drain(this.ctx.clock.now());
  }

  /** Refuses a CONNECT with `code` (5) or its 3.1.1 return code, then closes [MQTT-3.2.2-6]. */
  private refuse(code: number, why: string): void {
    this.ctx.stats.connectionsRefused++;
    if (this.version === 5) this.writePacket({ cmd: 'connack', sessionPresent: false, reasonCode: code, ...this.reason(why) });
    else this.writePacket({ cmd: 'connack', sessionPresent: false, returnCode: v3ConnackCode(code) });
    this.will = null;
    this.end(`refused: ${reasonText(code)} (${why})`);
  }

  /** At `endsAt` the connection is ended with DISCONNECT 0xA0 (maximum connect time); the Will is published. */
  private armExpiry(endsAt: number): void {
    // A timer holds at most 2^31-1 ms (about 24.8 days): a later end is waited for in steps.
    const delay = Math.max(0, Math.min(endsAt - this.ctx.clock.now(), 2 ** 31 - 1));
    this.expiryTimer = this.ctx.clock.after(delay, () =>
      this.contained('login expiry', () => {
        if (this.state !== 'connected') return;
        if (this.ctx.clock.now() < endsAt) return this.armExpiry(endsAt);
        this.disconnect(RC.MAXIMUM_CONNECT_TIME, LOGIN_EXPIRED);
      }),
    );
  }

  /** The hub's keepalive sweep asks (keepalive-sweep.ts). */
  keepAliveCheck(now: number): void {
    if (this.state !== 'connected' || now - this.lastPacketAt < this.keepAliveMs * 1.5) return;
    this.contained('keepalive', () => this.fail(RC.KEEP_ALIVE_TIMEOUT, 'keepalive timeout')); // [MQTT-3.1.2-24]
  }

  // ---- packets after CONNECT ------------------------------------------------------------------------------------

  private onPacket(decoded: DecodedPacket): void {
    const p = decoded.packet;
    const session = this.session!;
    switch (p.cmd) {
      case 'publish':
        return this.onPublish(p, decoded);
      case 'puback':
        return session.puback(p.messageId!);
      case 'pubrec': {
        const rc = p.reasonCode ?? 0;
        if (session.pubrec(p.messageId!, rc)) {
          if (rc < 0x80) this.writePubrel(p.messageId!);
        } else if (this.version === 5) this.writePacket({ cmd: 'pubrel', messageId: p.messageId!, reasonCode: RC.PACKET_IDENTIFIER_NOT_FOUND });
        else this.writePubrel(p.messageId!);
        return;
      }
      case 'pubrel': {
        const known = session.inboundQos2.delete(p.messageId!);
        if (known) session.journalRecord();
        if (known || this.version !== 5) this.write(ack(0x70, p.messageId!));
        else this.writePacket({ cmd: 'pubcomp', messageId: p.messageId!, reasonCode: RC.PACKET_IDENTIFIER_NOT_FOUND });
        return;
      }
      case 'pubcomp':
        return session.pubcomp(p.messageId!);
      case 'subscribe':
        return this.onSubscribe(p, decoded.userProperties);
      case 'unsubscribe':
        return this.onUnsubscribe(p);
      case 'pingreq':
        return this.write(PINGRESP);
      case 'disconnect':
        return this.onDisconnect(p.reasonCode ?? 0, p.properties?.sessionExpiryInterval);
      case 'auth':
        return this.fail(RC.PROTOCOL_ERROR, 'AUTH without an authentication method');
      case 'connect':
        return this.fail(RC.PROTOCOL_ERROR, 'second CONNECT'); // [MQTT-3.1.0-2]
      default:
        return this.fail(RC.PROTOCOL_ERROR, `${p.cmd} is sent by servers only`);
    }
  }

  private onPublish(p: IPublishPacket, decoded: DecodedPacket): void {
    const session = this.session!;
    const identity = this.identity!;
    const qos = p.qos;
    const id = p.messageId ?? 0;
    if (qos > 0 && id === 0) return this.fail(RC.PROTOCOL_ERROR, 'packet identifier 0'); // [MQTT-2.2.1-3]
    this.ctx.stats.publishesIn++;
    this.messagesIn++;
    const props = p.properties;
    let topic = p.topic;
    if (this.version === 5 && props?.topicAlias !== undefined) {
      const alias = props.topicAlias;
      if (alias === 0 || alias > this.ctx.limits.topicAliasMaximum) return this.fail(RC.TOPIC_ALIAS_INVALID, `topic alias ${alias}`); // [MQTT-3.3.2-8, -9]
      if (topic === '') {
        const known = this.aliasesIn?.get(alias);
        if (known === undefined) return this.fail(RC.PROTOCOL_ERROR, `unknown topic alias ${alias}`);
        topic = known;
      } else (this.aliasesIn ??= new Map()).set(alias, topic);
    }
    if (topic === '') return this.fail(RC.PROTOCOL_ERROR, 'empty topic name'); // [MQTT-4.7.3-1]
    if (!isValidTopicName(topic)) return this.fail(RC.TOPIC_NAME_INVALID, 'wildcard in topic name'); // [MQTT-3.3.2-2]
    if (props?.responseTopic !== undefined && !isValidTopicName(props.responseTopic)) return this.fail(RC.PROTOCOL_ERROR, 'invalid response topic');
    // QoS 2 duplicate: already published, only the PUBREC goes again [MQTT-4.3.3-10].
    if (qos === 2 && session.inboundQos2.has(id)) return this.acknowledge('pubrec', 0x50, id, RC.SUCCESS, this.ctx.journal); // after the id is durable, in order
    if (qos === 2 && session.inboundQos2.size >= this.ctx.limits.receiveMaximum) return this.fail(RC.RECEIVE_MAXIMUM_EXCEEDED, 'too many QoS 2 messages unreleased'); // [MQTT-3.3.4-9]
    const payload = Buffer.from(p.payload as Buffer);
    const journal = this.ctx.journal;
    const journaledBefore = journal?.writes ?? 0;
    let code: number = RC.SUCCESS;
    if (props?.payloadFormatIndicator === true && !isUtf8(payload)) code = RC.PAYLOAD_FORMAT_INVALID;
    else {
      const target = publishTarget(topic, identity);
      if (target.kind === 'refused') code = target.reason === 'not-own-cid' ? RC.NOT_AUTHORIZED : RC.TOPIC_NAME_INVALID;
      else {
        const message: MqttMessage = {
          topic: target.routingTopic,
          payload,
          qos,
          retain: p.retain,
          origin: session,
          // Most publishes (every 3.1.1 one) have no properties to carry.
          ...(props !== undefined || decoded.userProperties !== undefined ? this.messageProperties(props ?? {}, decoded.userProperties, identity) : undefined),
        };
        code = this.ctx.port.publish(message, { clientId: this.clientId, identity, session });
      }
    }
    // The broker's quotas with the disconnect switch: the client is closed (MQTT 5: DISCONNECT 0x95 or 0x96).
    if (code === RC.PACKET_TOO_LARGE || code === RC.MESSAGE_RATE_TOO_HIGH) return this.end(`over its quota: ${reasonText(code)}`, code);
    if (this.state !== 'connected' || qos === 0) return;
    if (qos === 2 && code < 0x80) {
      session.ownInboundQos2().add(id);
      session.journalRecord();
    }
    // The acknowledgement promises the message: it goes once what the publish journaled (the persistent sessions
    // it was queued for, the QoS 2 id) is committed, and after every earlier acknowledgement [MQTT-4.6.0-2].
    const waits = journal !== null && journal.writes !== journaledBefore;
    this.acknowledge(qos === 1 ? 'puback' : 'pubrec', qos === 1 ? 0x40 : 0x50, id, code, waits ? journal : null);
  }

  /**
   * Acknowledgements waiting for a commit, in the order of their PUBLISHes; `ready` once committed. At most
   * Receive Maximum: past it the connection reads no further packet until the store catches up.
   */
  private readonly acks: PendingAck[] = [];

  /** PUBACK/PUBREC: 4 bytes on success; a 3.1.1 client cannot be told of a refusal, so it gets the plain ack. */
  private acknowledge(cmd: 'puback' | 'pubrec', type: number, id: number, code: number, durable: SessionJournal | null): void {
    // The common case (nothing to wait for, nothing waiting ahead) writes at once, with no queue entry.
    if (durable === null && this.acks.length === 0) return this.sendAck(cmd, type, id, code);
    const entry: PendingAck = { cmd, type, id, code, ready: durable === null };
    this.acks.push(entry);
    durable?.whenDurable(() =>
      this.contained('acknowledgement', () => {
        entry.ready = true;
        const paused = this.acks.length >= this.ctx.limits.receiveMaximum;
        this.sendReadyAcks();
        if (paused) this.drain(this.ctx.clock.now());
      }),
    );
    this.sendReadyAcks();
  }

  private sendAck(cmd: PendingAck['cmd'], type: number, id: number, code: number): void {
    if (this.version !== 5 || code === RC.SUCCESS) this.write(ack(type, id));
    else this.writePacket({ cmd, messageId: id, reasonCode: code, ...(code >= 0x80 && this.reason(reasonText(code))) } as Packet);
  }

  private sendReadyAcks(): void {
    while (this.acks.length > 0 && this.acks[0]!.ready) {
      const { cmd, type, id, code } = this.acks.shift()!;
      this.sendAck(cmd, type, id, code);
    }
  }

  /** MQTT 5 message properties of a PUBLISH or Will, with the response topic rewritten like a topic. */
  private messageProperties(
    props: NonNullable<IPublishPacket['properties']>,
    userProperties: readonly UserProperty[] | undefined,
    identity: MappingIdentity,
  ): Partial<MqttMessage> {
    const out: { -readonly [K in keyof MqttMessage]?: MqttMessage[K] } = {};
    if (props.payloadFormatIndicator !== undefined) out.payloadFormatIndicator = props.payloadFormatIndicator;
    if (props.contentType !== undefined) out.contentType = props.contentType;
    if (props.responseTopic !== undefined) {
      const target = props.responseTopic.startsWith('$iosig/inbox/')
        ? { kind: 'channel', routingTopic: `$iosig/to/${identity.cid}/${props.responseTopic.slice('$iosig/inbox/'.length)}` }
        : publishTarget(props.responseTopic, identity);
      out.responseTopic = target.kind === 'refused' ? props.responseTopic : (target as { routingTopic: string }).routingTopic;
    }
    if (props.correlationData !== undefined) out.correlationData = Buffer.from(props.correlationData);
    if (userProperties) out.userProperties = userProperties;
    if (props.messageExpiryInterval !== undefined) out.expiresAt = this.ctx.clock.now() + props.messageExpiryInterval * 1000;
    return out as Partial<MqttMessage>;
  }

  private onSubscribe(p: ISubscribePacket, _userProperties: readonly UserProperty[] | undefined): void {
    if (p.messageId === 0) return this.fail(RC.PROTOCOL_ERROR, 'packet identifier 0');
    const session = this.session!;
    const identity = this.identity!;
    const subscriptionId = (p.properties?.subscriptionIdentifier as number | undefined) ?? 0;
    const granted: number[] = [];
    const retained: Array<[string, SubscriptionOptions]> = [];
    const v5 = this.version === 5;
    for (const s of p.subscriptions) {
      const parsed = parseSharedFilter(s.topic);
      if (parsed === 'invalid' || !isValidTopicFilter(parsed === null ? s.topic : parsed.filter)) {
        granted.push(v5 ? RC.TOPIC_FILTER_INVALID : V3_SUBACK_FAILURE);
        continue;
      }
      const shared = parsed;
      const inner = shared === null ? s.topic : shared.filter;
      if (shared && v5 && s.nl) return this.fail(RC.PROTOCOL_ERROR, 'No Local on a shared subscription'); // [MQTT-3.8.3-4]
      const target = subscribeTarget(inner, identity);
      if (target.kind === 'refused') {
        granted.push(v5 ? RC.NOT_AUTHORIZED : V3_SUBACK_FAILURE);
        continue;
      }
      const existed = session.subscriptions.has(s.topic);
      if (!existed && session.subscriptions.size >= this.ctx.limits.maxSubscriptionsPerSession) {
        granted.push(v5 ? RC.QUOTA_EXCEEDED : V3_SUBACK_FAILURE);
        continue;
      }
      const options: SubscriptionOptions = {
        qos: s.qos,
        noLocal: v5 && s.nl === true,
        retainAsPublished: v5 && s.rap === true,
        retainHandling: v5 ? ((s.rh ?? 0) as 0 | 1 | 2) : 0,
        subscriptionId,
        view: target.view,
      };
      const verdict = session.subscribe(s.topic, target.routingFilter, shared === null ? null : shared.group, options);
      if (verdict !== 0) {
        granted.push(v5 ? verdict : V3_SUBACK_FAILURE);
        continue;
      }
      granted.push(s.qos);
      // Retained messages: none for shared subscriptions; Retain Handling 1 only for a new subscription [MQTT-3.3.1-9, -10, -11].
      if (!shared && (options.retainHandling === 0 || (options.retainHandling === 1 && !existed))) retained.push([target.routingFilter, options]);
    }
    this.writePacket({ cmd: 'suback', messageId: p.messageId, granted } as Packet);
    for (const [routingFilter, options] of retained) {
      if (this.state !== 'connected') return;
      this.ctx.port.retained(routingFilter, (message) => session.deliverRetained(message, options), session);
    }
  }

  private onUnsubscribe(p: IUnsubscribePacket): void {
    if (p.messageId === 0) return this.fail(RC.PROTOCOL_ERROR, 'packet identifier 0');
    const session = this.session!;
    const codes: number[] = [];
    for (const filter of p.unsubscriptions) {
      const shared = parseSharedFilter(filter);
      const inner = shared === null ? filter : shared === 'invalid' ? null : shared.filter;
      if (inner === null || !isValidTopicFilter(inner)) codes.push(RC.TOPIC_FILTER_INVALID);
      else codes.push(session.unsubscribe(filter) ? RC.SUCCESS : RC.NO_SUBSCRIPTION_EXISTED);
    }
    if (this.version === 5) this.writePacket({ cmd: 'unsuback', messageId: p.messageId, granted: codes } as Packet);
    else this.writePacket({ cmd: 'unsuback', messageId: p.messageId } as Packet);
  }

  private onDisconnect(reasonCode: number, sessionExpiry: number | undefined): void {
    if (this.version === 5 && sessionExpiry !== undefined) {
      if (this.connectExpiry === 0 && sessionExpiry !== 0) return this.fail(RC.PROTOCOL_ERROR, 'session expiry set on DISCONNECT after 0 at CONNECT');
      this.session!.setExpiry(Math.min(sessionExpiry, this.ctx.limits.maxSessionExpiry));
    }
    // A normal DISCONNECT deletes the Will; 0x04 asks for it to be published [MQTT-3.14.4-3].
    if (!(this.version === 5 && reasonCode === RC.DISCONNECT_WITH_WILL)) this.will = null;
    this.end(`client disconnected (${reasonText(reasonCode)})`);
  }

  // ---- deliveries (SessionLink) ----------------------------------------------------------------------------------

  sendQos0(delivery: Delivery): void {
    if (this.state !== 'connected') return;
    const backlog = this.transport.backlog?.() ?? 0;
    if (backlog > this.ctx.limits.maxWriteBacklog) {
      this.ctx.stats.droppedBacklog++;
      return;
    }
    this.transmit(delivery, false);
  }

  transmit(delivery: Delivery, dup: boolean): boolean {
    if (this.state !== 'connected') return true;
    const bytes = (this.publishWriter ??= new PublishWriter(this.version, this.identity!, this.clientMaxPacket, this.aliasOutMax, this.ctx.clock)).bytes(delivery, dup);
    if (bytes === null) {
      this.ctx.stats.droppedTooLarge++;
      return false;
    }
    this.ctx.stats.deliveries++;
    this.messagesOut++;
    this.write(bytes);
    return true;
  }

  writePubrel(packetId: number): void {
    this.write(ack(0x62, packetId));
  }

  // ---- writing and closing --------------------------------------------------------------------------------------

  private write(bytes: Buffer): void {
    if (this.state === 'closed') return;
    this.ctx.stats.packetsOut++;
    this.bytesOut += bytes.length;
    this.transport.write(bytes);
  }

  /** A reason string, when the client wants problem information [MQTT-3.1.2-29]. */
  private reason(text: string): { properties?: { reasonString: string } } {
    return this.version === 5 && this.problemInformation ? { properties: { reasonString: text } } : {};
  }

  /** Encodes with mqtt-packet; drops the reason string if the packet would be too large for the client. */
  private writePacket(packet: Packet): void {
    if (this.state === 'closed') return;
    const opts = { protocolVersion: this.version };
    let bytes = mqttPacket.generate(packet, opts);
    if (bytes.length > this.clientMaxPacket && 'properties' in packet && packet.properties) {
      const { reasonString: _r, userProperties: _u, ...rest } = packet.properties as Record<string, unknown>;
      bytes = mqttPacket.generate({ ...packet, properties: rest } as Packet, opts);
      if (bytes.length > this.clientMaxPacket) return;
    }
    this.write(bytes);
  }

  /** A protocol error after CONNECT: MQTT 5 gets a DISCONNECT with the reason [MQTT-4.13.1-1]; 3.1.1 is closed. */
  private fail(code: number, why: string): void {
    this.ctx.stats.protocolErrors++;
    this.end(`${reasonText(code)}: ${why}`, code);
  }

  /** Server-side DISCONNECT with `code` (MQTT 5), then close; the Will is published (not a normal disconnect). */
  disconnect(code: number, why: string, publishWill = true): void {
    if (!publishWill) this.will = null;
    this.end(why, code);
  }

  /** Another connection took the session over [MQTT-3.1.4-3]; returns this connection's Will. */
  takeOver(): PendingWillMessage | null {
    const will = this.will;
    this.will = null;
    this.ctx.stats.takeovers++;
    this.finish('session taken over', RC.SESSION_TAKEN_OVER);
    this.session = null;
    if (this.identity) this.ctx.port.closed?.(this.clientId, this.identity, 'session taken over');
    return will;
  }

  private end(reason: string, code?: number): void {
    if (this.state === 'closed') return;
    const session = this.session;
    const will = this.will;
    this.will = null;
    this.finish(reason, code);
    if (this.identity) this.ctx.port.closed?.(this.clientId, this.identity, reason);
    this.registry.ended(this, session, will, reason);
  }

  private finish(reason: string, code: number | undefined): void {
    if (code !== undefined && this.version === 5 && this.state === 'connected') {
      this.writePacket({ cmd: 'disconnect', reasonCode: code, ...(code >= 0x80 && this.reason(reason)) } as Packet);
    }
    this.state = 'closed';
    this.closeReason = reason;
    this.expiryTimer?.cancel();
    this.expiryTimer = null;
    this.ctx.keepAlive.unwatch(this);
    this.connectTimer?.cancel();
    this.connectTimer = null;
    this.session?.detach(this);
    try {
      this.transport.close();
    } catch (err) {
      this.ctx.log(`mqtt: ${this.describe()}: transport close failed: ${String(err)}`);
    }
  }
}

