// The telemetry platform part: owns the Telemetry observer and the admin/metrics API surface.
// assemble.ts creates it first (its surface owns /kindling/* and /metrics; it stops last, after running
// invocations were reported) and then connects it to the invocation service and the worker.
import { createRequire } from 'node:module';
import { AdminSurface, type PoolControl } from '../api/admin/surface.js';
import type { Platform, PlatformPart } from '../platform.js';
import { Telemetry } from './telemetry.js';
import type { InvocationObserver } from './types.js';

export interface TelemetryLinks {
  /** The invocation service (anything that takes observers). */
  invocations?: { addObserver(observer: InvocationObserver): void };
  /** The worker manager: pool stats and targets, concurrency gauges. */
  worker?: PoolControl;
}

export interface TelemetryPart extends PlatformPart {
  readonly telemetry: Telemetry;
  /** Subscribes to the invocation service and reads gauges from the worker; call once both exist. */
  connect(links: TelemetryLinks): void;
}

function packageVersion(): string {
  try {
    return (createRequire(import.meta.url)('../../../package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export function telemetryPart(platform: Platform): TelemetryPart {
  let worker: PoolControl | undefined;
  const telemetry = new Telemetry(platform.db, {
    workerStats: () => worker?.stats(),
    tenantName: (id) => platform.tenants.get(id)?.name,
  });
  const surface = new AdminSurface({
    tenants: platform.tenants,
    telemetry,
    pool: () => worker,
    ...(platform.config.metricsToken !== undefined && { metricsToken: platform.config.metricsToken }),
    version: packageVersion(),
  });
  return {
    name: 'telemetry',
    telemetry,
    surfaces: [surface],
    connect(links) {
      if (links.worker) worker = links.worker;
      links.invocations?.addObserver(telemetry);
    },
    stop() {
      telemetry.flush();
    },
  };
}
