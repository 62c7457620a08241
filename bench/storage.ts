// Encrypted, deduplicated storage (issue 13 item 3): PUT and GET throughput of a 100 MB object through the
// S3 API with the block layer (KINDLING_STORAGE=sealed, the default) against the plain store
// (KINDLING_STORAGE=plain) in the same run, each on its own server, in alternation; and the physical bytes
// a second tenant's upload of the same 100 MB adds (on disk: the blocks and manifests).
import { createHmac, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { ALGORITHM, canonicalRequest, signingKey, stringToSign } from '../src/api/sigv4.js';
import { readCredentialsFile } from '../src/server/data-dir.js';
import { type KindlingClient, kindlingClient, type Proc, startProcess, stop } from './run.js';

type Creds = { accessKeyId: string; secretAccessKey: string };
const MB = 1024 * 1024;

function s3Headers(
  endpoint: string,
  creds: Creds,
  method: string,
  p: string,
  extra: Record<string, string>,
): Record<string, string> {
  const url = new URL(p, endpoint);
  const amzDate = new Date().toISOString().replace(/[-:]|\.\d{3}/g, '');
  const scope = `${amzDate.slice(0, 8)}/us-east-1/s3/aws4_request`;
  const h: Record<string, string> = {
    ...extra,
    host: url.host,
    'x-amz-date': amzDate,
    'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
  };
  const signed = Object.keys(h).sort();
  const canonical = canonicalRequest({
    method,
    rawPath: url.pathname,
    rawQuery: '',
    headers: h,
    signedHeaders: signed,
    payloadHash: 'UNSIGNED-PAYLOAD',
    service: 's3',
  });
  const sig = createHmac('sha256', signingKey(creds.secretAccessKey, amzDate.slice(0, 8), 'us-east-1', 's3'))
    .update(stringToSign(amzDate, scope, canonical))
    .digest('hex');
  h.authorization = `${ALGORITHM} Credential=${creds.accessKeyId}/${scope}, SignedHeaders=${signed.join(';')}, Signature=${sig}`;
  return h;
}

/** One S3 request; the body is sent in 1 MB writes (as a client streams a file); answers status and ms. */
function s3(
  k: { endpoint: string; creds: Creds },
  method: string,
  p: string,
  body?: Buffer,
): Promise<{ status: number; ms: number; bytes: number; text: string }> {
  const headers = s3Headers(k.endpoint, k.creds, method, p, { 'content-length': String(body?.length ?? 0) });
  const t = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = http.request(`${k.endpoint}${p}`, { method, headers }, (res) => {
      let bytes = 0;
      let text = '';
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        if (text.length < 2000) text += c.toString('latin1', 0, Math.min(c.length, 2000));
      });
      res.on('end', () =>
        resolve({ status: res.statusCode!, ms: Number(process.hrtime.bigint() - t) / 1e6, bytes, text }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body) {
      let at = 0;
      const write = () => {
        while (at < body.length) {
          const ok = req.write(body.subarray(at, at + MB));
          at += MB;
          if (!ok) return void req.once('drain', write);
        }
        req.end();
      };
      write();
    } else req.end();
  });
}

/** CPU time (ms) the process has used so far, all its threads, user and system: from /proc on Linux. */
function cpuMs(pid: number): { user: number; all: number } {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    const [user, sys] = [Number(rest[11]) * 10, Number(rest[12]) * 10]; // utime, stime: USER_HZ (100)
    return { user, all: user + sys };
  } catch {
    return { user: Number.NaN, all: Number.NaN };
  }
}

/** Bytes of the regular files under `dir` (what the data dir holds for bodies). */
function duBytes(dir: string): number {
  if (!fs.existsSync(dir)) return 0;
  let n = 0;
  for (const e of fs.readdirSync(dir, { recursive: true, withFileTypes: true }))
    if (e.isFile()) n += fs.statSync(path.join(e.parentPath, e.name)).size;
  return n;
}

interface Server {
  proc: Proc;
  k: KindlingClient;
  dataDir: string;
}

async function startServer(repo: string, mode: 'sealed' | 'plain'): Promise<Server> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `kindling-bench-storage-${mode}-`));
  const proc = await startProcess(
    [path.join(repo, 'bin/kindling.js'), 'serve', '--port', '0', '--data-dir', dataDir],
    { KINDLING_STORAGE: mode },
  );
  const k = kindlingClient(proc.port, readCredentialsFile(path.join(dataDir, 'credentials'))!);
  const r = await s3(k, 'PUT', '/bench-storage');
  if (r.status !== 200) throw new Error(`CreateBucket: ${r.status} ${r.text}`);
  return { proc, k, dataDir };
}

/** A fresh 100 MB body whose every 1 MB block differs from every other run's (no dedup between runs). */
function bodyFor(base: Buffer, run: number): Buffer {
  const b = Buffer.from(base);
  for (let i = 0; i < b.length; i += MB) b.writeUInt32BE(run, i);
  return b;
}

export async function storageFigures(opts: { quick: boolean; repo: string }) {
  const size = (opts.quick ? 20 : 100) * MB;
  const runs = opts.quick ? 2 : 4;
  const rows: [string, string, string?][] = [];
  const base = randomBytes(size);
  const servers = {
    plain: await startServer(opts.repo, 'plain'),
    sealed: await startServer(opts.repo, 'sealed'),
  };
  const put: Record<'plain' | 'sealed', number[]> = { plain: [], sealed: [] };
  const get: Record<'plain' | 'sealed', number[]> = { plain: [], sealed: [] };
  // The server's CPU per MB: on a shared machine wall-clock ratios drift, CPU time much less.
  type Cpu = { user: number; all: number };
  const putCpu: Record<'plain' | 'sealed', Cpu[]> = { plain: [], sealed: [] };
  const getCpu: Record<'plain' | 'sealed', Cpu[]> = { plain: [], sealed: [] };
  const perMB = (a: Cpu, b: Cpu): Cpu => ({
    user: (b.user - a.user) / (size / MB),
    all: (b.all - a.all) / (size / MB),
  });
  try {
    for (let run = 0; run < runs; run++) {
      const body = bodyFor(base, run);
      // Alternated, so drift on a shared machine hits both the same.
      for (const mode of run % 2 === 0 ? (['plain', 'sealed'] as const) : (['sealed', 'plain'] as const)) {
        const { k, proc } = servers[mode];
        const pid = proc.child.pid!;
        const c0 = cpuMs(pid);
        const p = await s3(k, 'PUT', `/bench-storage/obj-${run}`, body);
        if (p.status !== 200) throw new Error(`PUT (${mode}): ${p.status} ${p.text}`);
        const c1 = cpuMs(pid);
        const g = await s3(k, 'GET', `/bench-storage/obj-${run}`);
        const c2 = cpuMs(pid);
        putCpu[mode].push(perMB(c0, c1));
        getCpu[mode].push(perMB(c1, c2));
        if (g.status !== 200 || g.bytes !== size)
          throw new Error(`GET (${mode}): ${g.status}, ${g.bytes} bytes`);
        put[mode].push(size / MB / (p.ms / 1000));
        get[mode].push(size / MB / (g.ms / 1000));
      }
    }
    // The second tenant's upload of a body the first stored: physical bytes on disk before and after.
    const sealed = servers.sealed;
    const tenant = await sealed.k.call('POST', '/kindling/v1/tenants', { name: 'bench-b' }, 'kindling');
    if (tenant.status !== 201) throw new Error(`CreateTenant: ${tenant.status}`);
    const b = { endpoint: sealed.k.endpoint, creds: tenant.json.accessKey as Creds };
    if ((await s3(b, 'PUT', '/bench-storage-b')).status !== 200) throw new Error('CreateBucket (tenant b)');
    const physical = () =>
      duBytes(path.join(sealed.dataDir, 'blocks')) + duBytes(path.join(sealed.dataDir, 'objects'));
    const before = physical();
    const second = await s3(b, 'PUT', '/bench-storage-b/copy', bodyFor(base, 0));
    if (second.status !== 200) throw new Error(`PUT (tenant b): ${second.status} ${second.text}`);
    const extra = physical() - before;
    const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
    const cpuFigures = (c: Record<'plain' | 'sealed', Cpu[]>) => ({
      plain: median(c.plain.map((x) => x.all)),
      sealed: median(c.sealed.map((x) => x.all)),
      plainUser: median(c.plain.map((x) => x.user)),
      sealedUser: median(c.sealed.map((x) => x.user)),
    });
    const figures = {
      sizeMB: size / MB,
      putMBps: { plain: median(put.plain), sealed: median(put.sealed) },
      getMBps: { plain: median(get.plain), sealed: median(get.sealed) },
      putCpuMsPerMB: cpuFigures(putCpu),
      getCpuMsPerMB: cpuFigures(getCpu),
      secondUpload: { extraBytes: extra, ofSize: extra / size, putMBps: size / MB / (second.ms / 1000) },
    };
    const ratio = (x: { plain: number; sealed: number }) => (x.sealed / x.plain).toFixed(2);
    rows.push(
      [
        `storage:      PUT ${size / MB} MB plain / sealed (MB/s)`,
        `${figures.putMBps.plain.toFixed(0)} / ${figures.putMBps.sealed.toFixed(0)}`,
        `ratio ${ratio(figures.putMBps)}x (target >= 0.7x); median of ${runs}`,
      ],
      [
        `storage:      GET ${size / MB} MB plain / sealed (MB/s)`,
        `${figures.getMBps.plain.toFixed(0)} / ${figures.getMBps.sealed.toFixed(0)}`,
        `ratio ${ratio(figures.getMBps)}x (target >= 0.7x); median of ${runs}`,
      ],
      ...(['PUT', 'GET'] as const).map((op): [string, string, string] => {
        const c = op === 'PUT' ? figures.putCpuMsPerMB : figures.getCpuMsPerMB;
        return [
          `storage:      server CPU per MB, ${op} plain / sealed (ms)`,
          `${c.plain.toFixed(2)} / ${c.sealed.toFixed(2)}`,
          `sealed ${(c.sealed / c.plain).toFixed(2)}x; user time alone ${c.plainUser.toFixed(2)} / ${c.sealedUser.toFixed(2)}; median of ${runs}`,
        ];
      }),
      [
        `storage:      same ${size / MB} MB by another tenant: extra physical bytes`,
        String(extra),
        `${((100 * extra) / size).toFixed(3)}% of the body (target < 1%); that PUT at ${figures.secondUpload.putMBps.toFixed(0)} MB/s`,
      ],
    );
    return { ...figures, rows };
  } finally {
    for (const s of Object.values(servers)) {
      await stop(s.proc);
      fs.rmSync(s.dataDir, { recursive: true, force: true });
    }
  }
}
