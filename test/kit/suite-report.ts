// A node:test reporter that run-suite.ts adds beside the one you read. It writes JSON lines: one per test or group
// skipped for want of a Debian tool (kit/tools.ts), { skip: tools, file, name }, and one per top-level test or group
// with its time, { file, ms }, from which run-suite.ts can keep each file's duration.
import { toolsOfSkip } from './tools.js';

interface TestEvent {
  type: string;
  data?: { name?: string; file?: string; nesting?: number; skip?: string | boolean; details?: { duration_ms?: number } };
}

export default async function* suiteReport(source: AsyncIterable<TestEvent>): AsyncGenerator<string> {
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const data = event.data ?? {};
    const file = data.file ?? '';
    const tools = typeof data.skip === 'string' ? toolsOfSkip(data.skip) : null;
    if (tools) yield `${JSON.stringify({ skip: tools, file, name: data.name ?? '' })}\n`;
    if (data.nesting === 0 && file && typeof data.details?.duration_ms === 'number') {
      yield `${JSON.stringify({ file, ms: data.details.duration_ms })}\n`;
    }
  }
}
