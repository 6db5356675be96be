// `edge.static: { dir }`: GET and HEAD of a file in one folder, for a page on
// the edge's own origin (npm start's example page; an app may serve its own
// this way). Nothing outside the folder is reachable: the path is resolved
// and must stay inside it; no listing, no dotfiles; `/` is index.html.
import { readFile, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { extname, join, resolve, sep } from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

type Req = Http2ServerRequest | IncomingMessage;
type Res = Http2ServerResponse | ServerResponse;

export function staticFiles(dir: string): (req: Req, res: Res) => void {
  const root = resolve(dir);
  const notFound = (res: Res, status = 404): void => {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(status === 405 ? 'method not allowed\n' : 'not found\n');
  };
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return notFound(res, req.method === 'POST' ? 404 : 405);
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'https://edge.invalid').pathname);
    } catch {
      return notFound(res);
    }
    if (path.endsWith('/')) path += 'index.html';
    if (path.split('/').some((part) => part.startsWith('.'))) return notFound(res);
    const file = resolve(join(root, path));
    if (!file.startsWith(root + sep)) return notFound(res);
    void stat(file)
      .then(async (st) => {
        if (!st.isFile()) return notFound(res);
        const body = await readFile(file);
        res.writeHead(200, {
          'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
          'content-length': String(body.byteLength),
          'cache-control': 'no-store',
          'x-content-type-options': 'nosniff',
        });
        if (req.method === 'HEAD') res.end();
        else res.end(body);
      })
      .catch(() => notFound(res));
  };
}
