// What crosses between a CALL and a Redis command in the `redis` service: arguments in, replies out.
import type { MbpValue } from '../protocol/mbp.js';

export type RedisArg = string | number | Buffer;

/**
 * Redis arguments from CALL args: text, numbers and bytes as they are; an array adds its items and an
 * object its field/value pairs (so `hSet key {a: 1}` works as it does with the reference's client).
 * Throws a TypeError naming the first argument that cannot be sent.
 */
export function redisArgs(values: readonly MbpValue[]): RedisArg[] {
  const out: RedisArg[] = [];
  values.forEach((value, index) => {
    if (isScalar(value)) out.push(value);
    else if (Array.isArray(value)) for (const item of value) out.push(scalar(item, index));
    else if (value !== null && typeof value === 'object') {
      for (const [field, fieldValue] of Object.entries(value)) out.push(field, scalar(fieldValue, index));
    } else out.push(scalar(value, index));
  });
  return out;
}

function isScalar(value: unknown): value is RedisArg {
  return typeof value === 'string' || typeof value === 'number' || Buffer.isBuffer(value);
}

function scalar(value: unknown, index: number): RedisArg {
  if (isScalar(value)) return value;
  throw new TypeError(`argument ${index} must be text, a number or bytes (or an array or object of those), got ${describe(value)}`);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a nested array';
  return typeof value === 'object' ? 'a nested object' : typeof value;
}

/** The reply the reference's client gives: SISMEMBER answers a boolean there, everything else passes through. */
export function shapeReply(command: string, reply: unknown): unknown {
  if (command === 'sismember') return reply === 1;
  return reply;
}
