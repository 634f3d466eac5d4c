import http from 'node:http';
import net from 'node:net';
import { expect } from 'vitest';
import { ROOT } from '../../scripts/build-if-stale.ts';
import type { ClientRequest, SiteClient } from '../helpers/site.ts';
import { checkedFetch } from '../helpers/openapi.ts';

/**
 * What the attack suite shares: the attacker's origin, form posts, the "before and after"
 * of every attack (each owner's own export), raw HTTP for what fetch will not send, and the
 * checks every response must pass.
 */

export const EVIL_ORIGIN = 'http://evil.example';
export const FORM_TYPE = 'application/x-www-form-urlencoded';

export interface ApiItem {
  id: number;
  /** The inventory it is in. */
  inventory: number;
  name: string;
  amount: number;
  description: string;
  created_at: string;
}

export interface ExportObject {
  model: string;
  pk: number;
  fields: { user: number; name: string; amount: number; description: string };
}

/** A urlencoded form post (same origin unless `init.origin` says otherwise). */
export function postForm(
  client: SiteClient,
  pathname: string,
  fields: Record<string, string>,
  init: ClientRequest = {},
): Promise<Response> {
  return client.request(pathname, {
    method: 'POST',
    ...init,
    headers: { 'Content-Type': FORM_TYPE, ...init.headers },
    body: new URLSearchParams(fields).toString(),
  });
}

/** Stores an item through the API and returns it. */
export async function createItem(
  client: SiteClient,
  fields: { name: string; amount: number; description?: string },
): Promise<ApiItem> {
  const response = await client.request('/api/items', { method: 'POST', json: fields });
  expect(response.status, await response.clone().text()).toBe(201);
  return (await response.json()) as ApiItem;
}

/** Everything a user has, as their own `/json/` export shows it. */
export async function exportOf(client: SiteClient): Promise<string> {
  const response = await client.request('/json/');
  expect(response.status).toBe(200);
  return response.text();
}

export async function exportObjects(client: SiteClient): Promise<ExportObject[]> {
  return JSON.parse(await exportOf(client)) as ExportObject[];
}

/** The exports of several users, taken before an attack... */
export function snapshot(clients: readonly SiteClient[]): Promise<string[]> {
  return Promise.all(clients.map(exportOf));
}

/** ...and compared after it: nobody's data changed. */
export async function expectUnchanged(
  clients: readonly SiteClient[],
  before: readonly string[],
): Promise<void> {
  expect(await snapshot(clients)).toEqual(before);
}

/** True while the client's session still signs it in. */
export async function isSignedIn(client: SiteClient): Promise<boolean> {
  const response = await client.request('/api/items?limit=1');
  if (response.status === 200) return true;
  expect(response.status).toBe(401);
  return false;
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface RawRequest {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  /** Written one chunk at a time; without a Content-Length header that is chunked encoding. */
  chunks?: readonly (string | Uint8Array)[];
}

/**
 * One request through node:http, for what fetch does not send: a `Host` header of our choice,
 * a declared length with no body behind it, chunked bodies. The server may answer before the
 * body is sent; that answer is what counts, and errors writing the rest are ignored.
 */
export function rawRequest(url: string, request: RawRequest): Promise<RawResponse> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = http.request(
      {
        hostname,
        port,
        method: request.method ?? 'GET',
        path: request.path,
        headers: request.headers,
        agent: false,
      },
      (res) => {
        answered = true;
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
          req.destroy();
        });
        res.on('error', reject);
      },
    );
    req.on('error', (error) => {
      if (!answered) reject(error);
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer to ${request.path}`)));
    void (async () => {
      for (const chunk of request.chunks ?? []) {
        if (answered || req.destroyed) return;
        if (!req.write(chunk)) await new Promise((resolve) => req.once('drain', resolve));
      }
      // A declared length with nothing behind it: send the headers and leave the request
      // open, so an answer can only come from a server that does not wait for the body.
      if (request.headers?.['Content-Length'] && !request.chunks) req.flushHeaders();
      else req.end();
    })();
  });
}

export const SECURITY_HEADERS = {
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
  'cross-origin-opener-policy': 'same-origin',
} as const;

type AnyHeaders = Headers | http.IncomingHttpHeaders;

function header(headers: AnyHeaders, name: string): string | undefined {
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** The headers every response carries, whatever answered it. */
export function expectSecurityHeaders(headers: AnyHeaders, label: string): void {
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
    expect(header(headers, name), `${name} on ${label}`).toBe(value);
  }
}

/** The Content-Security-Policy every HTML page carries. */
export function expectPageCsp(headers: AnyHeaders, label: string): void {
  const csp = header(headers, 'content-security-policy');
  expect(csp, `CSP on ${label}`).toBeDefined();
  const directives = new Map(
    csp!
      .split(';')
      .map((directive) => directive.trim())
      .filter(Boolean)
      .map((directive) => {
        const [name, ...values] = directive.split(/\s+/);
        return [name!.toLowerCase(), values] as const;
      }),
  );
  expect(directives.get('frame-ancestors'), label).toEqual(["'none'"]);
  expect(directives.get('form-action'), label).toEqual(["'self'"]);
  expect(directives.get('base-uri'), label).toEqual(["'self'"]);
  expect(directives.get('object-src'), label).toEqual(["'none'"]);
  // Scripts are limited to the site's own files and hashes: by script-src, or default-src.
  const scripts = directives.get('script-src') ?? directives.get('default-src');
  expect(scripts, label).toBeDefined();
  expect(
    scripts!.every(
      (source) => ["'self'", "'none'"].includes(source) || /^'sha(256|384|512)-/.test(source),
    ),
    `${label}: ${csp}`,
  ).toBe(true);
  expect(csp, label).not.toMatch(/'unsafe-inline'|'unsafe-eval'|'unsafe-hashes'|\*/);
}

/** The site's own checkout path, as a stack trace or an error message would show it. */
const SOURCE_PATHS = [ROOT, ROOT.replace(/\/$/, ''), '/work/', 'node_modules', 'file://'];

/** Error responses name the problem, never the code: no stack trace, no file path. */
export function expectNoInternals(body: string, label: string): void {
  for (const path of SOURCE_PATHS) expect(body, label).not.toContain(path);
  expect(body, label).not.toMatch(/\n\s+at .+[:(]/);
  expect(body, label).not.toMatch(/\.(ts|mjs|js|astro):\d+/);
  expect(body, label).not.toMatch(/\b(TypeError|ReferenceError|SyntaxError|RangeError|URIError)\b/);
}

/** Reverses the escaping of HTML text and attribute values (named and numeric references). */
export function decodeHtml(html: string): string {
  const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
  return html.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (match, entity: string) => {
    if (entity[0] === '#') {
      const code =
        entity[1] === 'x' || entity[1] === 'X'
          ? parseInt(entity.slice(2), 16)
          : Number(entity.slice(1));
      return String.fromCodePoint(code);
    }
    return named[entity.toLowerCase()] ?? match;
  });
}

/** A start or end tag, with its attributes (quoted values may hold `>`). */
const TAG =
  /<\/?[a-zA-Z][^\s/>]*(?:\s+[^\s=/>]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'>]+))?)*\s*\/?>/g;

/** A tag with its attribute values emptied: its name and attribute names. */
const bareTag = (tag: string) => tag.replace(/"[^"]*"|'[^']*'/g, '""');

/**
 * The site's own icons (icons.ts): the one kind of embedded element its pages carry, drawn
 * in full or by reference, and the definitions the references point at.
 */
const SITE_ICON = /^<svg class="icon(?:-symbols)?" [^<>]*aria-hidden="true"[^<>]*>$/;

/**
 * `payload` (user data) is on the page only as text: escaped where it would be markup.
 * Inside a quoted attribute value only the quote and `&` are markup, so `<` and `>` may
 * stand there as they are (HTML reads them as text); everywhere else they may not. The
 * payload adds no element, no event handler, no `javascript:` link and no inline script,
 * and decoded, the page shows it.
 */
export function expectEscapedInHtml(html: string, payload: string, label: string): void {
  const tags = [...html.matchAll(TAG)].map((match) => match[0]);
  // The page without its tags' attribute values: markup and text, where `<` is markup.
  const markup = html.replace(TAG, bareTag);
  if (/[<>]/.test(payload)) expect(markup, label).not.toContain(payload);
  // A quote would end an attribute value, so it must be escaped everywhere.
  if (payload.includes('"')) expect(html, label).not.toContain(payload);
  expect(
    tags.filter((tag) => /^<(img|svg|iframe|object|embed)\b/i.test(tag) && !SITE_ICON.test(tag)),
    label,
  ).toEqual([]);
  expect(
    tags.map(bareTag).filter((tag) => /\son[a-z]+\s*=/i.test(tag)),
    label,
  ).toEqual([]);
  expect(
    tags.filter((tag) =>
      /\s(?:href|src|action|formaction|data)\s*=\s*["']?\s*javascript:/i.test(tag),
    ),
    label,
  ).toEqual([]);
  for (const [, script] of markup.matchAll(/<script\b[^>]*>([\s\S]*?)<\/script>/gi)) {
    expect(script, `${label}: inline script`).not.toContain('alert(1)');
  }
  expect(decodeHtml(html), label).toContain(payload);
}

/**
 * A request whose body is held back: the headers and the first part of the body go out at
 * once, so the server has started on the request (its session is checked) before the
 * rest arrives. What happens meanwhile (an account deleted, a sign-out elsewhere) is then
 * something the request must notice after it began.
 */
export function heldRequest(
  url: string,
  request: { method?: string; path: string; headers: Record<string, string>; body: string },
): { started: Promise<void>; finish(): Promise<RawResponse> } {
  const { hostname, port } = new URL(url);
  const body = Buffer.from(request.body);
  const split = Math.max(1, Math.floor(body.length / 2));
  const req = http.request({
    hostname,
    port,
    method: request.method ?? 'POST',
    path: request.path,
    headers: { ...request.headers, 'Content-Length': String(body.length) },
    agent: false,
  });
  const answer = new Promise<RawResponse>((resolve, reject) => {
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
  });
  const started = new Promise<void>((resolve) => {
    req.write(body.subarray(0, split), () => resolve());
  });
  return {
    // The server reads the session at once; a moment is enough for it to have done so.
    started: started.then(() => new Promise((resolve) => setTimeout(resolve, 300))),
    finish() {
      req.end(body.subarray(split));
      return answer;
    },
  };
}

/** Creates a personal API token through the settings form and returns it. */
export async function createTokenThroughSettings(
  client: SiteClient,
  name: string,
  scope: 'read' | 'read-write' = 'read-write',
): Promise<string> {
  const response = await postForm(client, '/settings/', { action: 'create-token', name, scope });
  expect(response.status, await response.clone().text()).toBe(303);
  // The new token rides to the settings page in a short-lived cookie, which holds it.
  const cookie = response.headers.getSetCookie().find((c) => c.startsWith('new_token='));
  expect(cookie).toBeDefined();
  return decodeURIComponent(cookie!.split(';', 1)[0]!.slice('new_token='.length));
}

/** The status of a read of the API with `token`. */
export async function tokenStatus(url: string, token: string): Promise<number> {
  const response = await checkedFetch(`${url}/api/items?limit=1`, {
    headers: { Authorization: `Bearer ${token}` },
  });
  await response.arrayBuffer();
  return response.status;
}

/** One request written byte for byte on a socket: whatever node:http would refuse to send. */
export interface WireRequest {
  /** Written as it is: lower case, unknown methods and CONNECT included. */
  method: string;
  /** The request-target exactly as it stands on the request line. */
  target: string;
  /** `HTTP/1.1` unless said otherwise. */
  version?: string;
  /**
   * Header lines in order, duplicates allowed. Names and values are written as Latin-1, one
   * byte per character, so `\xff` is the byte 0xff and UTF-8 goes in as its bytes' characters.
   */
  headers: ReadonlyArray<readonly [string, string]>;
  /** The bytes after the head, exactly: the caller writes Content-Length or chunks itself. */
  body?: Uint8Array;
  /** Ends the sending side after the body, so the server sees the input end (a truncated body). */
  halfClose?: boolean;
  /** Milliseconds to wait for the whole answer (10 s unless said otherwise). */
  timeoutMs?: number;
}

export type WireAnswer =
  | {
      answered: true;
      status: number;
      /** Lower-case names; repeated headers joined with `, `, except Set-Cookie. */
      headers: Record<string, string>;
      setCookies: string[];
      body: string;
    }
  | { answered: false; reason: string; received: string };

/**
 * Sends `request` on a connection of its own and resolves with the first final answer (1xx
 * answers skipped), or with why there was none: the connection closed or broke before an
 * answer, or the answer did not come within the timeout. Never rejects.
 */
export function wireRequest(url: string, request: WireRequest): Promise<WireAnswer> {
  const { hostname, port } = new URL(url);
  const head =
    `${request.method} ${request.target} ${request.version ?? 'HTTP/1.1'}\r\n` +
    request.headers.map(([name, value]) => `${name}: ${value}\r\n`).join('') +
    '\r\n';
  const isHead = request.method.toUpperCase() === 'HEAD';
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    let settled = false;
    const settle = (answer: WireAnswer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => {
      const received = Buffer.concat(chunks).toString('latin1').slice(0, 200);
      settle({ answered: false, reason: 'no answer within the timeout', received });
    }, request.timeoutMs ?? 10_000);
    socket.on('connect', () => {
      socket.write(Buffer.from(head, 'latin1'));
      if (request.body && request.body.byteLength > 0) socket.write(request.body);
      if (request.halfClose) socket.end();
    });
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      const answer = parseWireAnswer(Buffer.concat(chunks), isHead, false);
      if (answer) settle(answer);
    });
    // The server may answer and close before it has read the whole body: writing the rest
    // then fails, and the answer already received is what counts.
    const finish = (why: string) => () => {
      const data = Buffer.concat(chunks);
      if (data.length === 0) settle({ answered: false, reason: why, received: '' });
      else settle(parseWireAnswer(data, isHead, true)!);
    };
    socket.on('error', (error: Error) => finish(`connection error: ${error.message}`)());
    socket.on('end', finish('connection closed without an answer'));
    socket.on('close', finish('connection closed without an answer'));
  });
}

/** The first final answer in `data`; undefined while it is incomplete and the connection open. */
function parseWireAnswer(data: Buffer, isHead: boolean, closed: boolean): WireAnswer | undefined {
  const received = () => data.toString('latin1').slice(0, 200);
  const incomplete = (reason: string) =>
    closed ? ({ answered: false, reason, received: received() } as const) : undefined;
  let start = 0;
  for (;;) {
    const end = data.indexOf('\r\n\r\n', start);
    if (end === -1) {
      return incomplete(
        data.length === 0 ? 'connection closed without an answer' : 'closed mid-answer',
      );
    }
    const [statusLine = '', ...lines] = data.subarray(start, end).toString('latin1').split('\r\n');
    const status = Number(/^HTTP\/\d\.\d (\d{3})/.exec(statusLine)?.[1]);
    if (!status) return { answered: false, reason: 'not an HTTP answer', received: received() };
    const bodyStart = end + 4;
    if (status >= 100 && status < 200 && status !== 101) {
      start = bodyStart;
      continue;
    }
    const headers: Record<string, string> = {};
    const setCookies: string[] = [];
    for (const line of lines) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === 'set-cookie') setCookies.push(value);
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    const answer = (body: Buffer): WireAnswer => ({
      answered: true,
      status,
      headers,
      setCookies,
      body: body.toString('utf8'),
    });
    if (isHead || status === 101 || status === 204 || status === 304) {
      return answer(Buffer.alloc(0));
    }
    if (/\bchunked\b/i.test(headers['transfer-encoding'] ?? '')) {
      const body = decodeChunked(data.subarray(bodyStart));
      return body ? answer(body) : incomplete('closed mid-body');
    }
    if (headers['content-length'] !== undefined) {
      const length = Number(headers['content-length']);
      if (data.length - bodyStart >= length) {
        return answer(data.subarray(bodyStart, bodyStart + length));
      }
      return incomplete('closed mid-body');
    }
    // Delimited by the end of the connection.
    return closed ? answer(data.subarray(bodyStart)) : undefined;
  }
}

/** A chunked body, decoded; undefined until its last chunk has arrived. */
function decodeChunked(data: Buffer): Buffer | undefined {
  const parts: Buffer[] = [];
  let offset = 0;
  for (;;) {
    const lineEnd = data.indexOf('\r\n', offset);
    if (lineEnd === -1) return undefined;
    const size = Number.parseInt(data.subarray(offset, lineEnd).toString('latin1'), 16);
    if (Number.isNaN(size)) return Buffer.concat(parts);
    if (size === 0)
      return data.indexOf('\r\n', lineEnd + 2) === -1 ? undefined : Buffer.concat(parts);
    if (data.length < lineEnd + 2 + size + 2) return undefined;
    parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
    offset = lineEnd + 2 + size + 2;
  }
}
