// CLI output helpers: user mistakes become one clear line (CliError), never a stack trace.
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}
