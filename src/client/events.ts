// The client's public types: what it emits and what it hands to listeners.
import type { IamInfo } from '../protocol/messages.js';
import type { MbpValue } from '../protocol/mbp.js';
import type { Quota } from '../protocol/codes.js';

/** Connection states, named after the JS client's state machine (docs/protocol.md §3.12). */
export type ClientState =
  | 'closed'
  | 'connecting'
  | 'open'
  | 'server_ready'
  | 'auth_req'
  | 'auth_res'
  | 'auth_fail'
  | 'ready'
  | 'stopped';

/** Client encryption mode (§4.7): when eligible outgoing messages go out as ENC_488. */
export type EncMode = 'no' | 'yes' | 'auto';

/** The name of a signal payload type (§5.2); UNKNOWN for codes outside the table. */
export type PayloadTypeName = 'EMPTY' | 'TEXT' | 'BINARY' | 'OBJECT' | 'MJSON' | 'MBA' | 'UNKNOWN';

/** One received SIGNAL or SIGNAL_E2E. */
export interface SignalMessage {
  /** The tag as delivered: `ch`, `#home`, `cid@topic`, or `@topic` for a unicast. */
  tag: string;
  /** A unicast to this client (the tag starts with `@`). */
  unicast: boolean;
  /** SIGNAL_E2E: `payload` is an ENC_PACK; open it with `IoClient.openE2E`. */
  e2e: boolean;
  payloadType: number;
  payloadTypeName: PayloadTypeName;
  /**
   * The values as §5.2 decodes them: EMPTY `[null]`, TEXT `[string]` (one NUL dropped), BINARY `[Buffer]`,
   * OBJECT `[value]`, MJSON and MBA one entry per argument. When the payload cannot be decoded
   * (bad JSON, unknown type) this is `[payload]` and `decoded` is false.
   */
  values: MbpValue[];
  decoded: boolean;
  /** The raw payload bytes. */
  payload: Buffer;
  /** For a positioned subscription (`subscribeSince`): its place in the channel's history. */
  position?: HistoryPosition;
}

/** A place in a channel's history (an iosig server with `--history`): every signal up to `offset` in `epoch`. */
export interface HistoryPosition {
  epoch: string;
  offset: number;
}

/** What `subscribeSince` resolves with. */
export interface HistoryRecovery {
  /** True: every missed signal was delivered; false: `reason` says why not (subscribed from now on anyway). */
  recovered: boolean;
  reason?: string;
  /** Where live delivery continues. */
  position: HistoryPosition;
}

/** IAM_RES (§3.8). */
export type { IamInfo };

/** A successful RESPONSE_MBP (status < 128). */
export interface CallResult {
  status: number;
  mid: number;
  /** Absent when the server had nothing to send (Q11). */
  body?: MbpValue;
}

/** What the `close` event reports. */
export interface CloseInfo {
  reason: string;
  /** The socket failed (refused, reset, TLS…) rather than closed. */
  error?: Error;
  /** The connection had reached `ready` before it closed. */
  wasReady: boolean;
  /** A reconnect is scheduled after `reconnectInMs`. */
  willReconnect: boolean;
  reconnectInMs?: number;
}

/** What the `over_size` event reports. */
export interface OverSizeInfo {
  /** true: the client refused to send (its own quota check, §3.4); false: the server sent OVER_SIZE. */
  local: boolean;
  size?: number;
  limit?: number;
}

/** The client's events and their listener arguments. */
export interface ClientEvents {
  /** A positioned subscription could not recover what was missed (epoch, too-old, ahead, no-history). */
  history_gap: [tag: string, reason: string, position: HistoryPosition];
  state: [state: ClientState];
  connecting: [url: string];
  open: [];
  /** SERVER_TIME_NONCE arrived (or, from a server without one, SERVER_READY). */
  server_ready: [];
  /** CID_RES arrived: the client has a CID and has resubscribed its channels. */
  ready: [cid: string];
  /** Every received signal, channel and unicast alike. */
  message: [message: SignalMessage];
  close: [info: CloseInfo];
  auth_res: [];
  auth_fail: [reason: string];
  auth_clear: [reason: string];
  quota: [level: number, quota: Quota];
  over_size: [info: OverSizeInfo];
  iam: [info: IamInfo];
  echo: [text: string];
  /** A PONG message or a WebSocket pong frame. */
  pong: [];
  /** The server sent a PING message; the client has answered it. */
  ping: [];
  response: [result: CallResult & { ok: boolean }];
  server_signal: [event: string, data: unknown];
  set: [topic: string, args: MbpValue[]];
  redirect: [url: string];
  /** A message type the client does not handle (e.g. a reserved code). */
  unknown: [data: Buffer];
  /** Something the user should know about that is not an error of a request. */
  warning: [text: string];
}

/** The limits of a quota level (§3.4). */
export type { Quota };
