// Event figures for `npm run bench` (queue → function latency and throughput, async accept rate).
// Filled in once the queue engine, event source mappings and async invoke have landed.
import type { KindlingClient } from './run.js';

export interface EventFigures {
  rows: [string, string, string][];
  [k: string]: unknown;
}

export async function kindlingEventFigures(_k: KindlingClient, _opts: { quick: boolean }): Promise<EventFigures | undefined> {
  return undefined;
}
