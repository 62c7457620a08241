// The web console in a real browser: Debian's Chromium driven by playwright-core, headless. Shared by the
// console's browser tests and `npm run console:screenshots` (scripts/console-screenshots.js), so the
// README's pictures are taken by the code the tests run.
import fs from 'node:fs';
import path from 'node:path';
import {
  CreateAliasCommand,
  CreateFunctionUrlConfigCommand,
  InvokeCommand,
  PublishVersionCommand,
} from '@aws-sdk/client-lambda';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { type Browser, chromium, type Page } from 'playwright-core';
import { createFunction, lambdaClient } from './functions.js';
import { sdkConfig, type TestPlatform } from './platform.js';

export const VIEWPORT = { width: 1280, height: 800 };

export function chromiumPath(): string | undefined {
  for (const p of [process.env.KINDLING_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser']) {
    if (p && fs.existsSync(p)) return p;
  }
  return undefined;
}

/** A reason to skip browser tests: only outside CI, and only when there is no Chromium. */
export function browserSkip(): string | false {
  if (chromiumPath() !== undefined || process.env.CI) return false;
  return 'Chromium is not installed (apt-get install -y chromium): the web console browser tests are skipped';
}

export async function launchBrowser(): Promise<Browser> {
  const executablePath = chromiumPath();
  if (executablePath === undefined)
    throw new Error('Chromium is not installed (apt-get install -y chromium); CI installs it in .ci/run');
  // Chromium's own sandbox refuses to run as root (CI runs as root); the pages it loads are ours.
  const args = process.getuid?.() === 0 ? ['--no-sandbox'] : [];
  return chromium.launch({ executablePath, headless: true, args });
}

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface DemoTenant {
  name: string;
  accountId: string;
  credentials: Credentials;
}

const HELLO = `export const handler = async (event) => {
  console.log('greeting', process.env.GREETING, JSON.stringify(event));
  return { message: \`\${process.env.GREETING ?? 'hello'}, \${event.name ?? 'world'}\` };
};`;

const ORDERS = `export const handler = async (event) => {
  if (event.fail) throw new Error('order ' + event.id + ' has no items');
  console.log('order accepted', event.id);
  return { accepted: event.id };
};`;

/**
 * A tenant with something on every page: functions (one with a URL, environment and tags), invocations
 * (logs, starts, billing), queues with messages, a bucket with objects.
 */
export async function seedDemo(p: TestPlatform, name: string): Promise<DemoTenant> {
  const tenant = await p.platform.tenants.create(name);
  const key = await p.platform.tenants.createKey(tenant.id);
  const credentials = { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey };
  const cfg = sdkConfig({ endpoint: p.endpoint, region: p.region, credentials });
  const lambda = lambdaClient({ endpoint: p.endpoint, region: p.region, credentials });
  const hello = `${name}-hello`;
  const orders = `${name}-orders`;
  await createFunction(lambda, hello, HELLO, {
    Description: 'Greets whoever calls',
    MemorySize: 256,
    Environment: { Variables: { GREETING: 'Hello' } },
    Tags: { team: 'web' },
  });
  await createFunction(lambda, orders, ORDERS, { Timeout: 10 });
  await lambda.send(new CreateFunctionUrlConfigCommand({ FunctionName: hello, AuthType: 'NONE' }));
  await lambda.send(new PublishVersionCommand({ FunctionName: hello, Description: 'first release' }));
  await lambda.send(new CreateAliasCommand({ FunctionName: hello, Name: 'live', FunctionVersion: '1' }));
  const invoke = (fn: string, event: unknown) =>
    lambda.send(new InvokeCommand({ FunctionName: fn, Payload: Buffer.from(JSON.stringify(event)) }));
  for (const who of ['Ada', 'Grace', 'Linus']) await invoke(hello, { name: who });
  await invoke(orders, { id: 41 });
  await invoke(orders, { id: 42, fail: true });
  const sqs = new SQSClient(cfg);
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: `${name}-orders` }));
  await sqs.send(new CreateQueueCommand({ QueueName: `${name}-orders-dlq` }));
  for (let i = 0; i < 3; i++) await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: `order ${i}` }));
  sqs.destroy();
  const s3 = new S3Client({ ...cfg, forcePathStyle: true });
  await s3.send(new CreateBucketCommand({ Bucket: `${name}-uploads` }));
  for (const k of ['photos/cat.jpg', 'reports/2026-12.csv'])
    await s3.send(new PutObjectCommand({ Bucket: `${name}-uploads`, Key: k, Body: `demo ${k}` }));
  s3.destroy();
  lambda.destroy();
  return { name, accountId: tenant.accountId, credentials };
}

/** Opens a console route and waits until its page has loaded its data (body[data-ready=<ready>]). */
export async function openConsole(page: Page, endpoint: string, hash: string, ready: string): Promise<void> {
  if (hash !== '' && page.url().startsWith(`${endpoint}/console`)) {
    // Within the page, as a click on a link does (the same hash again still reloads the page's data).
    await page.evaluate((h) => {
      document.body.dataset.ready = '';
      if (location.hash === h) window.dispatchEvent(new HashChangeEvent('hashchange'));
      else location.hash = h;
    }, hash);
  } else await page.goto(`${endpoint}/console${hash}`);
  await page.waitForSelector(`body[data-ready="${ready}"]`, { timeout: 20_000 });
}

export async function signIn(
  page: Page,
  endpoint: string,
  c: Credentials,
  ready = 'functions',
): Promise<void> {
  await openConsole(page, endpoint, '', 'signin');
  await page.fill('#accessKeyId', c.accessKeyId);
  await page.fill('#secretAccessKey', c.secretAccessKey);
  await page.click('#signin button[type=submit]');
  await page.waitForSelector(`body[data-ready="${ready}"]`, { timeout: 20_000 });
}

/** Every page of the console, as the README shows them. */
export function consolePages(demo: DemoTenant): { file: string; hash: string; ready: string }[] {
  return [
    { file: 'functions', hash: '#/functions', ready: 'functions' },
    { file: 'function', hash: `#/functions/${demo.name}-hello`, ready: 'functions' },
    { file: 'logs', hash: `#/logs/${demo.name}-orders`, ready: 'logs' },
    { file: 'queues', hash: '#/queues', ready: 'queues' },
    { file: 'buckets', hash: '#/buckets', ready: 'buckets' },
    { file: 'environments', hash: '#/environments', ready: 'environments' },
    { file: 'billing', hash: '#/billing', ready: 'billing' },
  ];
}

/**
 * A screenshot (PNG, the viewport's size) of the sign-in page and of every page, signed in as `demo`; the
 * function page after an invoke, so its result and log tail show. Written to `dir` when given.
 */
export async function screenshotConsole(
  browser: Browser,
  endpoint: string,
  demo: DemoTenant,
  dir?: string,
): Promise<{ file: string; png: Buffer }[]> {
  const context = await browser.newContext({ viewport: VIEWPORT, deviceScaleFactor: 1 });
  const page = await context.newPage();
  const shots: { file: string; png: Buffer }[] = [];
  const shoot = async (file: string) => {
    const png = await page.screenshot({ type: 'png' });
    if (dir !== undefined) fs.writeFileSync(path.join(dir, `${file}.png`), png);
    shots.push({ file, png });
  };
  try {
    await openConsole(page, endpoint, '', 'signin');
    await shoot('signin');
    await signIn(page, endpoint, demo.credentials);
    for (const pg of consolePages(demo)) {
      await openConsole(page, endpoint, pg.hash, pg.ready);
      if (pg.file === 'function') {
        await page.fill('#payload', '{ "name": "console" }');
        await page.click('#invoke');
        await page.waitForSelector('#invoke-status', { timeout: 20_000 });
      }
      await shoot(pg.file);
    }
  } finally {
    await context.close();
  }
  return shots;
}
