// Opens the bus links of a node on the engine its options name (links.ts).
import type { BusLinks } from './links.js';
import type { BusEngine } from './cluster-options.js';
import { openRedisLinks } from './redis-links.js';
import { IpcLinks } from '../workers/ipc-links.js';

export function openLinks(engine: BusEngine, name: string): BusLinks {
  switch (engine.kind) {
    case 'redis':
      return openRedisLinks(engine.target, engine.mode, name);
    case 'workers':
      return new IpcLinks(engine.primary);
    case 'memory':
      return engine.hub.links();
  }
}
