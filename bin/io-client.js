#!/usr/bin/env node
// io-client: another name for `io` (PROTOCOL.md §9.3).
import '../bin/io.js';
