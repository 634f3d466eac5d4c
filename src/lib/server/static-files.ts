import { readdirSync } from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import send from 'send';

/**
 * The built site's static files (`dist/client`: the stylesheet, the icon, the islands'
 * scripts). They are listed once at start, since a build never changes while it is served,
 * so every other request goes straight to Astro. @astrojs/node's standalone handler asks the
 * file system about every request first, pages and endpoints included; that detour was
 * about 6 % of the CPU time of `GET /json/` (bench/RESULTS.md).
 */

/** Bundler output under this folder has content hashes in its names: cache it for good. */
const HASHED_ASSETS = '/_astro/';

function filesUnder(root: string): Set<string> {
  const files = new Set<string>();
  for (const entry of readdirSync(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const relative = path.relative(root, path.join(entry.parentPath, entry.name));
    files.add(`/${relative.split(path.sep).join('/')}`);
  }
  return files;
}

/** The path of a request URL, percent-decoded; undefined when it cannot be decoded. */
function requestPath(url: string): string | undefined {
  const end = url.search(/[?#]/);
  try {
    return decodeURIComponent(end === -1 ? url : url.slice(0, end));
  } catch {
    return undefined;
  }
}

/**
 * A handler that answers GET and HEAD for the files under `root` and returns true, or
 * returns false, having done nothing, for any other request.
 */
export function createStaticFileHandler(
  root: string,
): (req: http.IncomingMessage, res: http.ServerResponse) => boolean {
  const files = filesUnder(root);
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const file = requestPath(req.url ?? '/');
    if (file === undefined || !files.has(file)) return false;
    const hashed = file.startsWith(HASHED_ASSETS);
    send(req, file, { root, immutable: hashed, maxAge: hashed ? '1y' : 0 })
      .on('error', (error: { status?: number }) => {
        // The file went away after start (a build replaced dist/ under a running server).
        res.statusCode = error.status ?? 500;
        res.end();
      })
      .pipe(res);
    return true;
  };
}
