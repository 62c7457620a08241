// The one way tests create a function through the public API: the unmodified SDK's CreateFunction with an
// inline ESM handler zipped as index.mjs, Lambda's defaults otherwise. Tests of CreateFunction's own
// validation build their requests by hand.
import { CreateFunctionCommand, type CreateFunctionCommandInput, LambdaClient } from '@aws-sdk/client-lambda';
import { handlerZip } from '../api/lambda/zips.js';
import { sdkConfig } from './platform.js';

/** A Lambda client for a test platform (its admin key unless `credentials` are given). */
export function lambdaClient(p: Parameters<typeof sdkConfig>[0]): LambdaClient {
  return new LambdaClient(sdkConfig(p));
}

/** Creates `name` from handler `source` (index.handler, nodejs20.x); returns its ARN. */
export async function createFunction(
  lambda: LambdaClient,
  name: string,
  source: string,
  extra: Partial<CreateFunctionCommandInput> = {},
): Promise<string> {
  const out = await lambda.send(
    new CreateFunctionCommand({
      FunctionName: name,
      Runtime: 'nodejs20.x',
      Handler: 'index.handler',
      Role: 'arn:aws:iam::123456789012:role/any',
      Code: { ZipFile: await handlerZip(source) },
      ...extra,
    }),
  );
  return out.FunctionArn!;
}
