// Debian's headless Chromium driven by playwright-core, for the tests that look at the dashboard as a person would.
// Describe such a test with needs('chromium') from ./tools.js.
import { chromium, type Browser } from 'playwright-core';
import { tool } from './tools.js';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: tool('chromium'), headless: true, timeout: 20_000 });
}
