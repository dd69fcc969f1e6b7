// Parsing shared by every iosig CLI: commander prints its own messages; we only decide the exit code.
import { CommanderError, type Command } from 'commander';

/** Exit code for a bad command line (unknown option, bad value). */
export const EXIT_BAD_COMMAND_LINE = 2;

/**
 * Parses `argv` (process.argv form) with a program built with `exitOverride()`. Returns false when the
 * program must stop: after help or version (exit code 0) or a parse error (exit code 2). Other errors,
 * thrown by actions, propagate.
 */
export async function parseCommandLine(program: Command, argv: readonly string[]): Promise<boolean> {
  try {
    await program.parseAsync([...argv]);
    return true;
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    process.exitCode = err.exitCode === 0 ? 0 : EXIT_BAD_COMMAND_LINE;
    return false;
  }
}
