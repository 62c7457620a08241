// The web console's static files: plain HTML, CSS and JavaScript written by hand (no framework, no
// bundler), shipped as they are in src/api/console/static/ and read once into memory. Only the names in
// the list below are ever served, so no request path reaches the file system.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Not compiled: beside this module in src/, or in src/ when this runs from dist/. */
function staticDir(): string {
  const beside = path.join(here, 'static');
  if (fs.existsSync(beside)) return beside;
  return path.join(
    here.replace(`${path.sep}dist${path.sep}src${path.sep}`, `${path.sep}src${path.sep}`),
    'static',
  );
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** The files the console serves, by the name under /console/. */
const FILES = ['index.html', 'console.css', 'app.js', 'api.js', 'dom.js', 'pages.js', 'chart.js', 'logo.svg'];

export interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

export function loadAssets(): Map<string, Asset> {
  const dir = staticDir();
  const out = new Map<string, Asset>();
  for (const name of FILES) {
    const body = fs.readFileSync(path.join(dir, name));
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
    out.set(name, { body, type: TYPES[path.extname(name)] ?? 'application/octet-stream', etag });
  }
  return out;
}
