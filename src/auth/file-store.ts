// Key store from a file (-d, §4.2): .json rows, or a .js/.mjs module exporting `authInfo` (Q15).
// Keys are held hashed; add/remove rewrite .json files atomically, modules are read-only; reload() serves SIGHUP.
import { randomBytes } from 'node:crypto';
import { readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { storedKeyForm } from '../crypto/keys.js';
import { recordsFromRows, rowsToJson } from './auth-file-rows.js';
import { assertDeviceEntry } from './device-entry.js';
import { messageOf } from './error-message.js';
import { DeviceTable } from './device-table.js';
import type { AuthLog, DeviceRecord, KeyStore, ReloadResult } from './key-store.js';

export type AuthFileFormat = 'json' | 'module';

export interface FileStoreOptions {
  log: AuthLog;
  /** Start with an empty table when a .json file does not exist yet (io-auth add). */
  createIfMissing?: boolean;
}


const NEW_FILE_MODE = 0o600;
/** Each import of a module needs a new URL, or Node hands back the cached first version. */
let moduleLoads = 0;

export function authFileFormat(path: string): AuthFileFormat {
  const extension = extname(path).toLowerCase();
  if (extension === '.json') return 'json';
  if (extension === '.js' || extension === '.mjs') return 'module';
  throw new Error(`auth file ${path}: unsupported extension "${extension}" (use .json, .js or .mjs)`);
}

export class FileKeyStore implements KeyStore {
  readonly kind = 'file';
  readonly path: string;
  readonly format: AuthFileFormat;
  readonly #log: AuthLog;
  #table: DeviceTable;
  /** add, remove and reload run one at a time, so a write never races a read of the same file. */
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(path: string, format: AuthFileFormat, table: DeviceTable, log: AuthLog) {
    this.path = path;
    this.format = format;
    this.#table = table;
    this.#log = log;
  }

  /** Rejects when the file is missing (unless createIfMissing applies) or invalid. */
  static async open(path: string, options: FileStoreOptions): Promise<FileKeyStore> {
    const absolute = resolve(path);
    const format = authFileFormat(absolute);
    let table: DeviceTable;
    if (format === 'json' && options.createIfMissing && !(await exists(absolute))) table = new DeviceTable();
    else table = await loadTable(absolute, format, options.log);
    return new FileKeyStore(absolute, format, table, options.log);
  }

  get size(): number {
    return this.#table.size;
  }

  async lookup(id: string): Promise<DeviceRecord | null> {
    return this.#table.get(id);
  }

  async list(): Promise<string[]> {
    return this.#table.ids();
  }

  add(id: string, key: string, cid: string, level: number): Promise<void> {
    return this.#serial(async () => {
      this.#assertWritable();
      assertDeviceEntry(id, key, cid, level, this.#log);
      const next = this.#table.clone();
      next.set({ id, key: storedKeyForm(key), cid, level });
      await this.#persist(next);
    });
  }

  remove(id: string): Promise<boolean> {
    return this.#serial(async () => {
      this.#assertWritable();
      if (!this.#table.has(id)) return false;
      const next = this.#table.clone();
      next.delete(id);
      await this.#persist(next);
      return true;
    });
  }

  /** Reads the file again; an invalid file leaves the current table in place and the error is logged. */
  reload(): Promise<ReloadResult> {
    return this.#serial(async (): Promise<ReloadResult> => {
      try {
        this.#table = await loadTable(this.path, this.format, this.#log);
        this.#log(`auth file ${this.path}: reloaded ${this.#table.size} keys`);
        return { ok: true, count: this.#table.size };
      } catch (err) {
        const error = messageOf(err);
        this.#log(`auth file ${this.path}: reload failed, keeping the previous ${this.#table.size} keys: ${error}`);
        return { ok: false, error };
      }
    });
  }

  async close(): Promise<void> {
    await this.#queue;
  }

  #assertWritable(): void {
    if (this.format === 'module') {
      throw new Error(`auth file ${this.path} is a JavaScript module and is read-only; edit it by hand or use a .json file`);
    }
  }

  /** The new table only replaces the old one once the file is written. */
  async #persist(next: DeviceTable): Promise<void> {
    await writeAtomically(this.path, rowsToJson(next.records()));
    this.#table = next;
  }

  #serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task, task);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}

async function loadTable(path: string, format: AuthFileFormat, log: AuthLog): Promise<DeviceTable> {
  if (!(await exists(path))) throw new Error(`auth file ${path}: not found`);
  const rows = format === 'json' ? await readJsonRows(path) : await importModuleRows(path);
  const { records, warnings } = recordsFromRows(rows, `auth file ${path}`);
  for (const warning of warnings) log(warning);
  return new DeviceTable(records);
}

async function readJsonRows(path: string): Promise<unknown> {
  const text = await readFile(path, 'utf8');
  try {
    return JSON.parse(text.replace(/^\uFEFF/, '')) as unknown;
  } catch (err) {
    throw new Error(`auth file ${path}: not valid JSON (${messageOf(err)})`);
  }
}

async function importModuleRows(path: string): Promise<unknown> {
  moduleLoads += 1;
  const loaded: unknown = await import(`${pathToFileURL(path).href}?load=${moduleLoads}`);
  const rows = authInfoOf(loaded) ?? authInfoOf(isObject(loaded) ? loaded['default'] : undefined);
  if (rows === undefined) throw new Error(`auth file ${path}: the module does not export authInfo`);
  return rows;
}

function authInfoOf(value: unknown): unknown {
  return isObject(value) ? value['authInfo'] : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/** Temp file in the same directory, then rename, so readers see the old file or the new one, never half of one. */
async function writeAtomically(path: string, text: string): Promise<void> {
  const mode = await stat(path).then((info) => info.mode & 0o777, () => NEW_FILE_MODE);
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeFile(temp, text, { mode });
    await rename(temp, path);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw new Error(`auth file ${path}: cannot write (${messageOf(err)})`);
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}
