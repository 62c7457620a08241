import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OutputRoutes } from '../../../src/api/s3-object-lambda/output-routes.js';

test('an output token is taken once, only by its own tenant, and not after its invocation ended', () => {
  const routes = new OutputRoutes();
  const delivered: number[] = [];
  const token = routes.open('tenant-a', () => delivered.push(1));
  assert.ok(token.length >= 40);
  // Another tenant holding the token (read from a log, say) finds nothing, and does not spend it.
  assert.equal(routes.take('tenant-b', token), undefined);
  assert.equal(routes.take('tenant-a', `${token}x`), undefined);
  const deliver = routes.take('tenant-a', token);
  assert.ok(deliver);
  deliver({ status: 200 });
  assert.deepEqual(delivered, [1]);
  assert.equal(routes.take('tenant-a', token), undefined);
  // Taken: closing reports that a response came.
  assert.equal(routes.close(token), false);
  const unanswered = routes.open('tenant-a', () => {});
  assert.equal(routes.close(unanswered), true);
  assert.equal(routes.take('tenant-a', unanswered), undefined);
});
