// Process-level last resort for io-server: an error that escaped every containment path is a bug. The process
// state can no longer be trusted, so it is logged with context and the process exits non-zero, letting a
// supervisor (systemd, Docker restart policy) start a clean one. Client input never gets here (tests prove it).

/** Exit code of a process ended by an escaped error (EX_SOFTWARE). */
export const EXIT_INTERNAL_ERROR = 70;

export interface LastResortContext {
  /** What the process was, for the log line (e.g. "io-server ws 7777 cong 8888"). */
  describe(): string;
  /** Where the line goes; stderr by default. */
  write?: (line: string) => void;
}

export function installLastResort(context: LastResortContext): void {
  const write = context.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const fatal = (kind: string, err: unknown): void => {
    let detail: string;
    try {
      detail = err instanceof Error ? (err.stack ?? `${err.name}: ${err.message}`) : String(err);
    } catch {
      detail = 'an error that cannot be described';
    }
    try {
      write(`${new Date().toISOString()} ${context.describe()}: fatal ${kind}, exiting with ${EXIT_INTERNAL_ERROR}: ${detail}`);
    } finally {
      process.exit(EXIT_INTERNAL_ERROR);
    }
  };
  process.on('uncaughtException', (err) => fatal('uncaught exception', err));
  process.on('unhandledRejection', (reason) => fatal('unhandled promise rejection', reason));
}
