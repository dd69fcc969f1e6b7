// What the HTTP API and the live feed send, shared by the server and the dashboard's browser code.
import type { ChannelInfo, ConnectionInfo } from '../info.js';
import type { MetricsSample, TrafficPoint } from '../metrics/stats.js';

export type { ChannelInfo, ConnectionInfo, MetricsSample, TrafficPoint };

/** counters: public numbers only; read: lists and the message tail; admin: read and send. */
export type AccessLevel = 'counters' | 'read' | 'admin';

/** One published signal as the dashboard's tail shows it. */
export interface TailEntry {
  time: number;
  /** The tag as published (`name`, `cid@topic`...). */
  tag: string;
  payloadType: number;
  /** Size of the whole message. */
  bytes: number;
  /** The sender's CID; `dashboard` for signals sent from the dashboard. */
  from: string;
  /** The start of the payload: text as is, binary as hex. */
  preview: string;
}

/**
 * `/api/status?limit=&connections=&channels=&list=`: one page of each list (or of the one named by `list`),
 * with the cursor of the next page (null on the last). Connections go by ssid, channels by key.
 */
export interface StatusBody {
  access: AccessLevel;
  metrics: MetricsSample;
  limit: number;
  connections: ConnectionInfo[];
  channels: ChannelInfo[];
  next: { connections: number | null; channels: string | null };
}

/** The first frame of the live feed. */
export interface HelloFrame {
  access: AccessLevel;
  /** Whether the server has an admin token (if not, sending is disabled). */
  tokenConfigured: boolean;
  history: TrafficPoint[];
  tail: TailEntry[];
}

/** Sent every second. Lists are present for readers only and capped at LIST_LIMIT entries. */
export interface TickFrame {
  metrics: MetricsSample;
  traffic: TrafficPoint;
  connections?: ConnectionInfo[];
  channels?: ChannelInfo[];
}

export interface TailFrame {
  entries: TailEntry[];
  /** Signals left out since the previous frame because they came too fast to show. */
  skipped: number;
}

export type SendTarget = 'channel' | 'cid' | 'everyone';
export type SendPayloadKind = 'text' | 'json';

export interface SendRequest {
  target: SendTarget;
  /** Channel name (channel), or the tag delivered as is (everyone). */
  tag?: string;
  cid?: string;
  topic?: string;
  payloadKind: SendPayloadKind;
  payload: string;
}

export interface SendResponse {
  receivers: number;
}

export interface ErrorBody {
  error: string;
}

/** Longest connection or channel list in a live frame; /api/status pages through the full lists. */
export const LIST_LIMIT = 500;
