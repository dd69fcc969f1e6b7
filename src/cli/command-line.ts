// Parsing shared by every iosig CLI: commander prints its own messages; we only decide the exit code.
import { CommanderError, type Command } from 'commander';

/** Exit code for a bad command line (unknown option, bad value). */
export const EXIT_BAD_COMMAND_LINE = 2;

/** Where a CLI writes and which environment it reads: the process's own, or a test's (run in process). */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  readonly env: NodeJS.ProcessEnv;
}

export const processIo: CliIo = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
  env: process.env,
};

/**
 * Parses `argv` (process.argv form) with a program built with `exitOverride()`. Returns the exit code when the
 * program must stop: 0 after help or version, 2 after a parse error; null when it goes on. Other errors,
 * thrown by actions, propagate.
 */
export async function parseArguments(program: Command, argv: readonly string[]): Promise<number | null> {
  try {
    await program.parseAsync([...argv]);
    return null;
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    return err.exitCode === 0 ? 0 : EXIT_BAD_COMMAND_LINE;
  }
}

/** parseArguments for a CLI that owns its process: the exit code goes to process.exitCode; false = stop. */
export async function parseCommandLine(program: Command, argv: readonly string[]): Promise<boolean> {
  const code = await parseArguments(program, argv);
  if (code !== null) process.exitCode = code;
  return code === null;
}
