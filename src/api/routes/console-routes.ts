/**
 * The web console (web/, built by `npm run build:web` into dist/web/) served as static files, before authentication:
 * `GET /` and `GET /console[/...]` answer `index.html` (the single-page app asks for an API key itself and sends it
 * as a Bearer token on every API call); `/console/assets/*` are the hashed build outputs (cached for a year).
 * Without a build, `/` says how to make one. Paths are resolved inside dist/web only (no `..` escapes).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'application/javascript; charset=utf-8', '.mjs': 'application/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon', '.json': 'application/json; charset=utf-8',
  '.woff2': 'font/woff2', '.txt': 'text/plain; charset=utf-8', '.map': 'application/json; charset=utf-8',
};

export const DEFAULT_CONSOLE_DIR = fileURLToPath(new URL('../../../dist/web/', import.meta.url));

const NOT_BUILT = `<!doctype html><meta charset="utf-8"><title>modelfab</title>
<body style="font:16px system-ui;max-width:40em;margin:4em auto;line-height:1.5">
<h1>modelfab</h1><p>The API is running. The web console is not built yet: run <code>npm run build:web</code> in the
modelfab folder (or <code>npm install</code>), then reload this page.</p>
<p>控制台尚未构建：请在 modelfab 目录中运行 <code>npm run build:web</code>（或 <code>npm install</code>），然后刷新本页。</p></body>`;

/** Registers the console as an onRequest hook: call it before installAuthz so these GETs need no key. */
export function installConsoleRoutes(app: FastifyInstance, dir = DEFAULT_CONSOLE_DIR): void {
  const root = normalize(dir.endsWith(sep) ? dir : dir + sep);
  app.addHook('onRequest', async (req, reply) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return;
    const path = decodeURIComponent(req.url.split('?')[0]!);
    if (path !== '/' && path !== '/console' && !path.startsWith('/console/')) return;
    const index = join(root, 'index.html');
    if (!existsSync(index)) return reply.status(path === '/' ? 200 : 404).header('content-type', 'text/html; charset=utf-8').header('cache-control', 'no-store').send(NOT_BUILT);
    const rel = path.startsWith('/console/') ? path.slice('/console/'.length) : '';
    if (rel) {
      const file = normalize(join(root, rel));
      if (file.startsWith(root) && existsSync(file) && statSync(file).isFile()) {
        const immutable = rel.startsWith('assets/');
        return reply.header('content-type', TYPES[extname(file)] ?? 'application/octet-stream')
          .header('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
          .header('x-content-type-options', 'nosniff')
          .send(readFileSync(file));
      }
      if (rel.startsWith('assets/')) return reply.status(404).header('content-type', 'text/plain; charset=utf-8').send('not found');
    }
    // the app's own routes (and `/`): the single page
    return reply.header('content-type', TYPES['.html']).header('cache-control', 'no-cache').header('x-content-type-options', 'nosniff').send(readFileSync(index));
  });
}
