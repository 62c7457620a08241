// TagResource, UntagResource, ListTags on function ARNs. Tags grant nothing: the retired
// `kindling:network` tag is refused (outbound network is an admin's grant per tenant).
import { z } from 'zod';
import { parseFunctionArn } from '../../control/function-names.js';
import { LambdaErrors } from '../../errors.js';
import type { ApiRequest } from '../surface.js';
import type { LambdaApiDeps } from './deps.js';
import { json } from './errors.js';
import type { LambdaRoute } from './routes.js';
import { validate, validateBody } from './validation.js';

const MAX_TAGS = 50;
const TagSchema = z.object({ Tags: z.record(z.string().min(1).max(128), z.string().max(256)) });
const KeysSchema = z.object({ TagKeys: z.array(z.string().min(1).max(128)).min(1).max(MAX_TAGS) });

function resource(deps: LambdaApiDeps, req: ApiRequest, arn: string) {
  const ref = parseFunctionArn(arn);
  if (ref.qualifier !== undefined)
    throw LambdaErrors.invalidParameter('Tags are not supported on function versions or aliases.');
  return deps.functions.resolve(req.tenant, ref);
}

export function tagRoutes(deps: LambdaApiDeps): LambdaRoute[] {
  const path = '/2017-03-31/tags/{Resource}';
  return [
    {
      method: 'POST',
      path,
      operation: 'TagResource',
      async handle(req, p) {
        const rec = await resource(deps, req, p.Resource!);
        const { Tags } = validateBody(TagSchema, req.body);
        if (Object.keys({ ...rec.tags, ...Tags }).length > MAX_TAGS) {
          throw LambdaErrors.invalidParameter(`Number of tags exceeds resource tag limit of ${MAX_TAGS}.`);
        }
        await deps.functions.tag(req.tenant, rec.name, Tags);
        return { status: 204 };
      },
    },
    {
      method: 'DELETE',
      path,
      operation: 'UntagResource',
      async handle(req, p) {
        const rec = await resource(deps, req, p.Resource!);
        const { TagKeys } = validate(KeysSchema, { TagKeys: req.query.getAll('tagKeys') });
        await deps.functions.untag(req.tenant, rec.name, TagKeys);
        return { status: 204 };
      },
    },
    {
      method: 'GET',
      path,
      operation: 'ListTags',
      async handle(req, p) {
        return json(200, { Tags: (await resource(deps, req, p.Resource!)).tags });
      },
    },
  ];
}
