#!/usr/bin/env node
// io / io-client: the iosignal console. The code lives in src/cli/io.ts (run `npm run build` first).
import { main } from '../dist/src/cli/io.js';

main(process.argv).catch((err) => {
  process.stderr.write(`io: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
