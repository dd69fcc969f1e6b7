// The in-memory id → record map behind the file and parameter stores. Records go in and out as copies.
import type { DeviceRecord } from './key-store.js';

export class DeviceTable {
  readonly #records = new Map<string, DeviceRecord>();

  constructor(records: Iterable<DeviceRecord> = []) {
    for (const record of records) this.set(record);
  }

  get size(): number {
    return this.#records.size;
  }

  has(id: string): boolean {
    return this.#records.has(id);
  }

  get(id: string): DeviceRecord | null {
    const record = this.#records.get(id);
    return record ? { ...record } : null;
  }

  /** A later record for the same id replaces the earlier one. */
  set(record: DeviceRecord): void {
    this.#records.set(record.id, { ...record });
  }

  delete(id: string): boolean {
    return this.#records.delete(id);
  }

  ids(): string[] {
    return [...this.#records.keys()];
  }

  records(): DeviceRecord[] {
    return [...this.#records.values()].map((record) => ({ ...record }));
  }

  clone(): DeviceTable {
    return new DeviceTable(this.#records.values());
  }
}
