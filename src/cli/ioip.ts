// `ioip`: prints the machine's LAN IPv4 address (the first non-internal one, docs/protocol.md §9.4).
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import { Command } from 'commander';
import { parseCommandLine } from './command-line.js';

type InterfaceMap = NodeJS.Dict<NetworkInterfaceInfo[]>;

/** Every non-internal IPv4 address, in interface order. */
export function lanAddresses(interfaces: InterfaceMap = networkInterfaces()): string[] {
  const found: string[] = [];
  for (const infos of Object.values(interfaces)) {
    for (const info of infos ?? []) {
      if (info.family === 'IPv4' && !info.internal) found.push(info.address);
    }
  }
  return found;
}

export async function main(argv: readonly string[]): Promise<void> {
  const program = new Command('ioip')
    .description("print this machine's LAN IPv4 address")
    .option('-A, --all', 'print every non-internal IPv4 address, one per line')
    .exitOverride()
    .action((flags: { all?: boolean }) => {
      const addresses = lanAddresses();
      if (addresses.length === 0) {
        process.stderr.write('ioip: no LAN IPv4 address (only loopback or IPv6 interfaces are up)\n');
        process.exitCode = 1;
        return;
      }
      process.stdout.write((flags.all ? addresses : addresses.slice(0, 1)).join('\n') + '\n');
    });
  await parseCommandLine(program, argv);
}
