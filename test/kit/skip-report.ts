// A node:test reporter that run-suite.ts adds beside the one you read: it writes one line per test or group that
// was skipped for want of a Debian tool (kit/tools.ts), as JSON: { file, name, tools }.
import { toolsOfSkip } from './tools.js';

interface TestEvent {
  type: string;
  data?: { name?: string; file?: string; skip?: string | boolean };
}

export default async function* skipReport(source: AsyncIterable<TestEvent>): AsyncGenerator<string> {
  for await (const event of source) {
    if (event.type !== 'test:pass' || typeof event.data?.skip !== 'string') continue;
    const tools = toolsOfSkip(event.data.skip);
    if (tools) yield `${JSON.stringify({ file: event.data.file ?? '', name: event.data.name ?? '', tools })}\n`;
  }
}
