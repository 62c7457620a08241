// CLI output helpers: tables for humans, JSON for scripts; user mistakes become one clear line
// (CliError), never a stack trace.

// The CLI's modules exist twice, as CommonJS (the client commands) and as ES modules (the commands that run
// platform code, and their imports): `instanceof` goes by a brand both copies share, not by class identity.
const CLI_ERROR = Symbol.for('kindling.cli.CliError');
const HELP_SHOWN = Symbol.for('kindling.cli.HelpShown');
const branded = (v: unknown, brand: symbol) => typeof v === 'object' && v !== null && brand in v;

export class CliError extends Error {
  readonly [CLI_ERROR] = true;

  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }

  static override [Symbol.hasInstance](v: unknown): boolean {
    return branded(v, CLI_ERROR);
  }
}

/** Thrown after `--help` printed the usage: main() exits 0 without printing anything more. */
export class HelpShown extends Error {
  readonly [HELP_SHOWN] = true;

  static override [Symbol.hasInstance](v: unknown): boolean {
    return branded(v, HELP_SHOWN);
  }
}

/** Exit code for usage mistakes (bad flag, missing argument), as most Unix tools use. */
export const USAGE = 2;

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export interface Column<T> {
  header: string;
  value: (row: T) => string | number | boolean | null | undefined;
  /** Right-align (numbers). */
  right?: boolean;
}

/** Renders rows as an aligned text table with a header line; empty cells show '-'. */
export function formatTable<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const cells = rows.map((r) =>
    columns.map((c) => {
      const v = c.value(r);
      return v === undefined || v === null || v === '' ? '-' : String(v);
    }),
  );
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((row) => row[i]!.length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => (columns[i]!.right ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join('\n');
}

export function printTable<T>(rows: readonly T[], columns: readonly Column<T>[], empty = '(none)'): void {
  process.stdout.write(`${rows.length === 0 ? empty : formatTable(rows, columns)}\n`);
}

/** Prints `value` as JSON when `json` is set, else runs the human renderer. */
export function emit(json: boolean, value: unknown, human: () => void): void {
  if (json) printJson(value);
  else human();
}

/** Key/value lines for one object, aligned: `Name     hello`. */
export function printFields(fields: [string, string | number | boolean | null | undefined][]): void {
  const w = Math.max(0, ...fields.map(([k]) => k.length));
  for (const [k, v] of fields)
    process.stdout.write(`${k.padEnd(w)}  ${v === undefined || v === null ? '-' : String(v)}\n`);
}
