// The `kindling` command: dispatches to one module per subcommand.
import { CliError } from './output.js';

type Command = (args: string[]) => Promise<void>;

const commands: Record<string, () => Promise<{ run: Command }>> = {
  serve: () => import('./serve.js'),
};

export async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(`usage: kindling <command> [options]\n\ncommands: ${Object.keys(commands).join(', ')}`);
    return;
  }
  const load = commands[name];
  if (!load) {
    console.error(`kindling: unknown command '${name}' (try: kindling --help)`);
    process.exitCode = 2;
    return;
  }
  try {
    await (await load()).run(rest);
  } catch (e) {
    if (e instanceof CliError) {
      console.error(`kindling ${name}: ${e.message}`);
      process.exitCode = e.exitCode;
      return;
    }
    throw e;
  }
}
