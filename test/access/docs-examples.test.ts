// The ACL examples in the README (Security, Access control) are read by the real parser, and each says what its text
// claims.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { AccessControl } from '../../src/access/engine.js';
import { parseAcl } from '../../src/access/rules.js';
import { sendKey } from '../../src/access/pattern.js';
import type { SubjectFacts } from '../../src/access/subject.js';

const README = fileURLToPath(new URL('../../../README.md', import.meta.url));

/** The README's access-control section (to the next section of its level or above). */
function accessSection(text: string): string {
  const start = text.indexOf('### Access control, outside identities and rates');
  const end = text.indexOf('\n## ', start);
  return text.slice(start, end < 0 ? undefined : end);
}

/** The unlabelled code blocks made of rule lines (the worked examples). */
function aclBlocks(text: string): string[] {
  const blocks: string[] = [];
  // Fences at line starts, paired in order; only unlabelled ones hold rules (a `sh` block is a command).
  for (const match of text.matchAll(/^```(\w*)\n([\s\S]*?)^```/gm)) {
    if (match[1] !== '') continue;
    const body = match[2]!;
    if (/^(allow|deny|rate) /m.test(body) && !body.includes('<subject>')) blocks.push(body);
  }
  return blocks;
}

const facts = (over: Partial<SubjectFacts>): SubjectFacts => ({
  authenticated: false,
  did: '',
  cid: '?x',
  level: 3,
  address: '192.168.1.5',
  certificate: null,
  ...over,
});

describe('the README access examples', () => {
  const blocks = aclBlocks(accessSection(readFileSync(README, 'utf8')));

  it('has the five worked examples, each a valid ACL', () => {
    assert.equal(blocks.length, 5);
    for (const block of blocks) parseAcl(block, 'README');
  });

  it('means what the text says', () => {
    const engine = new AccessControl();
    const use = (i: number): void => engine.replace(parseAcl(blocks[i]!, `example ${i + 1}`));
    use(0);
    const board = engine.subject(facts({ authenticated: true, did: 'uno', cid: 'U1', level: 1 }));
    const browser = engine.subject(facts({}));
    assert.ok(engine.allows(board, 'send', sendKey('U1', '$state')) && engine.allows(board, 'retain', sendKey('U1', '$state')));
    assert.ok(!engine.allows(browser, 'send', sendKey('?x', 'temp')));
    assert.ok(engine.mayRead(browser, 'PRIVATE:#homeButton') && engine.allows(browser, 'publish', 'PRIVATE:#homeButton'));
    use(1);
    const node = engine.subject(facts({ authenticated: true, did: 'm3-1', cid: 'M3-1', level: 2 }));
    const ops = engine.subject(facts({ authenticated: true, did: 'ops', cid: 'OPS', level: 12 }));
    assert.ok(engine.allows(node, 'publish', 'CH:serial/m3-1') && !engine.allows(node, 'publish', 'CH:serial/m3-2'));
    assert.ok(!engine.allows(node, 'send', sendKey('M3-2', 'cmd')) && engine.allows(ops, 'send', sendKey('M3-2', 'cmd')));
    assert.ok(engine.mayRead(ops, 'CH:serial/m3-2') && !engine.mayRead(node, 'CH:serial/m3-2'));
    assert.equal(engine.rateFor(node)?.messages?.perSecond, 200);
    use(2);
    const lan = engine.subject(facts({ address: '192.168.10.44' }));
    const wan = engine.subject(facts({ address: '203.0.113.9' }));
    const dashboard = engine.subject(facts({ authenticated: true, level: 255, dashboard: true, address: '10.0.0.2' }));
    assert.ok(engine.allows(lan, 'publish', 'CH:iot') && !engine.allows(wan, 'publish', 'CH:iot'));
    assert.ok(engine.allows(dashboard, 'send', sendKey('?b1', 'led')) && engine.mayRead(dashboard, 'CH:anything'));
    use(3);
    const esp = engine.subject(facts({ authenticated: true, did: 'esp1', cid: 'ESP-1', level: 2, certificate: 'esp1' }));
    const pc = engine.subject(facts({ authenticated: true, did: 'pc', cid: 'PC', level: 12 }));
    assert.ok(engine.allows(esp, 'publish', 'CH:lab') && engine.allows(esp, 'retain', 'CH:lab/esp1$'));
    assert.ok(engine.allows(pc, 'send', sendKey('ESP-1', 'led')) && engine.mayRead(pc, 'CH:lab/esp1$'));
    assert.ok(!engine.mayRead(browser, 'CH:lab'));
    use(4);
    const device = engine.subject(facts({ address: '10.20.3.4' }));
    assert.ok(engine.allows(device, 'publish', 'CH:lab') && engine.rateFor(device)?.messages?.burst === 5);
  });
});
