// How the `io` CLI prints: one line per event, as text (coloured only on a terminal) or as one JSON
// object per line for `jq`. Lines from a named connection start with `[name] `.
import { styleText } from 'node:util';
import type { MbpValue } from '../protocol/mbp.js';
import type { SignalMessage } from '../client/index.js';

export type Colour = 'green' | 'yellow' | 'red' | 'cyan' | 'magenta' | 'gray' | 'blue';

/** One output event; `fields` become the JSON object's keys after time, source and event. */
export interface OutputEvent {
  /** Connection name, or undefined for the CLI itself. */
  source?: string;
  event: string;
  /** The human-readable line (without the source prefix). */
  text: string;
  fields?: Record<string, unknown>;
  colour?: Colour;
  /** Problems go to stderr in text mode. */
  error?: boolean;
}

export interface OutputOptions {
  json: boolean;
  colour: boolean;
  /** Show `[source] ` in text mode (only when there are several connections). */
  prefixSources: boolean;
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
}

/** A JSON-safe copy of a decoded value: Buffers become `{ "$hex": "…" }`. */
export function jsonValue(value: MbpValue | unknown): unknown {
  if (Buffer.isBuffer(value)) return { $hex: value.toString('hex') };
  if (Array.isArray(value)) return value.map(jsonValue);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, jsonValue(v)]));
  }
  return value;
}

const HEX_SHOWN = 32;

/** A value as the text console shows it: strings raw, binary as hex, the rest as JSON. */
export function showValue(value: MbpValue | unknown): string {
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) {
    const hex = value.subarray(0, HEX_SHOWN).toString('hex');
    return `<${value.length} bytes${value.length > 0 ? ' ' + hex : ''}${value.length > HEX_SHOWN ? '…' : ''}>`;
  }
  return JSON.stringify(jsonValue(value)) ?? String(value);
}

/** The payload field of a signal in JSON mode: one value, or an array for MJSON/MBA. */
export function payloadJson(message: SignalMessage): unknown {
  const several = message.payloadTypeName === 'MJSON' || message.payloadTypeName === 'MBA';
  return jsonValue(several ? message.values : message.values[0]);
}

export function signalEvent(source: string, message: SignalMessage): OutputEvent {
  const kind = message.e2e ? 'e2e' : message.unicast ? 'unicast' : 'message';
  const shown = message.payloadTypeName === 'EMPTY' ? '' : ' ' + message.values.map(showValue).join(' ');
  return {
    source,
    event: kind,
    text: `${kind}: ${message.tag}${shown}`,
    colour: message.unicast ? 'magenta' : 'cyan',
    fields: { tag: message.tag, payloadType: message.payloadTypeName, payload: payloadJson(message) },
  };
}

export class Output {
  /** Called around each line so an interactive prompt can be cleared and redrawn. */
  beforeLine: () => void = () => undefined;
  afterLine: () => void = () => undefined;

  constructor(readonly options: OutputOptions) {}

  print(event: OutputEvent): void {
    this.beforeLine();
    if (this.options.json) {
      const object = { time: new Date().toISOString(), source: event.source ?? null, event: event.event, ...event.fields };
      this.options.out.write(JSON.stringify(object) + '\n');
    } else {
      const prefix = event.source !== undefined && this.options.prefixSources ? `[${event.source}] ` : '';
      const body = this.options.colour && event.colour ? styleText(event.colour, event.text) : event.text;
      (event.error ? this.options.err : this.options.out).write(prefix + body + '\n');
    }
    this.afterLine();
  }

  /** Informational text (help, tables): as is in text mode, one `info` object in JSON mode. */
  raw(text: string): void {
    if (this.options.json) return this.print({ event: 'info', text, fields: { text } });
    this.beforeLine();
    this.options.out.write(text.endsWith('\n') ? text : text + '\n');
    this.afterLine();
  }
}
