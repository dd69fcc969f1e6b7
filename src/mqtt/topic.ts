// MQTT topic names and topic filters (MQTT 3.1.1 §4.7, MQTT 5.0 §4.7 and §4.8.2): what is valid, the `$` rule and
// shared-subscription filters. Pure functions; the engine answers an invalid one with the reason code of its packet.

/** Longest UTF-8 string MQTT can carry (a two-byte length prefix). */
export const MAX_TOPIC_BYTES = 65_535;

const SLASH = 0x2f;
const PLUS = 0x2b;
const HASH = 0x23;
const DOLLAR = 0x24;

/**
 * A topic name a client may publish to: at least one character, no wildcard (`+`, `#`), no U+0000
 * [MQTT-3.3.2-2], [MQTT-4.7.3-1], [MQTT-4.7.3-2]. Byte length is checked by the decoder (it cannot exceed 65 535).
 */
export function isValidTopicName(topic: string): boolean {
  if (topic.length === 0) return false;
  for (let i = 0; i < topic.length; i++) {
    const c = topic.charCodeAt(i);
    if (c === PLUS || c === HASH || c === 0) return false;
  }
  return true;
}

/**
 * A topic filter: at least one character; `#` only alone in the last level; `+` only alone in its level; no U+0000
 * [MQTT-4.7.1-1], [MQTT-4.7.1-2], [MQTT-4.7.3-1].
 */
export function isValidTopicFilter(filter: string): boolean {
  const n = filter.length;
  if (n === 0) return false;
  for (let i = 0; i < n; i++) {
    const c = filter.charCodeAt(i);
    if (c === 0) return false;
    if (c === PLUS || c === HASH) {
      const alone = (i === 0 || filter.charCodeAt(i - 1) === SLASH) && (i === n - 1 || filter.charCodeAt(i + 1) === SLASH);
      if (!alone) return false;
      if (c === HASH && i !== n - 1) return false;
    }
  }
  return true;
}

/** True when the filter has a `+` or `#` level. */
export function hasWildcard(filter: string): boolean {
  for (let i = 0; i < filter.length; i++) {
    const c = filter.charCodeAt(i);
    if (c === PLUS || c === HASH) return true;
  }
  return false;
}

/** Topics starting with `$` are not matched by filters whose first level is a wildcard [MQTT-4.7.2-1]. */
export const isDollarTopic = (topic: string): boolean => topic.charCodeAt(0) === DOLLAR;

/**
 * The reference matcher, level by level (the index in topic-index.ts must agree with it; the property tests compare
 * the two). Both arguments are assumed valid.
 */
export function topicMatches(filter: string, topic: string): boolean {
  if (isDollarTopic(topic)) {
    const c = filter.charCodeAt(0);
    if (c === PLUS || c === HASH) return false;
  }
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    const level = f[i]!;
    if (level === '#') return true; // `a/#` also matches `a` (the parent level) [MQTT-4.7.1-2]
    if (i >= t.length) return false;
    if (level !== '+' && level !== t[i]) return false;
  }
  return f.length === t.length;
}

export const SHARE_PREFIX = '$share/';

/** A shared-subscription filter `$share/<group>/<filter>` split, or null when it is not one. */
export interface SharedFilter {
  group: string;
  filter: string;
}

/**
 * Reads `$share/<group>/<filter>`: null when the filter does not start with `$share/`; `'invalid'` when it does but
 * the group is empty or holds `+`, `#` (or the filter part is missing or invalid) [MQTT-4.8.2-1], [MQTT-4.8.2-2].
 */
export function parseSharedFilter(filter: string): SharedFilter | 'invalid' | null {
  if (!filter.startsWith(SHARE_PREFIX)) return null;
  const slash = filter.indexOf('/', SHARE_PREFIX.length);
  if (slash < 0) return 'invalid';
  const group = filter.slice(SHARE_PREFIX.length, slash);
  const rest = filter.slice(slash + 1);
  if (group.length === 0 || /[+#]/.test(group) || !isValidTopicFilter(rest)) return 'invalid';
  return { group, filter: rest };
}
