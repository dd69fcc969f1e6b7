// `io-keygen`: prints random ids and keys for devices (docs/protocol.md §9.4); --json prints the same values as JSON.
import { Command } from 'commander';
import { parseCommandLine } from './command-line.js';
import { formatKeygenBox, generateKeygenValues } from '../auth/keygen.js';
import { packageVersion } from './version.js';


function buildProgram(): Command {
  return new Command('io-keygen')
    .description('print random values for device ids and keys (crypto random source)')
    .version(packageVersion(), '-V, --version')
    .option('--json', 'print the values as JSON')
    .configureOutput({ outputError: (text, write) => write(`io-keygen: ${text}`) })
    .exitOverride();
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  if (!(await parseCommandLine(program, argv))) return;
  const values = generateKeygenValues();
  const json = program.opts<{ json?: boolean }>().json === true;
  process.stdout.write(json ? `${JSON.stringify(values, null, 2)}\n` : formatKeygenBox(values));
}
