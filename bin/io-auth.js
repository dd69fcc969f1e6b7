#!/usr/bin/env node
// io-auth: adds, lists and removes device keys in a key file or Redis. The code lives in src/cli/io-auth.ts.
import { main } from '../dist/src/cli/io-auth.js';

main(process.argv).catch((err) => {
  process.stderr.write(`io-auth: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
