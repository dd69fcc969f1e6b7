// Log lines carry strings that clients chose (device ids, tags, nicks, close reasons). Escaping control
// characters keeps each event on one line and keeps terminal escape sequences out of consoles, so a client can
// neither forge a line ("login ok ... level 255") nor repaint an operator's terminal.

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it escapes
const CONTROL = /[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it escapes
const CONTROL_OR_SPACE = /[\x00-\x20\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

function escapeChar(char: string): string {
  const code = char.charCodeAt(0);
  return code > 0xff ? `\\u${code.toString(16).padStart(4, '0')}` : `\\x${code.toString(16).padStart(2, '0')}`;
}

/** Free text: line breaks, control characters and bidirectional overrides become `\xNN` / `\uNNNN`. */
export function escapeControl(text: string): string {
  return text.replace(CONTROL, escapeChar);
}

/** A value that must stay one space-separated field: spaces are escaped too. */
export function escapeToken(text: string): string {
  return text.replace(CONTROL_OR_SPACE, escapeChar);
}

/** Wraps a log sink so that every line it gets is escaped, whoever wrote it. */
export function escapingLog(sink: (line: string) => void): (line: string) => void {
  return (line) => sink(escapeControl(line));
}
