// The tail of recent messages, newest first, with a channel filter (browser code).
import type { TailEntry } from '../dashboard-types.js';
import { cell, row } from './dom.js';
import { PAYLOAD_TYPE_NAMES, formatClock } from './format.js';

const SHOWN = 200;

export class TailView {
  private entries: TailEntry[] = [];
  private skipped = 0;

  constructor(
    private readonly body: HTMLTableSectionElement,
    private readonly filter: HTMLInputElement,
  ) {
    filter.addEventListener('input', () => this.render());
  }

  reset(entries: TailEntry[]): void {
    this.entries = entries.slice(-SHOWN);
    this.render();
  }

  add(entries: TailEntry[], skipped: number): void {
    this.entries.push(...entries);
    if (this.entries.length > SHOWN) this.entries.splice(0, this.entries.length - SHOWN);
    this.skipped += skipped;
    this.render();
  }

  private render(): void {
    const wanted = this.filter.value.trim();
    const shown = this.entries.filter((e) => wanted === '' || e.tag.includes(wanted)).reverse();
    const rows = shown.map((e) =>
      row([
        cell(formatClock(e.time)),
        cell(e.from),
        cell(e.tag),
        cell(PAYLOAD_TYPE_NAMES[e.payloadType] ?? String(e.payloadType)),
        cell(String(e.bytes), 'num'),
        cell(e.preview, 'preview'),
      ]),
    );
    if (this.skipped > 0) rows.push(row([cell(`${this.skipped} more left out (too fast to show)`)]));
    this.body.replaceChildren(...rows);
  }
}
