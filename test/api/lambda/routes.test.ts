// The Lambda route table and the validation wording, on their own.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { z } from 'zod';
import { DEFAULT_MAX_BODY, LambdaRoutes } from '../../../src/api/lambda/routes.js';
import { LambdaSurface } from '../../../src/api/lambda/surface.js';
import { validate } from '../../../src/api/lambda/validation.js';
import type { ApiRequest, RequestHead } from '../../../src/api/surface.js';
import { asLambda } from '../../helpers/lambda-errors.js';

const routes = new LambdaRoutes();
const ok = () => ({ status: 200 });
routes.add(
  { method: 'GET', path: '/2015-03-31/functions', operation: 'ListFunctions', handle: ok },
  { method: 'GET', path: '/2015-03-31/functions/{FunctionName}', operation: 'GetFunction', handle: ok },
  {
    method: 'POST',
    path: '/2015-03-31/functions/{FunctionName}/invocations',
    operation: 'Invoke',
    handle: ok,
  },
);

test('a route matches its method and path and decodes its parameters', () => {
  const m = routes.match(
    'POST',
    '/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Af/invocations',
  );
  assert.equal(m?.route.operation, 'Invoke');
  assert.equal(m?.params.FunctionName, 'arn:aws:lambda:us-east-1:123456789012:function:f');
});

test('a trailing slash matches the same route', () => {
  assert.equal(routes.match('GET', '/2015-03-31/functions/')?.route.operation, 'ListFunctions');
});

test('another method on a known path does not match but the path is known', () => {
  assert.equal(routes.match('DELETE', '/2015-03-31/functions/f/invocations'), undefined);
  assert.ok(routes.knows('/2015-03-31/functions/f/invocations'));
});

test('an empty parameter segment does not match', () => {
  assert.equal(routes.match('POST', '/2015-03-31/functions//invocations'), undefined);
});

test('a malformed percent-encoding does not match', () => {
  assert.equal(routes.match('GET', '/2015-03-31/functions/%E0%A4%A'), undefined);
});

test('paths of other APIs are not known', () => {
  assert.ok(!routes.knows('/my-bucket/2015-03-31'));
  assert.ok(!routes.knows('/'));
});

test('several failed constraints are counted and joined as Lambda words them', () => {
  const schema = z.object({ MemorySize: z.number().int().min(128), Timeout: z.number().int().max(900) });
  assert.throws(
    () => validate(schema, { MemorySize: 1, Timeout: 1000 }),
    (e: Error) => {
      assert.equal(asLambda(e).type, 'ValidationException');
      assert.equal(
        e.message,
        "2 validation errors detected: Value '1' at 'memorySize' failed to satisfy constraint: Member must have value greater than or equal to 128; " +
          "Value '1000' at 'timeout' failed to satisfy constraint: Member must have value less than or equal to 900",
      );
      return true;
    },
  );
});

test('a missing required member is reported as null', () => {
  assert.throws(
    () => validate(z.object({ ReservedConcurrentExecutions: z.number() }), {}),
    /Value null at 'reservedConcurrentExecutions' failed to satisfy constraint: Member must not be null/,
  );
});

test('a nested member is named by its lowerCamelCase path', () => {
  assert.throws(
    () =>
      validate(z.object({ EphemeralStorage: z.object({ Size: z.number().min(512) }) }), {
        EphemeralStorage: { Size: 1 },
      }),
    /at 'ephemeralStorage.size'/,
  );
});

test('each request is matched against the route table once, even with other requests in between', async () => {
  class Counting extends LambdaRoutes {
    lookups = 0;
    override match(method: string, rawPath: string) {
      this.lookups++;
      return super.match(method, rawPath);
    }
  }
  const table = new Counting();
  table.add({
    method: 'POST',
    path: '/2015-03-31/functions/{FunctionName}/invocations',
    operation: 'Invoke',
    handle: (_req, p) => ({ status: 200, body: p.FunctionName }),
  });
  const surface = new LambdaSurface(table);
  const headOf = (name: string): RequestHead => {
    const rawPath = `/2015-03-31/functions/${name}/invocations`;
    return { method: 'POST', rawPath, path: rawPath, query: new URLSearchParams(), headers: {}, service: '' };
  };
  const a = headOf('a');
  const b = headOf('b');
  // Two requests in flight at once ask in turn: claim, anonymous?, body limit, dispatch.
  assert.ok(surface.matches(a));
  assert.ok(surface.matches(b));
  assert.equal(surface.allowAnonymous(a), false);
  assert.equal(surface.allowAnonymous(b), false);
  assert.equal(surface.maxBodyBytes(a), DEFAULT_MAX_BODY);
  assert.equal(surface.maxBodyBytes(b), DEFAULT_MAX_BODY);
  const request = (h: RequestHead) =>
    Object.assign(h, { body: Buffer.alloc(0), accessKeyId: '' }) as unknown as ApiRequest;
  assert.equal((await surface.handle(request(b))).body, 'b');
  assert.equal((await surface.handle(request(a))).body, 'a');
  assert.equal(table.lookups, 2);
});
