// Tag → internal channel key mapping and the tag forms of docs/protocol.md §5.3.

export const CHANNEL_PREFIX = 'CH:';
export const CID_PREFIX = 'CID:';

/** Internal key of a tag for a connection whose home prefix is `home`. */
export function channelKey(tag: string, home: string): string {
  if (tag.charCodeAt(0) === 0x23 /* # */) return home + tag;
  if (tag.includes('@')) return CID_PREFIX + tag;
  return CHANNEL_PREFIX + tag;
}

/** Retained tags contain `$`; a tag starting with `$` is reserved and never published. */
export const isRetainedKey = (key: string): boolean => key.includes('$');
export const isReservedTag = (tag: string): boolean => tag.charCodeAt(0) === 0x24; /* $ */

/** Topic of a unicast tag `cid@topic[@...]`: the text between the first and second `@`. */
export function unicastTopic(tag: string, at: number): string {
  const next = tag.indexOf('@', at + 1);
  return next < 0 ? tag.slice(at + 1) : tag.slice(at + 1, next);
}
