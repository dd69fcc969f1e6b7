// Message type codes, payload types, connection states and the quota table (docs/protocol.md §2, §3.1, §5.2, §8.1).

/** Message type codes: the first byte of every message (§2). */
export const MSG = {
  // Boho security layer
  SERVER_TIME_NONCE: 0xb0,
  AUTH_REQ: 0xb1,
  AUTH_RES: 0xb2,
  AUTH_FAIL: 0xb3,
  ENC_PACK: 0xb6,
  ENC_E2E: 0xb7,
  ENC_488: 0xb8,
  // iosignal messages
  SERVER_READY: 0xc0,
  CID_REQ: 0xc1,
  CID_RES: 0xc2,
  QUOTA_LEVEL: 0xc3,
  AUTH_CLEAR: 0xc4,
  SERVER_REDIRECT: 0xc5,
  LOOP: 0xcb,
  ECHO: 0xcc,
  PING: 0xcd,
  PONG: 0xce,
  CLOSE: 0xcf,
  SIGNAL: 0xd0,
  SIGNAL_REQ: 0xd1,
  SIGNAL_E2E: 0xd2,
  SUBSCRIBE: 0xd3,
  SUBSCRIBE_REQ: 0xd4,
  UNSUBSCRIBE: 0xd5,
  SERVER_SIGNAL: 0xd6,
  IAM: 0xd9,
  IAM_RES: 0xda,
  SET: 0xdb,
  RESPONSE_CODE: 0xdc,
  RESPONSE_MBP: 0xdd,
  CALL: 0xde,
  RESPONSE: 0xdf,
  ADMIN_REQ: 0xa0,
  ADMIN_RES: 0xa1,
  FLOW_MODE: 0xf0,
  WAIT: 0xf1,
  RESUME: 0xf2,
  SERVER_REQ_CLOSE: 0xfa,
  TIME_OUT: 0xfd,
  OVER_SIZE: 0xfe,
  OVER_FLOW: 0xff,
} as const;

/** The name of a message type (`SIGNAL`, `CID_REQ`…). */
export type MsgName = keyof typeof MSG;

const NAME_BY_CODE = new Map<number, MsgName>(
  (Object.keys(MSG) as MsgName[]).map((name) => [MSG[name], name]),
);

/** Name of a message type byte, or `UNKNOWN(0x..)`. Used in logs. */
export function msgName(code: number): string {
  return NAME_BY_CODE.get(code) ?? `UNKNOWN(0x${code.toString(16).padStart(2, '0')})`;
}

/** Payload types of a SIGNAL (§3.2). */
export const PAYLOAD = {
  EMPTY: 0,
  TEXT: 1,
  BINARY: 2,
  OBJECT: 3,
  MJSON: 4,
  MBA: 5,
} as const;

/** Connection states, as IAM_RES and the status API report them (§3.1). */
export const STATE = {
  CONNECTING: 0,
  OPEN: 1,
  CLOSING: 2,
  CLOSED: 3,
  STOP: 4,
  REDIRECTING: 5,
  SERVER_READY: 10,
  AUTH_REQ: 11,
  AUTH_RES: 12,
  AUTH_FAIL: 13,
  AUTH_CLEAR: 14,
  CID_REQ: 17,
  CID_RES: 18,
  READY: 19,
} as const;

/** One of STATE. */
export type StateCode = (typeof STATE)[keyof typeof STATE];

/** RESPONSE_MBP status: 0 OK, 255 ERROR (< 128 is success). */
export const STATUS = { OK: 0, ERROR: 255 } as const;

/** One level of the quota table (§8.1). */
export interface Quota {
  signalSize: number;
  publishCounter: number;
  trafficRate: number;
}

/** The quota table shared by server and clients; only these levels may ever be sent in QUOTA_LEVEL. */
export const QUOTA_TABLE: Readonly<Record<number, Readonly<Quota>>> = Object.freeze({
  0: { signalSize: 1500, publishCounter: 10, trafficRate: 10_000 },
  1: { signalSize: 255, publishCounter: 10, trafficRate: 100_000 },
  2: { signalSize: 65_535, publishCounter: 10, trafficRate: 1_048_576 },
  3: { signalSize: 1_048_576, publishCounter: 10, trafficRate: 20_971_520 },
  10: { signalSize: 1500, publishCounter: 5, trafficRate: 20_971_520 },
  11: { signalSize: 65_535, publishCounter: 10, trafficRate: 20_971_520 },
  12: { signalSize: 1_048_576, publishCounter: 100, trafficRate: 20_971_520 },
  200: { signalSize: 20_971_520, publishCounter: 10_000, trafficRate: 104_857_600 },
  255: { signalSize: 20_971_520, publishCounter: 10_000, trafficRate: 104_857_600 },
});

/** The quota level of a connection that has not logged in. */
export const DEFAULT_LEVEL = 3;
/** The level of an administrator. */
export const ADMIN_LEVEL = 255;

/** Largest quota signalSize plus the ENC_488 overhead; the smallest sane frame limit. */
export const MIN_FRAME_LIMIT = 20 * 1024 * 1024 + 64;
