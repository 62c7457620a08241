// `kindling ls`: the caller's functions, one per line.
import { type FunctionConfiguration, ListFunctionsCommand } from '@aws-sdk/client-lambda';
import { connect, parseCommand, sdk } from './client.js';
import { emit, printTable } from './output.js';

export async function run(args: string[]): Promise<void> {
  const { common } = parseCommand(args, { usage: 'kindling ls', maxPositionals: 0 });
  const k = connect(common);
  try {
    const functions: FunctionConfiguration[] = [];
    let marker: string | undefined;
    do {
      const page = await sdk(
        k.lambda().send(new ListFunctionsCommand({ ...(marker && { Marker: marker }) })),
        k,
      );
      functions.push(...(page.Functions ?? []));
      marker = page.NextMarker;
    } while (marker);
    functions.sort((a, b) => (a.FunctionName ?? '').localeCompare(b.FunctionName ?? ''));
    emit(common.json, functions, () =>
      printTable(
        functions,
        [
          { header: 'NAME', value: (f) => f.FunctionName },
          { header: 'RUNTIME', value: (f) => f.Runtime },
          { header: 'HANDLER', value: (f) => f.Handler },
          {
            header: 'MEMORY',
            value: (f) => (f.MemorySize === undefined ? undefined : `${f.MemorySize} MB`),
            right: true,
          },
          {
            header: 'TIMEOUT',
            value: (f) => (f.Timeout === undefined ? undefined : `${f.Timeout} s`),
            right: true,
          },
          {
            header: 'CODE',
            value: (f) => (f.CodeSize === undefined ? undefined : `${f.CodeSize} B`),
            right: true,
          },
          { header: 'LAST MODIFIED', value: (f) => f.LastModified },
        ],
        '(no functions)',
      ),
    );
  } finally {
    k.destroy();
  }
}
