// A raw HTTP load client shared by every bench target, so Kindling and the floors are driven alike.
import http from 'node:http';

export interface Target {
  port: number;
  path: string;
  /** Headers for each request (Kindling's carry a precomputed SigV4 signature). */
  headers: Record<string, string>;
  body: Buffer;
}

export interface LatencyStats {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  mean: number;
  min: number;
  max: number;
}

export function stats(samples: number[]): LatencyStats {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN;
  const sum = s.reduce((a, b) => a + b, 0);
  const r = (x: number) => Math.round(x * 1000) / 1000;
  return {
    n: s.length,
    p50: r(at(0.5)),
    p90: r(at(0.9)),
    p99: r(at(0.99)),
    mean: r(sum / s.length),
    min: r(s[0] ?? 0),
    max: r(s[s.length - 1] ?? 0),
  };
}

/** One request; resolves with the status, body and latency in ms. */
export function request(
  agent: http.Agent,
  t: Target,
  method = 'POST',
): Promise<{ status: number; body: Buffer; ms: number; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const req = http.request(
      {
        host: '127.0.0.1',
        port: t.port,
        path: t.path,
        method,
        agent,
        headers: { ...t.headers, 'content-length': t.body.length },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks),
            ms: Number(process.hrtime.bigint() - start) / 1e6,
            headers: res.headers,
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(t.body);
  });
}

/** Sequential requests at concurrency 1 after a warm-up; every answer must be 2xx. */
export async function latency(t: Target, n: number, warmup = 200): Promise<LatencyStats> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const samples: number[] = [];
  for (let i = 0; i < warmup + n; i++) {
    const r = await request(agent, t);
    if (r.status >= 300) throw new Error(`status ${r.status}: ${r.body.toString().slice(0, 300)}`);
    if (i >= warmup) samples.push(r.ms);
  }
  agent.destroy();
  return stats(samples);
}

/**
 * `concurrency` requests at once, before a clock starts: every connection of `agent` and, for Kindling,
 * as many environments are warm.
 */
export async function warmUp(t: Target, concurrency: number, agent?: http.Agent): Promise<void> {
  const a = agent ?? new http.Agent({ keepAlive: true, maxSockets: concurrency });
  await Promise.all(Array.from({ length: concurrency }, () => request(a, t)));
  if (agent === undefined) a.destroy();
}

/** Closed-loop load at `concurrency` for `seconds`; answers per second and latency. */
export async function throughput(
  t: Target,
  concurrency: number,
  seconds: number,
): Promise<{ rps: number; requests: number; errors: number; latency: LatencyStats }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const samples: number[] = [];
  let errors = 0;
  await warmUp(t, concurrency, agent);
  const end = Date.now() + seconds * 1000;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < end) {
        const r = await request(agent, t);
        if (r.status >= 300) errors++;
        samples.push(r.ms);
      }
    }),
  );
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  agent.destroy();
  return {
    rps: Math.round(samples.length / elapsed),
    requests: samples.length,
    errors,
    latency: stats(samples),
  };
}
