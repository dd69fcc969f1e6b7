#!/usr/bin/env node
// io-keygen: prints random device ids and keys. The code lives in src/cli/io-keygen.ts (run `npm run build` first).
import { main } from '../dist/src/cli/io-keygen.js';

main(process.argv).catch((err) => {
  process.stderr.write(`io-keygen: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
