// The dashboard's browser modules, compiled by tsc next to this file (static/*.js) and served from memory.
import { readFileSync, readdirSync } from 'node:fs';

const STATIC_DIR = new URL('./static/', import.meta.url);

/** File name → contents, for `GET /static/<name>`. */
export function loadStaticAssets(): Map<string, Buffer> {
  const assets = new Map<string, Buffer>();
  for (const name of readdirSync(STATIC_DIR)) {
    if (/^[a-z-]+\.js$/.test(name)) assets.set(name, readFileSync(new URL(name, STATIC_DIR)));
  }
  return assets;
}
