#!/usr/bin/env node
// io-client: another name for `io` (docs/protocol.md §9.3).
import '../bin/io.js';
