#!/usr/bin/env node
// `npm run console:screenshots`: starts a throwaway platform, fills a demo tenant, and writes a PNG of every
// web console page to docs/console/ with the browser code the console's tests use (Chromium, headless).
import fs from 'node:fs';
import path from 'node:path';
import { launchBrowser, screenshotConsole, seedDemo } from '../dist/test/helpers/console-browser.js';
import { startPlatform } from '../dist/test/helpers/platform.js';

const out = path.resolve('docs/console');
fs.mkdirSync(out, { recursive: true });
const p = await startPlatform();
let browser;
try {
  const demo = await seedDemo(p, 'acme');
  browser = await launchBrowser();
  const shots = await screenshotConsole(browser, p.endpoint, demo, out);
  for (const s of shots) console.log(`docs/console/${s.file}.png (${s.png.length} bytes)`);
} finally {
  await browser?.close();
  await p.close();
}
