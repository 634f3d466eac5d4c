import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type net from 'node:net';
import zlib from 'node:zlib';
import compression from 'compression';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';

/**
 * The Node.js front of the built site. It wraps the handler that @astrojs/node builds, so
 * that everything answered — pages, endpoints, static files, and the adapter's own errors —
 * gets a request id, the security headers and one access-log line, and so that a stop can
 * wait for requests in flight.
 */

export type RequestListener = (req: http.IncomingMessage, res: http.ServerResponse) => void;

export const REQUEST_ID_HEADER = 'x-request-id';

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'X-Frame-Options': 'DENY',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'same-origin',
  'Cross-Origin-Opener-Policy': 'same-origin',
};

export interface SiteServerOptions {
  handler: RequestListener;
  logger: Logger;
  /** Trust `X-Forwarded-Proto` from a proxy in front (TRUST_PROXY). */
  trustProxy?: boolean;
  /** How long a client may take to send a request's headers (HEADERS_TIMEOUT_SECONDS). */
  headersTimeoutMs?: number;
}

const HSTS = 'max-age=31536000; includeSubDomains';

function isHttps(req: http.IncomingMessage, trustProxy: boolean): boolean {
  if ((req.socket as { encrypted?: boolean }).encrypted) return true;
  return trustProxy && req.headers['x-forwarded-proto'] === 'https';
}

/**
 * Node answers requests it cannot parse (a broken request line, 431 for oversized headers)
 * before any handler runs; this gives those answers the security headers too. As Node's
 * own answer does, it writes nothing on a connection whose response has begun: a status
 * line would land in the middle of that response's body.
 */
function answerUnparsableRequest(
  error: NodeJS.ErrnoException,
  socket: Duplex & { _httpMessage?: { _headerSent?: boolean } | null },
  logger: Logger,
): void {
  // Node's parser goes on reading a refused request and reports each later chunk as an
  // error again; that socket has its answer and is lingering.
  if (answeredSockets.has(socket)) return;
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  if (socket._httpMessage?._headerSent) {
    logger.warn({ err: error.message, code: error.code }, 'a client error cut a response short');
    socket.destroy();
    return;
  }
  const status =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? 431
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? 408
        : 400;
  answerOnSocket(socket, status);
}

/** How long a socket answered by `answerOnSocket` stays open for the client to read the answer. */
const ANSWER_LINGER_MS = 2_000;

/** Sockets `answerOnSocket` has answered, which only read and drop what still comes. */
const answeredSockets = new WeakSet<Duplex>();

/**
 * A bodiless answer written on the socket itself, with the security headers, and goodbye.
 * Such a socket is no longer the HTTP server's (a CONNECT's, or one Node could not parse),
 * so a stop cannot cut it, and a client that left while still sending keeps its close
 * queued behind bytes nobody reads: what it sends is read and dropped, and the socket is
 * destroyed once the client has had time to read the answer.
 */
function answerOnSocket(socket: Duplex, status: number, extra: Record<string, string> = {}): void {
  const headers = Object.entries({ ...SECURITY_HEADERS, ...extra }).map(
    ([name, value]) => `${name}: ${value}\r\n`,
  );
  answeredSockets.add(socket);
  socket.resume();
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\n${headers.join('')}` +
      'Content-Length: 0\r\nConnection: close\r\n\r\n',
  );
  const linger = setTimeout(() => socket.destroy(), ANSWER_LINGER_MS);
  socket.once('close', () => clearTimeout(linger));
}

/**
 * Closes a connection after its last response the way a careful server does (a lingering
 * close): it stops writing, then reads and drops what the client still sends until the
 * client closes too, or for `ANSWER_LINGER_MS`. Node closes the socket as soon as the
 * response is written; a byte of the request that arrived after the last read (a GET's
 * body sent behind its headers, while the event loop was busy) is then still unread, and
 * closing a socket with unread input makes the kernel reset the connection, which throws
 * away the end of a long response before the client has read it.
 */
function closeLingering(this: net.Socket): void {
  // Nothing that follows the last response is a request: the HTTP parser gets no more.
  this.removeAllListeners('data');
  this.on('data', () => {});
  this.resume();
  this.end();
  const linger = setTimeout(() => this.destroy(), ANSWER_LINGER_MS);
  this.once('close', () => clearTimeout(linger));
}

/**
 * The methods the site answers. Node parses many more (WebDAV's, `TRACE`, `CONNECT`), and the
 * adapter cannot even build a request for some of them (`TRACE`); they are answered here.
 */
const SITE_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/**
 * A `Host` header the adapter can build a URL from: a name or an address, and a port. Node
 * passes anything through, and `a@host` (credentials), `host/path` or `1.2.3.999` would make
 * the URL the adapter builds throw, or point somewhere else. Only HTTP/1.0 may leave it out
 * (Node refuses an HTTP/1.1 request without one).
 */
function isServableHost(host: string | undefined): boolean {
  if (host === undefined) return true;
  return (
    /^(?:[\w.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$/.test(host) &&
    URL.canParse(`http://${host}/`)
  );
}

/** Whether the URL's percent-escapes decode (Astro's routing would fail on one that does not). */
function isDecodableUrl(url: string): boolean {
  try {
    decodeURI(url);
    return true;
  } catch {
    return false;
  }
}

export function createSiteServer({
  handler,
  logger,
  trustProxy = false,
  headersTimeoutMs = 60_000,
}: SiteServerOptions): http.Server {
  const server = http.createServer(
    {
      // A client that sends its headers this slowly gets 408. Node checks now and then (every
      // 30 s by default), so a short timeout is checked more often. Keep it well above the
      // time a response takes: Node does not restart the clock for the next request on a
      // kept-alive connection (nodejs/node#58140), so a shorter one ends that request.
      headersTimeout: headersTimeoutMs,
      connectionsCheckingInterval: Math.min(30_000, Math.max(1_000, headersTimeoutMs / 4)),
      requireHostHeader: false,
    },
    (req, res) => {
      const started = performance.now();
      // Any id the client sent is replaced: ids in our logs are ours.
      const requestId = randomUUID();
      req.headers[REQUEST_ID_HEADER] = requestId;
      const https = isHttps(req, trustProxy);
      for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
      if (https) res.setHeader('Strict-Transport-Security', HSTS);
      res.on('finish', () => {
        logger.info(
          {
            requestId,
            method: req.method,
            path: loggedPath(req.url ?? '/'),
            status: res.statusCode,
            durationMs: Math.round((performance.now() - started) * 10) / 10,
          },
          'request',
        );
      });
      useStandardReasonPhrases(res);
      const refusal = refuseUnservableRequest(req);
      if (refusal) {
        res.writeHead(refusal.status, refusal.headers);
        res.end(refusal.message);
        return;
      }
      compress(req, res, () => {
        // After compress, so that the writes and 'drain' tracked are those it answers.
        trackResponse(requestId, res);
        handler(req, res);
      });
    },
  );
  // Node ends a connection's last response with `destroySoon()`.
  server.on('connection', (socket: net.Socket) => {
    socket.destroySoon = closeLingering;
  });
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) =>
    answerUnparsableRequest(error, socket, logger),
  );
  // What Node would answer by itself, bare: an Expect it does not know (417), and CONNECT,
  // for which it would close the connection without a word.
  server.on('checkExpectation', (_req, res: http.ServerResponse) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    res.writeHead(417, { 'Content-Length': 0, Connection: 'close' }).end();
  });
  server.on('connect', (_req, socket: Duplex) => {
    answerOnSocket(socket, 405, { Allow: [...SITE_METHODS].join(', ') });
  });
  return server;
}

/**
 * gzip or brotli for whatever can be compressed (HTML, CSS, JS, JSON, XML, CSV), when the
 * client says it accepts it: pages and exports are text, and shrink to a fifth. The
 * `compression` package does the negotiation, `Vary` and the streaming, backpressure
 * included, better than a hand-written wrapper would. Both at their fastest settings: on a
 * 4 MB export, gzip 1 takes 58 ms for 18.4 % of the size (the default, 6: 101 ms, 17.0 %)
 * and brotli 1 23 ms for 16.8 % (the package's default, 4: 95 ms, 16.0 %), so a large
 * export streams at nearly the speed it is read, and a page costs next to nothing.
 */
// Typed for Express, it takes plain node:http requests and responses as they are.
const compress = compression({
  threshold: 1024,
  level: zlib.constants.Z_BEST_SPEED,
  brotli: { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 1 } },
}) as unknown as (req: http.IncomingMessage, res: http.ServerResponse, next: () => void) => void;

/**
 * The status line's reason phrase is the standard one for its code. The adapter copies the
 * `Response`'s statusText, which Astro leaves as "OK" for a page whose status it changed,
 * so a refused form said "400 OK".
 */
function useStandardReasonPhrases(res: http.ServerResponse): void {
  const writeHead = res.writeHead;
  res.writeHead = function (this: http.ServerResponse, status: number, ...rest: unknown[]) {
    this.statusMessage = http.STATUS_CODES[status] ?? '';
    // A reason the caller gave itself (a string before the headers) is dropped the same way.
    const headers = typeof rest[0] === 'string' ? rest.slice(1) : rest;
    return (writeHead as (...args: unknown[]) => http.ServerResponse).call(
      this,
      status,
      ...headers,
    );
  } as typeof res.writeHead;
}

/** The checks a request must pass before the adapter turns it into a `Request`. */
function refuseUnservableRequest(
  req: http.IncomingMessage,
): { status: number; headers: http.OutgoingHttpHeaders; message: string } | undefined {
  const text = { 'Content-Type': 'text/plain; charset=utf-8' };
  if (!SITE_METHODS.has(req.method ?? '')) {
    return {
      status: 405,
      headers: { ...text, Allow: [...SITE_METHODS].join(', ') },
      message: `Method not allowed: this site answers ${[...SITE_METHODS].join(', ')} only.`,
    };
  }
  // Node is told not to refuse a missing Host itself, so that the refusal carries our headers.
  const hostMissing = req.headers.host === undefined && req.httpVersion !== '1.0';
  if (hostMissing || !isServableHost(req.headers.host)) {
    return { status: 400, headers: text, message: 'Bad request: the Host header is not a host.' };
  }
  if (!isDecodableUrl(req.url ?? '/')) {
    return {
      status: 400,
      headers: text,
      message: 'Bad request: the address holds an invalid percent-encoding.',
    };
  }
  return undefined;
}

/*
 * Backpressure for streamed responses. Astro's Node response writer writes every chunk a
 * body stream yields without waiting for 'drain', so whatever is slower than the route, a
 * client that reads slowly or the compressor, would let a large export pile up in this
 * process. A route that streams can instead wait, between chunks, until what it wrote has
 * been taken. The route only knows its request id (the header set above), so responses in
 * flight are found by that id, on a process-wide registry because the start script and the
 * built bundle each hold their own copy of this module (see lifecycle.ts).
 */
const RESPONSES_IN_FLIGHT = Symbol.for('pacil-inventory.responses-in-flight');

type DrainWaiter = () => Promise<void>;

function responsesInFlight(): Map<string, DrainWaiter> {
  const holder = globalThis as { [RESPONSES_IN_FLIGHT]?: Map<string, DrainWaiter> };
  holder[RESPONSES_IN_FLIGHT] ??= new Map();
  return holder[RESPONSES_IN_FLIGHT];
}

/**
 * Follows what `res.write` answers the writer and the 'drain' that lifts a `false`. Through
 * `compression` both are the compressor's: its input fills when gzip is slower than the
 * export is made (a fast client, a fast database), and when the client stops reading, since
 * the compressor then stops too. Waiting only on the socket, as this once did, missed the
 * first: a 100,000-item export's batches queued in gzip's input and added 30–50 MB to its
 * peak (bench/RESULTS.md, issue 20, round 5).
 */
function trackResponse(requestId: string, res: http.ServerResponse): void {
  let full = false;
  let wake: (() => void) | undefined;
  const drained = () => {
    full = false;
    wake?.();
    wake = undefined;
  };
  const write = res.write as (...args: unknown[]) => boolean;
  res.write = function (this: http.ServerResponse, ...args: unknown[]) {
    const accepted = write.apply(this, args);
    if (!accepted) full = true;
    return accepted;
  } as typeof res.write;
  res.on('drain', drained);
  // One stream per response, so one waiter at a time.
  const waiter: DrainWaiter = () =>
    !full || res.destroyed || res.writableEnded
      ? Promise.resolve()
      : new Promise((resolve) => {
          wake = resolve;
        });
  responsesInFlight().set(requestId, waiter);
  res.once('close', () => {
    responsesInFlight().delete(requestId);
    drained();
  });
}

/**
 * Resolves once the response to `requestId` can take more data: at once when its buffer is
 * below the high-water mark, otherwise at the next 'drain' (or when the connection closes).
 * Also at once for a request that did not come through this front (`astro dev`).
 */
export function waitForDrain(requestId: string): Promise<void> {
  return responsesInFlight().get(requestId)?.() ?? Promise.resolve();
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

/**
 * The path of a request as the log keeps it: without the query string, which can carry
 * search terms users consider private, and without an invite link's secret, which lets
 * whoever reads it join the inventory (only its hash is stored anywhere else).
 */
export function loggedPath(url: string): string {
  return url.split('?', 1)[0]!.replace(/^\/invite\/[^/]+/, '/invite/…');
}
