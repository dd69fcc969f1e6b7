// What the client does with each message from the server (PROTOCOL.md §2, §3, §4.4–4.6, §7.2).
import { MSG } from '../protocol/codes.js';
import { PONG_MSG } from '../protocol/messages.js';
import { unpack, type MbpValue } from '../protocol/mbp.js';
import { decodeResponseMbp } from '../protocol/rpc.js';
import type { IoClient } from './client.js';
import { FailedCall } from './errors.js';
import type { IamInfo } from './events.js';
import { toSignalMessage } from './signal-message.js';
import { redirectTarget } from './url.js';

const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString('utf8');

/** Opens ENC_488 / ENC_E2E; every receiver accepts plain and encrypted forms at any time (§4.7). */
function unwrap(client: IoClient, data: Buffer): Buffer | null {
  if (data[0] === MSG.ENC_488) return client.boho.decrypt488(data);
  if (data[0] === MSG.ENC_E2E) return client.boho.openE2E(data);
  return data;
}

export function handleInbound(client: IoClient, data: Buffer): void {
  if (data.length === 0) return;
  const message = unwrap(client, data);
  if (!message || message.length === 0) {
    client.emit('warning', `dropped an encrypted message (0x${data[0]!.toString(16)}) that did not decrypt`);
    return;
  }
  switch (message[0]) {
    case MSG.SERVER_TIME_NONCE:
      client.nonceMessage = Buffer.from(message);
      return client.startHandshake();
    case MSG.SERVER_READY:
      // Informational after SERVER_TIME_NONCE (§3.2); servers that send no nonce start with it.
      if (!client.handshakeStarted) client.startHandshake();
      return;
    case MSG.AUTH_RES:
      return onAuthRes(client, message);
    case MSG.AUTH_FAIL:
      client.setStateFromServer('auth_fail');
      client.emit('auth_fail', 'the server refused the login');
      return;
    case MSG.QUOTA_LEVEL:
      if (message.length >= 2) client.setLevelFromServer(message[1]!);
      return;
    case MSG.AUTH_CLEAR:
      return client.clearedByServer(text(message.subarray(1)));
    case MSG.SERVER_REDIRECT:
      return client.redirect(redirectTarget(message));
    case MSG.CID_RES:
      return client.becomeReady(text(message.subarray(1)));
    case MSG.ECHO: {
      const echoed = text(message.subarray(1));
      client.echoes.deliver(echoed);
      client.emit('echo', echoed);
      return;
    }
    case MSG.PING:
      client.sendPlain(PONG_MSG);
      client.emit('ping');
      return;
    case MSG.PONG:
      return client.receivedPong();
    case MSG.IAM_RES:
      return onIamRes(client, message);
    case MSG.SIGNAL:
    case MSG.SIGNAL_E2E: {
      const signal = toSignalMessage(message);
      if (signal) client.deliverSignal(signal);
      else client.emit('warning', 'dropped a malformed signal');
      return;
    }
    case MSG.RESPONSE_MBP:
      return onResponse(client, message);
    case MSG.SERVER_SIGNAL:
      return onServerSignal(client, message);
    case MSG.SET: {
      const fields = unpack(message);
      if (fields && typeof fields.topic === 'string') client.emit('set', fields.topic, fields.args ?? []);
      return;
    }
    case MSG.OVER_SIZE:
      client.emit('over_size', { local: false });
      return;
    default:
      client.emit('unknown', Buffer.from(message));
  }
}

function onAuthRes(client: IoClient, message: Buffer): void {
  if (!client.boho.verifyAuthRes(message)) {
    client.setStateFromServer('auth_fail');
    client.emit('auth_fail', 'the server answered with an AUTH_RES that does not verify (wrong key?)');
    return;
  }
  client.setStateFromServer('auth_res');
  client.emit('auth_res');
  client.sendPlain(Buffer.from([MSG.CID_REQ]));
}

function isIamInfo(value: unknown): value is IamInfo {
  if (typeof value !== 'object' || value === null) return false;
  const info = value as Record<string, unknown>;
  return typeof info.cid === 'string' && typeof info.ssid === 'number';
}

function onIamRes(client: IoClient, message: Buffer): void {
  let info: unknown;
  try {
    info = JSON.parse(text(message.subarray(1)));
  } catch {
    client.emit('warning', 'dropped an IAM_RES that is not JSON');
    return;
  }
  if (!isIamInfo(info)) return;
  // Like the JS client, keep only non-empty values (§3.8).
  if (info.ip) client.ip = info.ip;
  if (info.nick) client.nick = info.nick;
  if (info.did) client.did = info.did;
  if (info.uid) client.uid = info.uid;
  client.iams.deliver(info);
  client.emit('iam', info);
}

function onResponse(client: IoClient, message: Buffer): void {
  const response = decodeResponseMbp(message);
  if (!response) return;
  const ok = response.status < 128;
  const result = response.body === undefined ? { status: response.status, mid: response.mid } : { status: response.status, mid: response.mid, body: response.body };
  client.emit('response', { ...result, ok });
  client.calls.settle(response.mid, ok ? { value: result } : { error: new FailedCall(result) });
}

function onServerSignal(client: IoClient, message: Buffer): void {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text(message.subarray(1)));
  } catch {
    return;
  }
  if (typeof parsed !== 'object' || parsed === null) return;
  const { event, data } = parsed as { event?: unknown; data?: unknown };
  // The JS client only acts on {event: string, data: truthy} (§3.10).
  if (typeof event === 'string' && data) client.emit('server_signal', event, data as MbpValue);
}
