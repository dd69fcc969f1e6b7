#!/usr/bin/env node
// ioip: prints the LAN IPv4 address. The code lives in src/cli/ioip.ts (run `npm run build` first).
import { main } from '../dist/src/cli/ioip.js';

main(process.argv).catch((err) => {
  process.stderr.write(`ioip: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
