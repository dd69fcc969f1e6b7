#!/usr/bin/env node
// io-server / ios: starts an iosig broker. The code lives in src/cli/io-server.ts (run `npm run build` first).
import { main } from '../dist/src/cli/io-server.js';

main(process.argv).catch((err) => {
  process.stderr.write(`io-server: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
