// `kindling rm <name>`: deletes a function (all its versions), as Lambda's DeleteFunction does.
import { DeleteFunctionCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { connect, parseCommand, sdk } from './client.js';
import { emit } from './output.js';

export async function run(args: string[]): Promise<void> {
  const { positionals, common } = parseCommand(args, {
    usage: 'kindling rm <name>',
    minPositionals: 1,
    maxPositionals: 1,
  });
  const name = positionals[0]!;
  const k = connect(common);
  try {
    await sdk(k.client(LambdaClient).send(new DeleteFunctionCommand({ FunctionName: name })), k);
    emit(common.json, { deleted: name }, () => process.stdout.write(`Deleted function ${name}\n`));
  } finally {
    k.destroy();
  }
}
