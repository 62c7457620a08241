// `kindling ls`: the caller's functions, one per line. Lambda's ListFunctions through its REST API, without
// loading the AWS SDK (the command answers in ~a Node start).
import type { FunctionConfiguration } from '@aws-sdk/client-lambda';
import { connect, parseCommand } from './client.js';
import { emit, printTable } from './output.js';

export async function run(args: string[]): Promise<void> {
  const { common } = parseCommand(args, { usage: 'kindling ls', maxPositionals: 0 });
  const k = connect(common);
  try {
    const functions: FunctionConfiguration[] = [];
    let marker: string | undefined;
    do {
      const page = await k.lambdaJson<{ Functions?: FunctionConfiguration[]; NextMarker?: string }>(
        'GET',
        `/2015-03-31/functions/${marker ? `?Marker=${encodeURIComponent(marker)}` : ''}`,
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
