#!/usr/bin/env node
// io-serial: serial ports as iosig devices. The code lives in src/cli/io-serial.ts (run `npm run build` first).
import { main } from '../dist/src/cli/io-serial.js';

main(process.argv).catch((err) => {
  process.stderr.write(`io-serial: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
