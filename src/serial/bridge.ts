// io-serial's core: many ports in one process, each bridged as its own device.
import { EventEmitter } from 'node:events';
import { PortBridge, type PortStats } from './port-bridge.js';
import type { BridgeSettings, PortSpec } from './settings.js';

export class SerialBridge extends EventEmitter<{ log: [line: string] }> {
  readonly ports: PortBridge[];

  constructor(specs: readonly PortSpec[], settings: BridgeSettings) {
    super();
    if (specs.length === 0) throw new Error('give at least one port');
    const paths = new Set<string>();
    for (const spec of specs) {
      if (paths.has(spec.path)) throw new Error(`port ${spec.path} is given twice`);
      paths.add(spec.path);
    }
    this.ports = specs.map((spec) => new PortBridge(spec, settings));
    for (const port of this.ports) port.on('log', (line) => this.emit('log', line));
  }

  start(): void {
    for (const port of this.ports) port.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.ports.map((port) => port.stop()));
  }

  stats(): PortStats[] {
    return this.ports.map((port) => port.stats());
  }
}
