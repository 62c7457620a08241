// EventBridge calls while the store is unreachable answer a 5xx InternalException (the SDK retries it),
// and the same scheduler answers normally once the store is back.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { EventBridgeSurface } from '../../../src/api/eventbridge/surface.js';
import type { ApiRequest } from '../../../src/api/surface.js';
import type { Tenant } from '../../../src/control/tenants.js';
import { EventBus } from '../../../src/events/bus/event-bus.js';
import { ScheduleStore } from '../../../src/events/schedules/schedule-repo.js';
import { Scheduler } from '../../../src/events/schedules/scheduler.js';
import { StoreUnavailableError } from '../../../src/store/sql.js';
import { openTestSql } from '../../helpers/store.js';

const tenant = { id: 't-1', name: 't1', accountId: '123456789012', isAdmin: false } as unknown as Tenant;

test('PutRule while the store is unreachable answers 500 InternalException, and works once it is back', async () => {
  const t = await openTestSql();
  after(() => t.close());
  const store = new ScheduleStore(t.sql);
  await store.ready();
  const scheduler = new Scheduler({
    store,
    region: 'us-east-1',
    tenants: { get: () => tenant },
    resolveFunction: () => {
      throw new Error('no functions here');
    },
    accept: () => undefined,
  });
  after(() => scheduler.stop());
  const bus = new EventBus({
    store,
    region: 'us-east-1',
    resolveFunction: () => {
      throw new Error('no functions here');
    },
    accept: () => undefined,
  });
  const surface = new EventBridgeSurface(scheduler, bus);
  const call = async (op: string, body: unknown) => {
    const req = {
      method: 'POST',
      path: '/',
      headers: { 'x-amz-target': `AWSEvents.${op}` },
      tenant,
      body: Buffer.from(JSON.stringify(body)),
    } as unknown as ApiRequest;
    try {
      return await surface.handle(req);
    } catch (e) {
      return surface.errorResponse(e);
    }
  };
  const realGet = t.sql.get.bind(t.sql);
  t.sql.get = async () => {
    throw new StoreUnavailableError('PostgreSQL is unavailable: connection refused');
  };
  const down = await call('PutRule', { Name: 'r', ScheduleExpression: 'rate(5 minutes)' });
  assert.equal(down.status, 500);
  assert.equal(down.headers?.['x-amzn-errortype'], 'InternalException');
  t.sql.get = realGet;
  const up = await call('PutRule', { Name: 'r', ScheduleExpression: 'rate(5 minutes)' });
  assert.equal(up.status, 200);
  assert.match(String(up.body), /"RuleArn":"arn:aws:events:us-east-1:123456789012:rule\/r"/);
});
