import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { Logger } from 'pino';

/**
 * The Node.js front of the built site. It wraps the handler that @astrojs/node builds, so
 * that everything answered — pages, endpoints, static files, and the adapter's own errors —
 * gets a request id, the security headers and one access-log line, and so that a stop can
 * wait for requests in flight.
 */

export type RequestListener = (req: http.IncomingMessage, res: http.ServerResponse) => void;

export const REQUEST_ID_HEADER = 'x-request-id';

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'X-Frame-Options': 'DENY',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'same-origin',
  'Cross-Origin-Opener-Policy': 'same-origin',
};

export interface SiteServerOptions {
  handler: RequestListener;
  logger: Logger;
}

export function createSiteServer({ handler, logger }: SiteServerOptions): http.Server {
  return http.createServer((req, res) => {
    const started = performance.now();
    // Any id the client sent is replaced: ids in our logs are ours.
    const requestId = randomUUID();
    req.headers[REQUEST_ID_HEADER] = requestId;
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    res.on('finish', () => {
      logger.info(
        {
          requestId,
          method: req.method,
          // The path only: query strings can carry search terms users consider private.
          path: (req.url ?? '/').split('?', 1)[0],
          status: res.statusCode,
          durationMs: Math.round((performance.now() - started) * 10) / 10,
        },
        'request',
      );
    });
    handler(req, res);
  });
}

/**
 * Stops accepting connections, lets requests in flight finish (up to `graceMs`, then cuts
 * what is left), and resolves when the server has closed.
 */
export function stopServer(server: http.Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const force = setTimeout(() => server.closeAllConnections(), graceMs);
    force.unref();
    server.close(() => {
      clearTimeout(force);
      resolve();
    });
    server.closeIdleConnections();
  });
}
