// The console's pages. Each takes the route's remaining path parts and answers { node, leave? }.
import { ApiError, api, seg } from './api.js';
import { billingChart } from './chart.js';
import { fmtBytes, fmtNum, fmtTime, h, table } from './dom.js';

const LOG_POLL_MS = 1000;

const section = (title, ...body) => h('section', { class: 'card' }, h('h2', {}, title), ...body);
const pageOf = (title, sub, ...body) =>
  h('div', { class: 'page' }, h('h1', {}, title), sub ? h('p', { class: 'muted sub' }, sub) : null, ...body);
const pre = (text, cls = 'code') => h('pre', { class: cls }, text);
const link = (hash, text) => h('a', { href: hash }, text);

function defs(pairs) {
  return h(
    'dl',
    { class: 'defs' },
    pairs.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v === '' || v === null || v === undefined ? '—' : v)]),
  );
}

// ---- functions ----

async function functionList() {
  const { functions, truncated } = await api('functions');
  return pageOf(
    'Functions',
    `${functions.length}${truncated ? '+' : ''} function${functions.length === 1 ? '' : 's'}`,
    section(
      'All functions',
      table(
        ['Name', 'Runtime', 'Memory', 'Timeout', 'Code size', 'Last modified'],
        functions.map((f) => [
          link(`#/functions/${seg(f.name)}`, f.name),
          f.runtime,
          `${f.memorySize} MB`,
          `${f.timeout} s`,
          fmtBytes(f.codeSize),
          f.lastModified,
        ]),
        'No functions yet: create one with the AWS CLI, an SDK or `kindling deploy`.',
      ),
    ),
  );
}

function invokePanel(name) {
  const payload = h('textarea', { id: 'payload', rows: 6, spellcheck: 'false' }, '{\n  "hello": "world"\n}');
  const out = h('div', { id: 'invoke-result' });
  const button = h('button', { type: 'button', id: 'invoke' }, 'Invoke');
  button.addEventListener('click', async () => {
    button.disabled = true;
    out.replaceChildren(h('p', { class: 'muted' }, 'Invoking…'));
    try {
      const r = await api(`functions/${seg(name)}/invoke`, payload.value);
      const ok = r.functionError === null;
      out.replaceChildren(
        h(
          'p',
          { class: ok ? 'status ok' : 'status failed', id: 'invoke-status' },
          ok ? 'Succeeded' : `Failed (${r.functionError})`,
          ` · ${fmtNum(r.durationMs)} ms · billed ${r.billedDurationMs} ms · ${r.maxMemoryUsedMB} MB used · ${r.start} start`,
          r.initDurationMs !== null ? ` · init ${fmtNum(r.initDurationMs)} ms` : '',
        ),
        h('h3', {}, 'Response'),
        pre(r.payload, 'code response'),
        h('h3', {}, 'Log tail'),
        pre(r.logTail, 'code log'),
      );
    } catch (e) {
      out.replaceChildren(h('p', { class: 'error', role: 'alert' }, e.message));
    } finally {
      button.disabled = false;
      out.dataset.done = String(Date.now());
    }
  });
  return section(
    'Invoke',
    h('label', { for: 'payload' }, 'Event payload (JSON)'),
    payload,
    h('div', { class: 'row' }, button),
    out,
  );
}

async function functionDetail(name) {
  const d = await api(`functions/${seg(name)}`);
  const f = d.function;
  const env = Object.entries(f.environment);
  const tags = Object.entries(f.tags);
  return pageOf(
    f.name,
    f.arn,
    h(
      'div',
      { class: 'grid' },
      section(
        'Configuration',
        defs([
          ['Runtime', f.runtime],
          ['Handler', f.handler],
          ['Memory', `${f.memorySize} MB`],
          ['Timeout', `${f.timeout} s`],
          ['Ephemeral storage', `${f.ephemeralStorage} MB`],
          [
            'Reserved concurrency',
            f.reservedConcurrency === null ? 'unreserved' : String(f.reservedConcurrency),
          ],
          ['Description', f.description],
          ['Role', f.role],
          ['Dead-letter target', f.deadLetterTargetArn],
          ['Code', `${fmtBytes(f.codeSize)} · SHA-256 ${f.codeSha256}`],
          ['Revision', f.revisionId],
          ['Last modified', f.lastModified],
        ]),
      ),
      invokePanel(f.name),
    ),
    section(
      'Function URLs',
      table(
        ['URL', 'Qualifier', 'Auth', 'Mode', 'CORS origins', 'Created'],
        d.urls.map((u) => [
          h('a', { href: u.url, target: '_blank', rel: 'noopener noreferrer' }, u.url),
          u.qualifier,
          u.authType,
          u.invokeMode,
          u.cors?.AllowOrigins?.join(', ') ?? '—',
          u.creationTime,
        ]),
        'No function URL. Create one with create-function-url-config.',
      ),
    ),
    section(
      'Versions and aliases',
      table(
        ['Version', 'Code SHA-256', 'Description', 'Last modified'],
        d.versions.map((v) => [v.version, v.codeSha256, v.description ?? '', v.lastModified]),
      ),
      d.aliases.length > 0
        ? table(
            ['Alias', 'Version', 'Weighted routing', 'Description'],
            d.aliases.map((a) => [a.name, a.functionVersion, routing(a), a.description ?? '']),
          )
        : h(
            'p',
            { class: 'empty', id: 'aliases-empty' },
            d.versioning
              ? 'No aliases.'
              : 'Published versions and aliases appear here once the platform has them; this function runs $LATEST.',
          ),
    ),
    h(
      'div',
      { class: 'grid' },
      section(
        'Environment variables',
        table(
          ['Name', 'Value'],
          env.map(([k, v]) => [k, v]),
          'None.',
        ),
      ),
      section(
        'Tags',
        table(
          ['Key', 'Value'],
          tags.map(([k, v]) => [k, v]),
          'None.',
        ),
      ),
    ),
    h('p', {}, link(`#/logs/${seg(f.name)}`, 'Live logs of this function →')),
  );
}

/** `2: 90% · 1: 10%` for an alias that shifts traffic, `—` when it sends everything to one version. */
function routing(a) {
  const extra = Object.entries(a.additionalVersionWeights ?? {});
  if (extra.length === 0) return '—';
  const rest = 1 - extra.reduce((t, [, w]) => t + w, 0);
  return [[a.functionVersion, rest], ...extra].map(([v, w]) => `${v}: ${Math.round(w * 100)}%`).join(' · ');
}

// ---- live logs ----

async function logs(parts) {
  const { functions } = await api('functions');
  const name = parts[0] ?? functions[0]?.name;
  const select = h(
    'select',
    { id: 'log-function' },
    functions.map((f) => h('option', { value: f.name, selected: f.name === name }, f.name)),
  );
  select.addEventListener('change', () => {
    location.hash = `#/logs/${seg(select.value)}`;
  });
  const out = h('div', { class: 'logs', id: 'log-lines' });
  const state = h('span', { class: 'live' }, 'live');
  const node = pageOf(
    'Live logs',
    'Each invocation’s log as it is written (START, your output, END and REPORT), newest at the bottom.',
    h('div', { class: 'row' }, h('label', { for: 'log-function' }, 'Function '), select, state),
    section('Log stream', out),
  );
  if (name === undefined) {
    out.append(h('p', { class: 'empty' }, 'No functions yet.'));
    return { node };
  }
  let after;
  let timer;
  let stopped = false;
  const poll = async () => {
    try {
      const q = after === undefined ? 'limit=20' : `after=${after}&limit=200`;
      const r = await api(`functions/${seg(name)}/logs?${q}`);
      if (stopped) return;
      for (const e of r.events) {
        out.append(
          h(
            'div',
            { class: e.errorType ? 'entry failed' : 'entry' },
            h(
              'div',
              { class: 'meta' },
              `${fmtTime(e.timestamp)} · ${e.requestId} · ${e.start} · ${fmtNum(e.durationMs)} ms`,
              e.errorType ? ` · ${e.errorType}` : '',
            ),
            pre(e.log, 'code log'),
          ),
        );
      }
      if (after === undefined && r.events.length === 0)
        out.append(h('p', { class: 'empty' }, 'No invocations yet; waiting…'));
      if (r.events.length > 0) out.querySelector('.empty')?.remove();
      after = r.nextAfter;
      out.dataset.polled = String(Number(out.dataset.polled ?? 0) + 1);
      state.textContent = 'live';
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        stopped = true;
        location.reload();
        return;
      }
      state.textContent = `retrying (${e.message})`;
    }
    if (!stopped) timer = setTimeout(poll, LOG_POLL_MS);
  };
  await poll();
  return {
    node,
    leave: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

// ---- queues and buckets ----

async function queues() {
  const { queues: list, truncated } = await api('queues');
  return pageOf(
    'Queues',
    `${list.length}${truncated ? '+' : ''} queue${list.length === 1 ? '' : 's'} (SQS-compatible)`,
    section(
      'Your queues',
      table(
        ['Name', 'Type', 'Visible', 'In flight', 'Delayed', 'Created', 'ARN'],
        list.map((q) => [
          q.name,
          q.fifo ? 'FIFO' : 'Standard',
          q.visible,
          q.inFlight,
          q.delayed,
          q.createdAt,
          q.arn,
        ]),
        'No queues yet.',
      ),
    ),
  );
}

async function buckets(parts) {
  if (parts[0]) {
    const b = await api(`buckets/${seg(parts[0])}/objects`);
    return pageOf(
      b.bucket,
      `Objects${b.truncated ? ' (first 100)' : ''}`,
      h('p', {}, link('#/buckets', '← All buckets')),
      section(
        'Objects',
        table(
          ['Key', 'Size', 'Last modified'],
          b.objects.map((o) => [o.key, fmtBytes(o.size), o.lastModified]),
          'Empty bucket.',
        ),
      ),
    );
  }
  const { buckets: list } = await api('buckets');
  return pageOf(
    'Buckets',
    `${list.length} bucket${list.length === 1 ? '' : 's'} (S3-compatible)`,
    section(
      'Your buckets',
      table(
        ['Name', 'Created'],
        list.map((b) => [link(`#/buckets/${seg(b.name)}`, b.name), b.createdAt]),
        'No buckets yet.',
      ),
    ),
  );
}

// ---- environments ----

async function environments() {
  const e = await api('environments');
  const totals = e.functions.reduce(
    (t, f) => ({
      warm: t.warm + f.warmStarts,
      pool: t.pool + f.poolStarts,
      cold: t.cold + f.coldStarts,
      envs: t.envs + f.environments.bound + f.environments.busy + f.environments.other,
    }),
    { warm: 0, pool: 0, cold: 0, envs: 0 },
  );
  const all = totals.warm + totals.pool + totals.cold;
  const pct = (n) => (all === 0 ? '—' : `${Math.round((n / all) * 100)}%`);
  return pageOf(
    'Environments',
    'Your functions’ execution environments on this node, and how their invocations started since the server started.',
    h(
      'div',
      { class: 'tiles' },
      tile('Environments now', totals.envs),
      tile('Warm starts', `${totals.warm}`, pct(totals.warm)),
      tile('Pool starts', `${totals.pool}`, pct(totals.pool)),
      tile('Cold starts', `${totals.cold}`, pct(totals.cold)),
    ),
    section(
      'Per function',
      table(
        [
          'Function',
          'Idle',
          'Busy',
          'Starting',
          'Invocations',
          'Warm',
          'Pool',
          'Cold',
          'Avg init',
          'Errors',
          'Throttles',
        ],
        e.functions.map((f) => [
          link(`#/functions/${seg(f.name)}`, f.name),
          f.environments.bound,
          f.environments.busy,
          f.environments.other,
          f.invocations,
          f.warmStarts,
          f.poolStarts,
          f.coldStarts,
          f.avgInitMs === null ? '—' : `${fmtNum(f.avgInitMs, 1)} ms`,
          f.errors,
          f.throttles,
        ]),
        'No environments or invocations yet.',
      ),
    ),
    section(
      'Warming pool',
      e.pools === null
        ? h(
            'p',
            { class: 'muted' },
            'Pre-started sandboxes shared by every tenant: a “pool” start above was served by one of them. ' +
              'Their sizes are platform-wide figures, shown to the admin tenant.',
          )
        : table(
            ['Runtime', 'Ready', 'Starting', 'Target', 'Mode'],
            e.pools.map((p) => [p.runtimeKey, p.ready, p.starting, p.target, p.mode]),
            'No pools yet.',
          ),
    ),
  );
}

function tile(label, value, note) {
  return h(
    'div',
    { class: 'tile' },
    h('div', { class: 'label' }, label),
    h('div', { class: 'value' }, value),
    note ? h('div', { class: 'note' }, note) : null,
  );
}

// ---- billing ----

async function billing(parts) {
  const hours = parts[0] === '7d' ? 168 : 24;
  const b = await api(`billing?hours=${hours}`);
  const total = b.functions.reduce((t, f) => t + f.gbSeconds, 0);
  const invocations = b.functions.reduce((t, f) => t + f.invocations, 0);
  const range = h(
    'div',
    { class: 'row' },
    h('a', { href: '#/billing', class: hours === 24 ? 'pill active' : 'pill' }, 'Last 24 hours'),
    h('a', { href: '#/billing/7d', class: hours === 168 ? 'pill active' : 'pill' }, 'Last 7 days'),
  );
  return pageOf(
    'Billing',
    'Compute as Lambda bills it: memory (GB) × billed duration, in GB-seconds, per function and hour (UTC).',
    range,
    h(
      'div',
      { class: 'tiles' },
      tile('GB-seconds', fmtNum(total, 3)),
      tile('Invocations', invocations),
      tile('Functions billed', b.functions.length),
    ),
    section('GB-seconds per hour', billingChart(b.records, Date.parse(b.from), b.hours)),
    section(
      'Per function',
      table(
        ['Function', 'Invocations', 'GB-seconds', 'Share'],
        b.functions
          .sort((x, y) => y.gbSeconds - x.gbSeconds)
          .map((f) => [
            f.name,
            f.invocations,
            fmtNum(f.gbSeconds, 3),
            total > 0 ? `${Math.round((f.gbSeconds / total) * 100)}%` : '—',
          ]),
        'Nothing billed in this period.',
      ),
    ),
  );
}

const wrap = (f) => async (parts) => ({ node: await f(parts) });

export const pages = {
  functions: wrap((parts) => (parts[0] ? functionDetail(parts[0]) : functionList())),
  logs,
  queues: wrap(queues),
  buckets: wrap(buckets),
  environments: wrap(environments),
  billing: wrap(billing),
};
