// The benchmark scripts' flags: `--name value` pairs walked in order (each script lists its own in bench/README.md).

/** Calls `on` for every flag; `value()` takes the next argument as the flag's value (an error when it is missing). */
export function eachFlag(argv: string[], on: (flag: string, value: () => string) => void): void {
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    on(flag, () => {
      const value = argv[++i];
      if (value === undefined) throw new Error(`${flag} needs a value`);
      return value;
    });
  }
}

/** A comma-separated flag value, blanks dropped. */
export const list = (value: string): string[] => value.split(',').map((s) => s.trim()).filter(Boolean);
