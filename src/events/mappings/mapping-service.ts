// Event source mappings as Lambda's API manages them: create, get, list, update, delete, each scoped to
// the caller's tenant. Ownership of the queue and the function is checked here, where the mapping is
// written. Input arrives already schema-validated (api/lambda/event-source-mappings.ts).
import { randomUUID } from 'node:crypto';
import type { Tenant } from '../../control/tenants.js';
import { LambdaErrors } from '../../errors.js';
import type { QueueEngine } from '../queue/types.js';
import type { MappingStore } from './mapping-repo.js';
import { sourceKey } from './mapping-repo.js';
import type { PollerManager } from './poller-manager.js';
import { type FunctionDirectory, type Mapping, type MappingSource, RPC_TAG } from './types.js';

export interface CreateMappingInput {
  functionName?: string;
  eventSourceArn?: string;
  redis?: { urls: string[]; stream: string };
  enabled?: boolean;
  batchSize?: number;
  maximumBatchingWindowInSeconds?: number;
  functionResponseTypes?: string[];
  maximumConcurrency?: number;
  maximumRetryAttempts?: number;
  startingPosition?: 'TRIM_HORIZON' | 'LATEST';
  tags?: Record<string, string>;
}

export interface UpdateMappingInput {
  functionName?: string;
  enabled?: boolean;
  batchSize?: number;
  maximumBatchingWindowInSeconds?: number;
  functionResponseTypes?: string[];
  /** null removes the ScalingConfig. */
  maximumConcurrency?: number | null;
  maximumRetryAttempts?: number;
}

export interface ListMappingsInput {
  eventSourceArn?: string;
  functionName?: string;
  marker?: string;
  maxItems?: number;
}

export interface MappingServiceDeps {
  store: MappingStore;
  manager: PollerManager;
  queues: QueueEngine;
  functions: FunctionDirectory;
  region: string;
}

const SQS_MAX_BATCH = 10_000;
const REDIS_MAX_BATCH = 10_000;

export class MappingService {
  readonly #d: MappingServiceDeps;

  constructor(deps: MappingServiceDeps) {
    this.#d = deps;
  }

  async create(tenant: Tenant, input: CreateMappingInput): Promise<Mapping> {
    const rpc = input.tags?.[RPC_TAG] === 'true';
    const source = await this.#source(tenant, input);
    let functionArn: string | null = null;
    if (input.functionName !== undefined) {
      if (rpc)
        throw LambdaErrors.invalidParameter(
          `An RPC mapping (tag ${RPC_TAG}=true) names no FunctionName: each message names its function`,
        );
      functionArn = await this.#function(tenant, input.functionName, source);
    } else if (!rpc) {
      throw LambdaErrors.validation(
        "1 validation error detected: Value null at 'functionName' failed to satisfy constraint: Member must not be null",
      );
    }
    if (input.startingPosition !== undefined && source.kind !== 'redis') {
      throw LambdaErrors.invalidParameter('StartingPosition is not valid for an SQS event source.');
    }
    const batchSize = input.batchSize ?? 10;
    const window = input.maximumBatchingWindowInSeconds ?? 0;
    checkBatching(source, batchSize, window);
    const key = sourceKey({ source });
    const existing = (await this.#d.store.listByTenant(tenant.id)).find(
      (m) => sourceKey(m) === key && m.functionArn === functionArn,
    );
    if (existing) {
      throw LambdaErrors.conflict(
        `An event source mapping with event source ("${key}") and function ("${functionArn ?? RPC_TAG}") already exists. Please update or delete the existing mapping with UUID ${existing.uuid}`,
      );
    }
    const m: Mapping = {
      uuid: randomUUID(),
      tenantId: tenant.id,
      accountId: tenant.accountId,
      source,
      functionArn,
      rpc,
      batchSize,
      maximumBatchingWindowInSeconds: window,
      enabled: input.enabled ?? true,
      state: 'Creating',
      stateTransitionReason: 'USER_INITIATED',
      reportBatchItemFailures: (input.functionResponseTypes ?? []).includes('ReportBatchItemFailures'),
      maximumConcurrency: input.maximumConcurrency ?? null,
      maximumRetryAttempts: input.maximumRetryAttempts ?? null,
      ...(source.kind === 'redis' && { startingPosition: input.startingPosition ?? 'TRIM_HORIZON' }),
      tags: input.tags ?? {},
      lastModified: Date.now(),
      lastProcessingResult: 'No records processed',
    };
    await this.#d.store.insert(m);
    await this.#d.manager.changed(m.uuid);
    return m;
  }

  async get(tenant: Tenant, uuid: string): Promise<Mapping> {
    const m = await this.#d.store.get(uuid);
    // Another tenant's mapping "does not exist" for this caller.
    if (!m || m.tenantId !== tenant.id) {
      throw LambdaErrors.notFound(
        `The resource you requested does not exist. (Service: Lambda, Status Code: 404, Request ID: ${uuid})`,
      );
    }
    return m;
  }

  async list(
    tenant: Tenant,
    input: ListMappingsInput = {},
  ): Promise<{ mappings: Mapping[]; nextMarker?: string }> {
    let all = await this.#d.store.listByTenant(tenant.id);
    if (input.eventSourceArn !== undefined) {
      const arn = input.eventSourceArn;
      all = all.filter((m) => sourceKey(m) === arn || (m.source.kind === 'redis' && m.source.stream === arn));
    }
    if (input.functionName !== undefined) {
      const fn = await this.#d.functions.find(tenant, input.functionName);
      all = fn
        ? all.filter((m) => m.functionArn !== null && sameFunction(m.functionArn, fn.functionArn))
        : [];
    }
    let start = 0;
    if (input.marker !== undefined) {
      const i = all.findIndex((m) => m.uuid === input.marker);
      if (i < 0) throw LambdaErrors.invalidParameter('Invalid Marker');
      start = i;
    }
    const max = input.maxItems ?? 100;
    const page = all.slice(start, start + max);
    const next = all[start + max];
    return { mappings: page, ...(next && { nextMarker: next.uuid }) };
  }

  async update(tenant: Tenant, uuid: string, input: UpdateMappingInput): Promise<Mapping> {
    const m = await this.get(tenant, uuid);
    if (m.state === 'Deleting')
      throw LambdaErrors.conflict(`The event source mapping ${uuid} is being deleted.`);
    if (input.functionName !== undefined) {
      if (m.rpc)
        throw LambdaErrors.invalidParameter(`An RPC mapping (tag ${RPC_TAG}=true) names no FunctionName`);
      m.functionArn = await this.#function(tenant, input.functionName, m.source);
    } else if (
      input.enabled === true &&
      m.functionArn !== null &&
      !(await this.#d.functions.find(tenant, m.functionArn))
    ) {
      throw LambdaErrors.functionNotFound(m.functionArn);
    }
    const batchSize = input.batchSize ?? m.batchSize;
    const window = input.maximumBatchingWindowInSeconds ?? m.maximumBatchingWindowInSeconds;
    checkBatching(m.source, batchSize, window);
    m.batchSize = batchSize;
    m.maximumBatchingWindowInSeconds = window;
    if (input.enabled !== undefined) m.enabled = input.enabled;
    if (input.functionResponseTypes !== undefined)
      m.reportBatchItemFailures = input.functionResponseTypes.includes('ReportBatchItemFailures');
    if (input.maximumConcurrency !== undefined) m.maximumConcurrency = input.maximumConcurrency;
    if (input.maximumRetryAttempts !== undefined) m.maximumRetryAttempts = input.maximumRetryAttempts;
    m.state = 'Updating';
    m.stateTransitionReason = 'USER_INITIATED';
    m.lastModified = Date.now();
    await this.#d.store.save(m);
    await this.#d.manager.changed(m.uuid);
    return m;
  }

  async delete(tenant: Tenant, uuid: string): Promise<Mapping> {
    const m = await this.get(tenant, uuid);
    m.state = 'Deleting';
    m.stateTransitionReason = 'USER_INITIATED';
    m.lastModified = Date.now();
    await this.#d.store.save(m);
    await this.#d.manager.changed(m.uuid);
    return m;
  }

  async #source(tenant: Tenant, input: CreateMappingInput): Promise<MappingSource> {
    if (input.eventSourceArn !== undefined && input.redis !== undefined) {
      throw LambdaErrors.invalidParameter(
        'Specify either EventSourceArn or SelfManagedEventSource, not both.',
      );
    }
    if (input.redis) {
      for (const u of input.redis.urls) {
        let ok = false;
        try {
          const url = new URL(u);
          ok = (url.protocol === 'redis:' || url.protocol === 'rediss:') && url.hostname !== '';
        } catch {
          ok = false;
        }
        if (!ok)
          throw LambdaErrors.invalidParameter(`REDIS_URLS must be redis:// or rediss:// URLs, got '${u}'`);
      }
      return { kind: 'redis', urls: input.redis.urls, stream: input.redis.stream };
    }
    const arn = input.eventSourceArn;
    if (arn === undefined) {
      throw LambdaErrors.invalidParameter(
        'Unrecognized event source, must be an embedded queue ARN or a SelfManagedEventSource with REDIS_URLS.',
      );
    }
    if (!arn.startsWith('arn:aws:sqs:')) {
      throw LambdaErrors.invalidParameter(
        `Unrecognized event source, must be an embedded queue ARN (arn:aws:sqs:...): ${arn}`,
      );
    }
    // Another tenant's queue looks exactly like a missing one.
    const queue = await this.#d.queues.findQueue(tenant, arn);
    if (!queue) {
      throw LambdaErrors.invalidParameter(
        'Error occurred while ReceiveMessage. SQS Error Code: AWS.SimpleQueueService.NonExistentQueue. SQS Error Message: The specified queue does not exist.',
      );
    }
    return { kind: 'sqs', queueArn: queue.arn };
  }

  /** The ARN of one of the tenant's own functions (qualified when the name was). */
  async #function(tenant: Tenant, ref: string, source: MappingSource): Promise<string> {
    const account = /^(?:arn:[^:]*:lambda:[^:]*:)?(\d{12}):function:/.exec(ref)?.[1];
    const fn =
      account === undefined || account === tenant.accountId
        ? await this.#d.functions.find(tenant, ref)
        : undefined;
    if (!fn) throw LambdaErrors.functionNotFound(ref);
    // As Lambda requires: a lease shorter than a run would hand the batch to a second run meanwhile.
    if (source.kind === 'sqs') {
      const queue = await this.#d.queues.findQueue(tenant, source.queueArn);
      const visibility = queue
        ? Number((await this.#d.queues.getAttributes(queue, ['VisibilityTimeout'])).VisibilityTimeout)
        : Number.NaN;
      if (Number.isFinite(visibility) && visibility < fn.timeoutSec) {
        throw LambdaErrors.invalidParameter(
          `Queue visibility timeout: ${visibility} seconds is less than Function timeout: ${fn.timeoutSec} seconds`,
        );
      }
    }
    return fn.functionArn;
  }
}

function checkBatching(source: MappingSource, batchSize: number, window: number): void {
  const max = source.kind === 'sqs' ? SQS_MAX_BATCH : REDIS_MAX_BATCH;
  if (batchSize > max)
    throw LambdaErrors.invalidParameter(`BatchSize must be at most ${max} for this event source.`);
  if (source.kind === 'sqs' && batchSize > 10 && window < 1) {
    throw LambdaErrors.invalidParameter(
      'Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10',
    );
  }
}

const unqualified = (arn: string) => arn.split(':').slice(0, 7).join(':');
const sameFunction = (a: string, b: string) => unqualified(a) === unqualified(b);

/** The mapping as Lambda's API answers (EventSourceMappingConfiguration). */
export function mappingToWire(m: Mapping, region: string): Record<string, unknown> {
  return {
    UUID: m.uuid,
    EventSourceMappingArn: `arn:aws:lambda:${region}:${m.accountId}:event-source-mapping:${m.uuid}`,
    BatchSize: m.batchSize,
    MaximumBatchingWindowInSeconds: m.maximumBatchingWindowInSeconds,
    ...(m.source.kind === 'sqs' && { EventSourceArn: m.source.queueArn }),
    ...(m.source.kind === 'redis' && {
      SelfManagedEventSource: { Endpoints: { REDIS_URLS: m.source.urls } },
      Topics: [m.source.stream],
      StartingPosition: m.startingPosition ?? 'TRIM_HORIZON',
    }),
    ...(m.functionArn !== null && { FunctionArn: m.functionArn }),
    LastModified: m.lastModified / 1000,
    LastProcessingResult: m.lastProcessingResult,
    State: m.state,
    StateTransitionReason: m.stateTransitionReason,
    FunctionResponseTypes: m.reportBatchItemFailures ? ['ReportBatchItemFailures'] : [],
    ...(m.maximumConcurrency !== null && { ScalingConfig: { MaximumConcurrency: m.maximumConcurrency } }),
    ...(m.maximumRetryAttempts !== null && { MaximumRetryAttempts: m.maximumRetryAttempts }),
  };
}
