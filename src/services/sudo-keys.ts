// The key-store commands of `sudo` (docs/protocol.md §7.4, Q23): add, read, delete and list device records.
import type { KeyStore } from '../auth/key-store.js';
import type { CallRequest, ServiceReply } from './service.js';
import { messageOf } from '../auth/error-message.js';
import { failure, success, textArg } from './args.js';

export interface SudoKeyOptions {
  /** Return stored keys from getauth (the reference does; the key hash is enough to log in, Q23). */
  revealKeys: boolean;
}

const HIDDEN_KEY = '***';
/** HSET's answer when a new device hash gets its key, cid and level fields. */
const REDIS_FIELDS_PER_DEVICE = 3;

export const KEY_COMMANDS: Readonly<Record<string, (store: KeyStore, req: CallRequest, options: SudoKeyOptions) => Promise<ServiceReply>>> = {
  addauth: addDevice,
  adddevice: addDevice,
  getauth: getDevice,
  getdevice: getDevice,
  delauth: deleteDevice,
  deldevice: deleteDevice,
  getauthidlist: listDevices,
  getdevicelist: listDevices,
};

/** Runs a key command; with no key store it answers OK with no body, like the reference. Store errors become (255, message). */
export async function runKeyCommand(store: KeyStore | null, req: CallRequest, options: SudoKeyOptions): Promise<ServiceReply> {
  const command = Object.hasOwn(KEY_COMMANDS, req.topic) ? KEY_COMMANDS[req.topic] : undefined;
  if (!command) return failure('UNKNOWN_COMMAND');
  if (!store) return success();
  try {
    return await command(store, req, options);
  } catch (err) {
    return failure(`${req.topic}: ${messageOf(err)}`);
  }
}

async function addDevice(store: KeyStore, req: CallRequest): Promise<ServiceReply> {
  if (req.args.length !== 4) return failure(`${req.topic} needs exactly 4 arguments: id, key, cid, level`);
  const [id, key, cid, levelArg] = req.args.map(textArg);
  if (id == null || key == null || cid == null || levelArg == null) return failure(`${req.topic}: id, key, cid and level must be text or numbers`);
  const level = Number.parseInt(levelArg, 10);
  if (!Number.isInteger(level)) return failure(`${req.topic}: level must be a number, got "${levelArg}"`);
  // Redis answers with HSET's count of new fields; work it out, since KeyStore.add returns nothing.
  const existed = store.kind === 'redis' ? (await store.lookup(id)) !== null : false;
  await store.add(id, key, cid, level);
  if (store.kind !== 'redis') return success();
  return success(existed ? 0 : REDIS_FIELDS_PER_DEVICE);
}

async function getDevice(store: KeyStore, req: CallRequest, options: SudoKeyOptions): Promise<ServiceReply> {
  const id = singleId(req);
  if (id === null) return failure(`${req.topic} needs exactly 1 argument: id`);
  const record = await store.lookup(id);
  if (!record) return success();
  const { id: _id, key, ...rest } = record;
  return success({ key: options.revealKeys ? key : HIDDEN_KEY, ...rest });
}

async function deleteDevice(store: KeyStore, req: CallRequest): Promise<ServiceReply> {
  const id = singleId(req);
  if (id === null) return failure(`${req.topic} needs exactly 1 argument: id`);
  const removed = await store.remove(id);
  // Redis answers DEL's count; the other stores answer nothing.
  return success(store.kind === 'redis' ? (removed ? 1 : 0) : undefined);
}

async function listDevices(store: KeyStore): Promise<ServiceReply> {
  return success(await store.list());
}

function singleId(req: CallRequest): string | null {
  return req.args.length === 1 ? textArg(req.args[0]) : null;
}
