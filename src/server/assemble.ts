// The composition root: every component of a running platform, constructed here with explicit
// arguments in dependency order (store -> control -> worker -> telemetry -> invoke -> events -> API
// surfaces), and the order they start in (they stop in reverse). Nothing else wires components together:
// no component looks another up by name or is handed one after construction.

import { createRequire } from 'node:module';
import path from 'node:path';
import { AdminSurface } from '../api/admin/surface.js';
import { ConsoleSurface } from '../api/console/surface.js';
import { EfsSurface } from '../api/efs/surface.js';
import { EventBridgeSurface } from '../api/eventbridge/surface.js';
import { FunctionUrlSurface } from '../api/function-url/surface.js';
import { CodeUrlSigner } from '../api/lambda/code-download.js';
import type { LambdaApiDeps } from '../api/lambda/deps.js';
import { eventInvokeConfigRoutes } from '../api/lambda/event-invoke-config.js';
import { eventSourceMappingRoutes } from '../api/lambda/event-source-mappings.js';
import { functionUrlRoutes } from '../api/lambda/function-urls.js';
import { layerRoutes } from '../api/lambda/layers.js';
import { policyRoutes } from '../api/lambda/policy.js';
import { provisionedConcurrencyRoutes } from '../api/lambda/provisioned-concurrency.js';
import { createLambdaRoutes, LambdaSurface } from '../api/lambda/surface.js';
import { versionRoutes } from '../api/lambda/versions.js';
import { LogsSurface } from '../api/logs/surface.js';
import { canonicalId } from '../api/s3/acl.js';
import { S3Surface } from '../api/s3/surface.js';
import { OutputRoutes } from '../api/s3-object-lambda/output-routes.js';
import { ObjectLambdaSurface } from '../api/s3-object-lambda/surface.js';
import { S3ControlSurface } from '../api/s3control/surface.js';
import { SchedulerSurface } from '../api/scheduler/surface.js';
import { SqsSurface } from '../api/sqs/surface.js';
import { StsSurface } from '../api/sts/surface.js';
import type { ApiSurface } from '../api/surface.js';
import { ClusterNode } from '../cluster/cluster-node.js';
import { SlotGrants, withClusterSlots } from '../cluster/cluster-slots.js';
import { InvokeRouter } from '../cluster/router.js';
import type { PlatformConfig } from '../config.js';
import { parseFunctionArn } from '../control/arn.js';
import { CodeStore } from '../control/code-store.js';
import { FunctionPolicyStore } from '../control/function-policies.js';
import { FunctionUrlStore } from '../control/function-urls.js';
import { FunctionStore } from '../control/functions.js';
import { LayerStore } from '../control/layers.js';
import { ProvisionedConcurrencyStore } from '../control/provisioned-concurrency.js';
import { TenantStore } from '../control/tenants.js';
import { VersionStore } from '../control/versions.js';
import { VolumeService } from '../control/volume-service.js';
import { VolumeStore } from '../control/volumes.js';
import { EventBus } from '../events/bus/event-bus.js';
import { functionDirectory } from '../events/mappings/function-directory.js';
import { MappingStore } from '../events/mappings/mapping-repo.js';
import { MappingService } from '../events/mappings/mapping-service.js';
import { PollerManager } from '../events/mappings/poller-manager.js';
import { BucketNotifications } from '../events/notifications/notifications.js';
import { AccessPointStore } from '../events/object-lambda/access-points.js';
import { LifecycleSweeper } from '../events/objects/lifecycle.js';
import { ObjectStore } from '../events/objects/store.js';
import { createQueueEngine } from '../events/queue/index.js';
import type { QueueEngine } from '../events/queue/types.js';
import { CheckpointStore } from '../events/rpc/checkpoint-repo.js';
import { RpcProcessor } from '../events/rpc/rpc-processor.js';
import { ScheduleStore } from '../events/schedules/schedule-repo.js';
import { ScheduleService } from '../events/schedules/schedule-service.js';
import { Scheduler } from '../events/schedules/scheduler.js';
import { AsyncDispatcher } from '../invoke/async-dispatcher.js';
import { AsyncEventStore } from '../invoke/async-queue.js';
import { EventInvokeConfigStore } from '../invoke/event-invoke-config.js';
import { InvocationService } from '../invoke/invocation-service.js';
import { composeInvoker, type FunctionInvoker } from '../invoke/invoker.js';
import { ProvisionedWarmer } from '../invoke/provisioned-concurrency.js';
import { openBlobStores } from '../store/blobs/location.js';
import { Storage } from '../store/blocks/storage.js';
import type { Sql } from '../store/sql.js';
import { VolumeDisks } from '../store/volumes/volume-disks.js';
import { Telemetry } from '../telemetry/telemetry.js';
import { WorkerManager } from '../worker/worker-manager.js';
import { readCodeObject } from './code-from-s3.js';
import { type DataPaths, ensureRootTenant, type RootCredentials, restrictDatabaseFiles } from './data-dir.js';

/** Lanes per event source mapping when ScalingConfig.MaximumConcurrency is not set. */
const DEFAULT_MAPPING_CONCURRENCY = 8;
/** Finished RPC checkpoints past any queue's retention are dropped this often. */
const PRUNE_CHECKPOINTS_EVERY_MS = 60 * 60_000;
/** Blocks of deleted bodies on one node are reclaimed this often (and at every start). */
const SWEEP_BLOCKS_EVERY_MS = 10 * 60_000;
/** Orphaned blobs in a shared blob store are looked for this often (and at every start). */
const SWEEP_SHARED_BLOBS_EVERY_MS = 60 * 60_000;

/** Everything the root built, by role (the CLI and tests reach components here). */
export interface Components {
  /** The durable store every repository writes through. */
  sql: Sql;
  tenants: TenantStore;
  root: RootCredentials;
  code: CodeStore;
  /** The encrypted, deduplicated blocks under code and objects (its sweep and figures). */
  storage: Storage;
  functions: FunctionStore;
  queues: QueueEngine;
  worker: WorkerManager;
  telemetry: Telemetry;
  /** The sync path: resolve, run, observers. */
  invocations: InvocationService;
  /** Sync and async invocation behind one object: what the API and events/ invoke through. */
  invoker: FunctionInvoker;
  async: { events: AsyncEventStore; configs: EventInvokeConfigStore; dispatcher: AsyncDispatcher };
  schedules: { store: ScheduleStore; scheduler: Scheduler; service: ScheduleService };
  mappings: {
    store: MappingStore;
    mappings: MappingService;
    pollers: PollerManager;
    checkpoints: CheckpointStore;
    rpc: RpcProcessor;
  };
  objects: { store: ObjectStore; notifications: BucketNotifications; lifecycle: LifecycleSweeper };
  /** Shared volumes: file systems, access points and their disks. */
  volumes: VolumeService;
  /** This node's membership of the cluster and the placement of sync invokes across it. */
  cluster: { node: ClusterNode; router: InvokeRouter };
}

/** A component with a running life: started in list order, stopped in reverse. */
export interface Service {
  readonly name: string;
  start?(): Promise<void> | void;
  /** Stop accepting work; finish or hand back what is running before the deadline. */
  stop?(deadlineMs: number): Promise<void> | void;
}

export interface Assembly {
  components: Components;
  /** In matching order: the S3 surface (path-style, any first segment) comes last. */
  surfaces: ApiSurface[];
  services: Service[];
}

export interface AssembleOptions {
  config: PlatformConfig;
  paths: DataPaths;
  /** The store, opened by the caller (opening PostgreSQL is async and may fail before anything is built). */
  sql: Sql;
  /** The API's TCP port once listening: sandboxes reach the API on it. */
  apiPort: Promise<number>;
  /** Another node or the admin API asked this node to drain (the platform finishes its work and leaves). */
  onDrainRequested?: () => void;
}

export async function assemble({
  config,
  paths,
  sql,
  apiPort,
  onDrainRequested,
}: AssembleOptions): Promise<Assembly> {
  const region = config.region;
  const log = (m: string) => console.error(m);

  // Store and control plane.
  if (sql.dialect === 'sqlite') restrictDatabaseFiles(paths);
  const tenants = await TenantStore.open(sql);
  const root = await ensureRootTenant(tenants, paths.credentials);
  // Code zips and object bodies: in the data dir, or where every node reaches them (--blobs).
  const rawBlobs = openBlobStores(config.blobsLocation, {
    codeBlobs: paths.blobs,
    objects: paths.objects,
    blocks: paths.blocks,
    spool: path.join(config.dataDir, 'spool'),
  });
  // Both as manifests over one pool of encrypted, deduplicated blocks (store/blocks/).
  const storage = await Storage.open({
    raw: rawBlobs,
    settings: config.storage,
    dataDir: config.dataDir,
    sql,
  });
  const blobs = { code: storage.code, objects: storage.objects, shared: rawBlobs.shared };
  const code = new CodeStore({
    blobs: blobs.code,
    shared: blobs.shared,
    graceMs: config.blobGraceMs,
    cacheDir: paths.codeCache,
  });
  const functions = await FunctionStore.open({ sql, code, region });
  const versions = await VersionStore.open(sql, functions);
  const provisionedStore = await ProvisionedConcurrencyStore.open(sql);
  const layers = new LayerStore({ sql, code, region });
  /** Digests the code store keeps: functions' code and layers (versions, and those functions still use). */
  const liveDigests = async () => {
    const live = await functions.referencedDigests();
    for (const d of await layers.referencedDigests()) live.add(d);
    return live;
  };
  tenants.onDelete((tenant) => functions.deleteAll(tenant));
  // Shared volumes (EFS-compatible): rows in the store, disks in the data dir.
  const volumes = new VolumeService(new VolumeStore(sql), new VolumeDisks(paths.volumes));
  tenants.onDelete((tenant) => volumes.deleteAll(tenant));
  // The embedded SQS engine: destinations, DLQs and pollers use it, besides its own API.
  const queues = createQueueEngine(sql, { region });

  // Execution.
  const worker = new WorkerManager({
    config,
    apiSocketPath: paths.apiSocket,
    apiPort,
    envRoot: paths.envs,
    runtimeCacheDir: paths.runtime,
  });
  // The cluster: every store keeps a node registry (`kindling nodes`); only PostgreSQL has other nodes to
  // forward to and a database ledger of concurrency slots.
  const clustered = sql.dialect === 'postgres';
  const clusterNode = new ClusterNode({
    sql,
    nodeId: config.nodeId,
    leaseMs: config.leaseMs,
    worker,
    onDrainRequested: () => onDrainRequested?.(),
    log,
  });
  const router = new InvokeRouter({ node: clusterNode, worker, forwarding: clustered });
  const slotGrants = clustered
    ? new SlotGrants({
        repo: clusterNode.repo,
        nodeId: config.nodeId,
        config,
        // Refreshed on every heartbeat (leaseMs/3): good to well within the lease.
        storeNow: () => clusterNode.storeNow(),
      })
    : undefined;
  const admitted =
    slotGrants !== undefined
      ? withClusterSlots(worker, slotGrants, { afterInvoke: () => clusterNode.touch() })
      : worker;
  const telemetry = new Telemetry(sql, {
    workerStats: () => worker.stats(),
    tenantName: (id) => tenants.nameOf(id),
    volumes: () => volumes.gauges(),
  });

  // Invocation: the sync service, the durable async queue over it, and the invoker joining the two.
  const invocations = new InvocationService({
    config,
    tenants,
    functions,
    versions,
    worker: admitted,
    observers: [telemetry],
    volumes,
  });
  const asyncEvents = new AsyncEventStore(sql);
  const asyncConfigs = new EventInvokeConfigStore(sql);
  const dispatcher = new AsyncDispatcher({
    config,
    sql,
    store: asyncEvents,
    configs: asyncConfigs,
    tenants,
    functions,
    service: {
      resolve: (tenant, ref, qualifier) => invocations.resolve(tenant, ref, qualifier),
      run: (tenant, rec, payload, opts) => invocations.run(tenant, rec, payload, opts),
    },
    queues,
  });
  functions.onChange((change) => {
    // A change made through another node: that node already deleted the function's configs. Best effort: a
    // failure is logged (configs of a deleted function are unreachable anyway).
    if (change.kind === 'deleted' && !change.remote)
      void asyncConfigs
        .deleteAll(change.record.tenantId, change.record.arn)
        .catch((e) => log(`kindling: async: dropping event-invoke configs failed: ${String(e)}`));
    else if (
      change.kind === 'updated' &&
      change.record.reservedConcurrency !== change.previous.reservedConcurrency
    ) {
      void dispatcher
        .functionChanged(change.record.tenantId, change.record.arn)
        .catch((e) => log(`kindling: async: releasing throttled events failed: ${String(e)}`));
    }
  });
  const invoker = composeInvoker(invocations, dispatcher);

  // Events: schedules fire through the async queue; mappings poll queues and streams; bucket
  // notifications queue S3 events for async invocation.
  const scheduleStore = new ScheduleStore(sql);
  const scheduler = new Scheduler({
    store: scheduleStore,
    region,
    tenants,
    leaseMs: config.leaseMs,
    resolveFunction: (tenant, arn) => invocations.resolve(tenant, arn),
    // Stored before the tick is marked fired: a node killed in between leaves the tick claimed, and the
    // node that takes it over stores the same request id again, which the async store refuses as a duplicate.
    accept: (tenant, rec, payload, opts) => dispatcher.accept(tenant, rec, payload, opts),
  });
  // The EventBridge Scheduler API's schedules: rows the same timer fires.
  const scheduleService = new ScheduleService({
    store: scheduleStore,
    region,
    resolveFunction: (tenant, arn) => invocations.resolve(tenant, arn),
    changed: () => scheduler.changed(),
  });
  // PutEvents: matched events are stored as async invocations in the call's own transaction.
  const eventBus = new EventBus({
    store: scheduleStore,
    region,
    resolveFunction: (tenant, arn) => invocations.resolve(tenant, arn),
    accept: (tenant, rec, payload, opts, q) => dispatcher.accept(tenant, rec, payload, opts, 0, q),
  });
  const mappingStore = new MappingStore(sql);
  const checkpoints = new CheckpointStore(sql);
  const directory = functionDirectory(invoker);
  const rpc = new RpcProcessor({ invoker, functions: directory, checkpoints });
  const pollers = new PollerManager({
    store: mappingStore,
    queues,
    invoker,
    functions: directory,
    tenants,
    rpc,
    region,
    defaultConcurrency: Math.min(DEFAULT_MAPPING_CONCURRENCY, config.tenantConcurrency),
    nodeId: config.nodeId,
    leaseMs: config.leaseMs,
    // SQLite serves one node by construction.
    soleNode: sql.dialect === 'sqlite',
  });
  const mappings = new MappingService({
    store: mappingStore,
    manager: pollers,
    queues,
    functions: directory,
    region,
  });
  const notifications = new BucketNotifications({
    sql,
    nodeId: config.nodeId,
    leaseMs: config.leaseMs,
    tenants,
    region,
    invoker,
    functionExists: async (tenant, arn) => {
      const name = parseFunctionArn(arn)?.name;
      return name ? (await functions.get(tenant.id, name)) !== undefined : undefined;
    },
    queues,
    retryBaseMs: config.retryBaseMs,
    log,
  });
  const objects = new ObjectStore({
    sql,
    blobs: blobs.objects,
    shared: blobs.shared,
    graceMs: config.blobGraceMs,
    hooks: {
      onChange: (change, q) => notifications.record(change, q),
      onBucketDeleted: (bucket, q) => notifications.bucketDeleted(bucket, q),
      afterCommit: () => notifications.changed(),
    },
  });

  // Lifecycle rules applied now and then, by one node at a time (a lease in the store).
  const lifecycle = new LifecycleSweeper({ store: objects, nodeId: config.nodeId, log });

  // S3 access points, and Object Lambda's functions on the store's read path.
  const accessPoints = new AccessPointStore(sql);

  // API surfaces. The Lambda surface holds the function, invoke, event-invoke-config and mapping routes.
  // Resource policies: bound to functions' ids (a function made again under a name starts with none).
  const policies = new FunctionPolicyStore(sql);
  const lambdaDeps: LambdaApiDeps = {
    config,
    tenants,
    policies,
    functions,
    invoker,
    versions,
    codeUrls: new CodeUrlSigner(),
    codeFromS3: (tenant, bucket, key, maxBytes) => readCodeObject(objects, tenant, bucket, key, maxBytes),
    cluster: router,
    layers,
    volumes,
  };
  const lambdaRoutes = createLambdaRoutes(lambdaDeps);
  lambdaRoutes.add(
    ...eventInvokeConfigRoutes({
      resolve: (tenant, ref, qualifier) => invocations.resolve(tenant, ref, qualifier),
      configs: asyncConfigs,
      events: asyncEvents,
      checkDestination: (tenant, arn) => dispatcher.checkDestination(tenant, arn),
    }),
  );
  lambdaRoutes.add(...eventSourceMappingRoutes(lambdaDeps, mappings));
  lambdaRoutes.add(...layerRoutes({ layers, codeFromS3: lambdaDeps.codeFromS3 }));
  lambdaRoutes.add(...versionRoutes(lambdaDeps, versions));
  const provisioned = new ProvisionedWarmer({ store: provisionedStore, tenants, service: invocations });
  lambdaRoutes.add(...provisionedConcurrencyRoutes(lambdaDeps, provisioned));
  const functionUrls = new FunctionUrlStore(sql);
  lambdaRoutes.add(
    ...policyRoutes({
      resolve: (tenant, ref, qualifier) => invocations.resolve(tenant, ref, qualifier),
      policies,
    }),
  );
  lambdaRoutes.add(
    ...functionUrlRoutes({
      resolve: (tenant, ref, qualifier) => invocations.resolve(tenant, ref, qualifier),
      urls: functionUrls,
    }),
  );
  // A deleted function's URLs go with it (where it was deleted; a URL is bound to the function's id, so
  // one left behind by a failure serves nothing).
  functions.onChange((change) => {
    if (change.kind === 'deleted' && !change.remote) {
      void functionUrls
        .deleteFunction(change.record.id)
        .catch((e) => log(`kindling: dropping function URLs failed: ${String(e)}`));
      void policies
        .removeFunction(change.record.id)
        .catch((e) => log(`kindling: dropping a function's policy failed: ${String(e)}`));
    }
  });
  const surfaces: ApiSurface[] = [
    // Plain HTTP to function URLs (`/lambda-url/<id>/...`): authenticated per URL, not by the edge.
    new FunctionUrlSurface({
      urls: functionUrls,
      tenant: (id) => tenants.get(id),
      resolveKey: (id) => tenants.resolveKey(id),
      granted: (functionId, account) =>
        policies.allows(functionId, account, 'lambda:InvokeFunctionUrl', 'AWS_IAM'),
      resolve: (tenant, name, qualifier) => invocations.resolve(tenant, name, qualifier),
      execute: (tenant, rec, payload, requestId, stream) =>
        invocations.execute(
          tenant,
          rec,
          payload,
          stream === undefined ? { requestId } : { requestId, stream },
        ),
    }),
    // The web console (`/console`): its own sessions, reading the services in-process for one tenant.
    new ConsoleSurface({
      resolveKey: (id) => tenants.resolveKey(id),
      functions,
      resolve: (tenant, ref) => invocations.resolve(tenant, ref),
      execute: (tenant, rec, payload) => invocations.execute(tenant, rec, payload),
      urls: functionUrls,
      telemetry,
      queues,
      objects,
      environments: () => worker.environments(),
      workerStats: () => worker.stats(),
      versions: async (_tenant, rec) => ({
        versions: (await versions.list(rec, { maxItems: 50 })).versions.map((v) => ({
          version: v.version,
          description: v.description,
          codeSha256: v.codeSha256,
          lastModified: v.lastModified,
        })),
        aliases: (await versions.listAliases(rec, { maxItems: 50 })).aliases.map((a) => ({
          name: a.name,
          functionVersion: a.functionVersion,
          description: a.description,
          additionalVersionWeights: a.weights,
        })),
      }),
    }),
    // Telemetry's tenants, pool and metrics API owns /kindling/* and /metrics.
    new AdminSurface({
      tenants,
      telemetry,
      pool: worker,
      prewarm: (tenant, name, count, forMs) => invocations.prewarm(tenant, name, count, forMs),
      nodes: clusterNode,
      storage: {
        figures: () => storage.figures(),
        mode: config.storage.mode,
        redundancy: config.storage.redundancy,
      },
      ...(config.metricsToken !== undefined && { metricsToken: config.metricsToken }),
      version: packageVersion(),
    }),
    new SqsSurface(queues),
    new LambdaSurface(lambdaRoutes),
    new EventBridgeSurface(scheduler, eventBus),
    new SchedulerSurface(scheduleService),
    new LogsSurface({ telemetry, region }),
    new StsSurface(),
    new ObjectLambdaSurface({
      accessPoints,
      routes: new OutputRoutes(),
      secretOf: async (id) => (await tenants.resolveKey(id))?.key,
      resolve: (tenant, arn) => invocations.resolve(tenant, arn),
      execute: (tenant, rec, payload) => invocations.execute(tenant, rec, payload),
      apiPort,
      region,
    }),
    // S3 Control (signed for s3, under /v20180820/): before path-style S3.
    new S3ControlSurface({ accessPoints, objects, region }),
    new EfsSurface(volumes, region),
    // Path-style S3 matches any first segment: last.
    new S3Surface({
      store: objects,
      notifications,
      region,
      virtualHostDomains: config.s3Domains,
      resolveKey: (id) => tenants.resolveKey(id),
      accessPointAlias: async (tenantId, alias) => {
        const ap = await accessPoints.byAlias(alias);
        return ap?.tenantId === tenantId ? ap.bucket : undefined;
      },
      // Tenants are few and ACL or policy writes rare: a scan is enough.
      isCanonicalUser: async (id) => (await tenants.list()).some((t) => canonicalId(t.id) === id),
      isAccount: async (account) => (await tenants.byAccountId(account)) !== undefined,
      accountTenant: async (account) => (await tenants.byAccountId(account))?.id,
    }),
  ];

  // Start order; stop runs in reverse: event sources stop first, then the async queue, then the worker
  // drains, and telemetry flushes last (after the running invocations were reported).
  let pruner: NodeJS.Timeout | undefined;
  let sweeper: NodeJS.Timeout | undefined;
  const services: Service[] = [
    // Closed last: requests in flight and draining invocations may still read blobs.
    {
      name: 'blobs',
      async stop() {
        await blobs.code.close();
        await blobs.objects.close();
        await rawBlobs.blocks.close();
      },
    },
    // First up (its tables) and last down: the node leaves the registry once everything else stopped.
    {
      name: 'cluster',
      async start() {
        await clusterNode.migrate();
        await slotGrants?.start();
      },
      async stop() {
        router.close();
        await slotGrants?.stop();
        await clusterNode.leave();
      },
    },
    { name: 'telemetry', stop: () => telemetry.close() },
    // Its schema is in place (and a store that is not there reported) before anything serves.
    { name: 'queue', start: () => queues.ready(), stop: () => queues.close() },
    // Unmounted once the environments that mount volumes have stopped (they stop first, in reverse order).
    { name: 'volumes', start: () => volumes.start(), stop: () => volumes.disks.unmountAll() },
    {
      name: 'core',
      async start() {
        // Nothing runs yet, so code no function references can go (a kill may have left some behind).
        await code.sweep(await liveDigests());
        worker.start();
      },
      stop: (deadline) => worker.drain(deadline),
    },
    { name: 'async-invoke', start: () => dispatcher.start(), stop: (deadline) => dispatcher.stop(deadline) },
    { name: 'schedules', start: () => scheduler.start(), stop: () => scheduler.stop() },
    { name: 'provisioned-concurrency', start: () => provisioned.start(), stop: () => provisioned.stop() },
    {
      name: 'event-source-mappings',
      async start() {
        const prune = () =>
          void checkpoints
            .prune()
            .catch((e) => log(`kindling: pruning RPC checkpoints failed: ${(e as Error).message}`));
        prune();
        pruner = setInterval(prune, PRUNE_CHECKPOINTS_EVERY_MS);
        pruner.unref();
        await pollers.start();
      },
      async stop() {
        clearInterval(pruner);
        await pollers.stop();
      },
    },
    {
      name: 'objects',
      async start() {
        await notifications.migrate();
        await objects.migrate();
        await accessPoints.migrate();
        await objects.recover();
        // Blocks no manifest references (deleted objects and code, writes that died): in the background,
        // after the manifests' own sweeps above, and now and then.
        const sweepBlocks = () =>
          storage
            .sweep(config.blobGraceMs)
            .catch((e: unknown) => log(`kindling: block sweep failed: ${String(e)}`));
        void sweepBlocks();
        if (blobs.shared) {
          // Nodes come and go rarely on a cluster: orphans of writes that died with a node go now and then.
          sweeper = setInterval(() => {
            const objectsSwept = objects
              .recover()
              .catch((e: unknown) => log(`kindling: object blob sweep failed: ${String(e)}`));
            const codeSwept = liveDigests()
              .then((live) => code.sweepBlobs(live))
              .catch((e: unknown) => log(`kindling: code blob sweep failed: ${String(e)}`));
            void Promise.all([objectsSwept, codeSwept]).then(sweepBlocks);
          }, SWEEP_SHARED_BLOBS_EVERY_MS);
        } else sweeper = setInterval(sweepBlocks, SWEEP_BLOCKS_EVERY_MS);
        sweeper.unref();
        if (config.lifecycleSweepMs > 0) lifecycle.start(config.lifecycleSweepMs);
        await notifications.start();
      },
      async stop() {
        clearInterval(sweeper);
        await lifecycle.stop();
        await notifications.stop();
      },
    },
  ];

  return {
    components: {
      sql,
      tenants,
      root,
      code,
      storage,
      functions,
      queues,
      worker,
      telemetry,
      invocations,
      invoker,
      async: { events: asyncEvents, configs: asyncConfigs, dispatcher },
      schedules: { store: scheduleStore, scheduler, service: scheduleService },
      mappings: { store: mappingStore, mappings, pollers, checkpoints, rpc },
      objects: { store: objects, notifications, lifecycle },
      volumes,
      cluster: { node: clusterNode, router },
    },
    surfaces,
    services,
  };
}

function packageVersion(): string {
  try {
    return (createRequire(import.meta.url)('../../../package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}
