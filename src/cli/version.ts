// The iosig package version (read from package.json) and the iosignal protocol generation it speaks.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** iosig is wire-compatible with servers and clients of the iosignal 5.x line. */
export const PROTOCOL_VERSION = '5.x';

let cached: string | undefined;

/** The `version` field of iosig's package.json, found by walking up from this module (works from src/ and dist/). */
export function packageVersion(): string {
  if (cached !== undefined) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const version = readVersion(join(dir, 'package.json'));
    if (version !== undefined) return (cached = version);
    const parent = dirname(dir);
    if (parent === dir) return (cached = '0.0.0-unknown');
    dir = parent;
  }
}

function readVersion(file: string): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const name: unknown = Reflect.get(parsed, 'name');
  const version: unknown = Reflect.get(parsed, 'version');
  return name === 'iosig' && typeof version === 'string' ? version : undefined;
}

/** What `io-server -V` prints. */
export function versionText(): string {
  return `iosig ${packageVersion()} (iosignal protocol ${PROTOCOL_VERSION})`;
}
