import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BODY_LIMIT_BYTES } from '../../src/lib/server/request-body.ts';
import { BACKENDS } from '../helpers/database.ts';
import {
  PASSWORD,
  signUp,
  startSite,
  type ClientRequest,
  type Site,
  type SiteClient,
} from '../helpers/site.ts';
import {
  createItem,
  EVIL_ORIGIN,
  expectNoInternals,
  expectPageCsp,
  expectSecurityHeaders,
  FORM_TYPE,
  rawRequest,
  type RawResponse,
} from './kit.ts';

/**
 * What every response says about itself: the security headers whatever answered it (a
 * page, an error, a static file, the adapter), a strict CSP on every HTML page, HSTS only
 * over HTTPS, no host name but our own in links and redirects, the site's own 404 page, and
 * no stack trace or file path in any error.
 */

interface Kind {
  label: string;
  path: string;
  init?: ClientRequest;
  status: number;
  /** Anonymous instead of signed in. */
  anonymous?: boolean;
}

const HSTS = /^max-age=\d{7,}/;

describe.each(BACKENDS)('response headers on %s', (backend) => {
  let site: Site;
  let alice: SiteClient;
  let itemId: number;
  let scriptPath: string;

  beforeAll(async () => {
    site = await startSite(backend);
    alice = await signUp(site.url, `headers_alice_${backend}`);
    itemId = (await createItem(alice, { name: 'Lamp', amount: 1 })).id;
    const main = await (await alice.request('/')).text();
    scriptPath = /component-url="(\/_astro\/[^"]+\.js)"/.exec(main)![1]!;
  });

  afterAll(async () => {
    await site?.close();
  });

  /** One request of every kind of response the site gives. */
  function kinds(): Kind[] {
    const html = { Accept: 'text/html' };
    const tooLarge = 'x'.repeat(BODY_LIMIT_BYTES + 1);
    return [
      { label: 'page', path: '/', status: 200 },
      { label: 'page (HEAD)', path: '/', init: { method: 'HEAD' }, status: 200 },
      { label: 'sign-in page', path: '/login/', status: 200, anonymous: true },
      { label: 'edit page', path: `/items/${itemId}/edit`, status: 200 },
      { label: 'settings page', path: '/settings/', status: 200 },
      { label: '404 page', path: '/no-such-page', status: 404 },
      { label: '404 page (anonymous)', path: '/login/no-such-page', status: 404, anonymous: true },
      { label: '404 page (item)', path: '/items/2147483647/edit', status: 404 },
      { label: 'static stylesheet', path: '/site.css', status: 200, anonymous: true },
      { label: 'static icon', path: '/favicon.svg', status: 200, anonymous: true },
      { label: 'static script', path: scriptPath, status: 200, anonymous: true },
      { label: 'JSON endpoint', path: '/api/items', status: 200 },
      { label: 'OpenAPI document', path: '/api/openapi.json', status: 200, anonymous: true },
      { label: 'JSON export', path: '/json/', status: 200 },
      { label: 'XML export', path: '/xml/', status: 200 },
      { label: 'health check', path: '/healthz', status: 200, anonymous: true },
      { label: 'redirect to sign in', path: '/', status: 302, anonymous: true },
      {
        label: 'redirect after a form',
        path: '/create-item',
        init: { method: 'POST', headers: { 'Content-Type': FORM_TYPE }, body: 'name=A&amount=1' },
        status: 303,
      },
      {
        label: '413 (JSON)',
        path: '/api/items',
        init: { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: tooLarge },
        status: 413,
      },
      {
        label: '413 (HTML)',
        path: '/create-item',
        init: { method: 'POST', headers: { ...html, 'Content-Type': FORM_TYPE }, body: tooLarge },
        status: 413,
      },
      { label: '405 (JSON)', path: '/', init: { method: 'PUT' }, status: 405 },
      { label: '405 (HTML)', path: '/', init: { method: 'PUT', headers: html }, status: 405 },
      { label: '405 (endpoint)', path: '/json/', init: { method: 'POST' }, status: 405 },
      {
        label: '400 (bad JSON)',
        path: '/api/items',
        init: { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{' },
        status: 400,
      },
      {
        label: '400 (bad form, HTML)',
        path: '/create-item',
        init: { method: 'POST', headers: { ...html, 'Content-Type': FORM_TYPE }, body: 'name=%zz' },
        status: 400,
      },
      { label: '400 (bad URL, the adapter)', path: '/items/%ZZ/edit', status: 400 },
      {
        label: '415',
        path: '/api/items',
        init: { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: '{}' },
        status: 415,
      },
      { label: '401', path: '/api/items', status: 401, anonymous: true },
      {
        label: '403 (cross-site form, Astro)',
        path: '/create-item',
        init: {
          method: 'POST',
          origin: EVIL_ORIGIN,
          headers: { 'Content-Type': FORM_TYPE },
          body: 'a=1',
        },
        status: 403,
      },
      {
        label: '403 (cross-site JSON)',
        path: '/api/items',
        init: { method: 'POST', origin: EVIL_ORIGIN, json: {} },
        status: 403,
      },
      {
        label: '403 (cross-site, HTML)',
        path: '/settings/',
        init: {
          method: 'POST',
          origin: EVIL_ORIGIN,
          headers: { ...html, 'Content-Type': 'application/json' },
          body: '{}',
        },
        status: 403,
      },
    ];
  }

  async function fetchKind(kind: Kind, headers: Record<string, string> = {}) {
    const client = kind.anonymous ? alice.anonymous() : alice;
    const init = kind.init ?? {};
    return client.request(kind.path, { ...init, headers: { ...init.headers, ...headers } });
  }

  it('carries the security headers on every kind of response, and a CSP on every HTML page', async () => {
    let pages = 0;
    for (const kind of kinds()) {
      const response = await fetchKind(kind);
      expect(response.status, kind.label).toBe(kind.status);
      expectSecurityHeaders(response.headers, kind.label);
      // Plain HTTP: no HSTS (it would pin the name to HTTPS for a year).
      expect(response.headers.get('strict-transport-security'), kind.label).toBeNull();
      if ((response.headers.get('content-type') ?? '').startsWith('text/html')) {
        expectPageCsp(response.headers, kind.label);
        pages += 1;
      }
      const body = await response.text();
      if (kind.status >= 400) expectNoInternals(body, kind.label);
    }
    expect(pages).toBeGreaterThanOrEqual(12);
  });

  it('sends Strict-Transport-Security when a trusted proxy says the request came over HTTPS', async () => {
    for (const kind of kinds()) {
      const response = await fetchKind(kind, { 'X-Forwarded-Proto': 'https' });
      expect(response.headers.get('strict-transport-security'), kind.label).toMatch(HSTS);
      expectSecurityHeaders(response.headers, kind.label);
      await response.body?.cancel();
    }
    const plain = await alice.request('/', { headers: { 'X-Forwarded-Proto': 'http' } });
    expect(plain.headers.get('strict-transport-security')).toBeNull();
  });

  it('marks the session cookie Secure over HTTPS only', async () => {
    const { host } = new URL(site.url);
    const signIn = (headers: Record<string, string>) => {
      const body = new URLSearchParams({
        username: `headers_alice_${backend}`,
        password: PASSWORD,
      }).toString();
      return rawRequest(site.url, {
        method: 'POST',
        path: '/login/',
        headers: {
          Host: host,
          'Content-Type': FORM_TYPE,
          'Content-Length': String(body.length),
          ...headers,
        },
        chunks: [body],
      });
    };
    const cookies = (response: RawResponse) => response.headers['set-cookie'] ?? [];
    const https = await signIn({ 'X-Forwarded-Proto': 'https', Origin: `https://${host}` });
    expect(https.status).toBe(303);
    const session = cookies(https).find((cookie) => cookie.startsWith('sessionid='));
    expect(session).toMatch(/;\s*Secure/i);
    expect(session).toMatch(/;\s*HttpOnly/i);
    expect(session).toMatch(/;\s*SameSite=Lax/i);
    const http = await signIn({ Origin: `http://${host}` });
    expect(http.status).toBe(303);
    expect(cookies(http).find((cookie) => cookie.startsWith('sessionid='))).not.toMatch(
      /;\s*Secure/i,
    );
  });

  it('never puts a Host or X-Forwarded-Host name into redirects or pages', async () => {
    const forged = {
      Host: 'evil.example',
      'X-Forwarded-Host': 'evil.example',
      'X-Forwarded-Proto': 'https',
      'X-Forwarded-Port': '8443',
    };
    const requests: Array<{
      method?: string;
      path: string;
      headers?: Record<string, string>;
      body?: string;
    }> = [
      { path: '/' },
      { path: '/', headers: { Cookie: alice.cookie! } },
      { path: '/?page=2&limit=10', headers: { Cookie: alice.cookie! } },
      { path: `/items/${itemId}/edit`, headers: { Cookie: alice.cookie! } },
      { path: '/no-such-page', headers: { Cookie: alice.cookie! } },
      { path: '/json/', headers: { Accept: 'text/html' } },
      { path: '/login/' },
      { path: '/logout/', headers: { Cookie: alice.cookie! } },
      { path: '/api/openapi.json' },
      {
        method: 'POST',
        path: '/login/?next=%2Fsettings%2F',
        headers: { 'Content-Type': FORM_TYPE, Origin: 'http://evil.example' },
        body: new URLSearchParams({
          username: `headers_alice_${backend}`,
          password: PASSWORD,
        }).toString(),
      },
      {
        method: 'POST',
        path: '/create-item',
        headers: {
          'Content-Type': FORM_TYPE,
          Origin: 'http://evil.example',
          Cookie: alice.cookie!,
        },
        body: 'name=Hosted&amount=1',
      },
      { method: 'PUT', path: '/', headers: { Accept: 'text/html', Cookie: alice.cookie! } },
    ];
    for (const request of requests) {
      // With and without a Host of the forger's choice (the proxy passes one through).
      for (const host of [forged, { 'X-Forwarded-Host': 'evil.example' }]) {
        const headers: Record<string, string> = { ...host, ...request.headers };
        if (request.body !== undefined) headers['Content-Length'] = String(request.body.length);
        const response = await rawRequest(site.url, {
          method: request.method,
          path: request.path,
          headers,
          chunks: request.body === undefined ? undefined : [request.body],
        });
        const label = `${request.method ?? 'GET'} ${request.path} ${JSON.stringify(host)}`;
        expect(response.status, label).toBeLessThan(500);
        const location = response.headers.location;
        if (location !== undefined) {
          // Relative, on this site: one slash, never `//host` or a scheme.
          expect(location, label).toMatch(/^\/(?![/\\])/);
        }
        expect(JSON.stringify(response.headers), label).not.toContain('evil.example');
        expect(response.body, label).not.toContain('evil.example');
        expect(response.body, label).not.toContain('8443');
      }
    }
  });

  it('carries the security headers on the answers Node gives to requests it cannot parse', async () => {
    const { hostname, port } = new URL(site.url);
    const answer = (raw: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = net.connect(Number(port), hostname, () => socket.write(raw));
        let text = '';
        socket.on('data', (chunk) => (text += chunk.toString('latin1')));
        socket.on('end', () => resolve(text));
        socket.on('error', reject);
      });
    const broken = await answer('GET /\u0001 HTTP/1.1\r\nHost: x\r\n\r\n');
    const oversized = await answer(
      `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
    );
    for (const [response, status] of [
      [broken, 400],
      [oversized, 431],
    ] as const) {
      expect(response).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
      expect(response).toMatch(/\r\nX-Frame-Options: DENY\r\n/);
      expect(response).toMatch(/\r\nX-Content-Type-Options: nosniff\r\n/);
      expect(response).toMatch(/\r\nReferrer-Policy: same-origin\r\n/);
      expect(response).toMatch(/\r\nCross-Origin-Opener-Policy: same-origin\r\n/);
    }
  });

  it('keeps reading and dropping what a client still sends after it refused oversized headers', async () => {
    // Node's parser reports each later chunk of a refused request as an error of its own.
    // Taken as a new unparsable request, it reset the connection, and a client still
    // sending lost the answer it had not yet read (once in ~25,000 fuzz requests).
    const { hostname, port } = new URL(site.url);
    const socket = net.connect({ port: Number(port), host: hostname, allowHalfOpen: true });
    const events: string[] = [];
    socket.on('data', (chunk: Buffer) => events.push(chunk.toString('latin1').split('\r\n')[0]!));
    socket.on('error', (error) => events.push(`error: ${error.message}`));
    socket.write(`GET /?q=${'a'.repeat(20_000)}`);
    for (let chunk = 0; chunk < 6; chunk += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      if (socket.destroyed) break;
      socket.write('a'.repeat(40_000));
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    socket.destroy();
    expect(events).toEqual(['HTTP/1.1 431 Request Header Fields Too Large']);
  });

  it('answers unknown addresses with the site’s own 404 page', async () => {
    for (const [client, path] of [
      [alice, '/no-such-page'],
      [alice, '/items/2147483647/edit'],
      [alice, `/items/${itemId}/nothing`],
      [alice.anonymous(), '/login/no-such-page'],
    ] as const) {
      const response = await client.request(path);
      expect(response.status, path).toBe(404);
      expect(response.headers.get('content-type'), path).toMatch(/^text\/html/);
      const html = await response.text();
      expect(html, path).toContain('<title>Not found · Pacil Inventory</title>');
      expect(html, path).toContain('<link rel="stylesheet" href="/site.css">');
      expect(html, path).toContain('href="/">Back to the inventory</a>');
      expectPageCsp(response.headers, path);
      expectNoInternals(html, path);
    }
  });

  it('shows no stack trace or file path in any error, whatever the input', async () => {
    const probes: Array<[string, ClientRequest?]> = [
      ['/api/items/%00'],
      ['/items/%ZZ/edit'],
      ['/..%2f..%2fetc/passwd'],
      ['/%2e%2e/%2e%2e/etc/passwd'],
      ['/_astro/no-such-file.js'],
      ['/_image'],
      ['/_image?href=http://evil.example/x.png'],
      ['/_server-islands/nothing'],
      ['/_actions/nothing', { method: 'POST', json: {} }],
      ['/api/items?limit=abc&page=-1&sort=%27'],
      [
        '/api/items',
        { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '[' },
      ],
      [
        '/api/items',
        { method: 'POST', headers: { 'Content-Type': 'multipart/form-data' }, body: 'x' },
      ],
      [
        '/create-item',
        {
          method: 'POST',
          headers: { 'Content-Type': 'multipart/form-data; boundary=z' },
          body: '--z\r\n',
        },
      ],
      [
        '/create-item',
        {
          method: 'POST',
          headers: { 'Content-Type': FORM_TYPE, Accept: 'text/html' },
          body: '%E0%A4',
        },
      ],
      [
        '/login/',
        {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Accept: 'text/html' },
          body: '{}',
        },
      ],
    ];
    for (const [path, init] of probes) {
      const response = await alice.request(path, init);
      const body = await response.text();
      expect(response.status, path).toBeGreaterThanOrEqual(400);
      expect(response.status, path).toBeLessThan(500);
      expectSecurityHeaders(response.headers, path);
      expectNoInternals(body, path);
    }
  });

  describe.runIf(backend === BACKENDS[0])('without TRUST_PROXY', () => {
    let direct: Site;
    let bob: SiteClient;

    beforeAll(async () => {
      // The quicker backend to start: PostgreSQL when there is one.
      direct = await startSite(BACKENDS.at(-1)!, undefined, { TRUST_PROXY: 'false' });
      bob = await signUp(direct.url, 'headers_direct_bob');
    });

    afterAll(async () => {
      await direct?.close();
    });

    it('ignores X-Forwarded-Proto: no HSTS, no Secure cookie', async () => {
      for (const path of ['/', '/site.css', '/api/items', '/nope']) {
        const response = await bob.request(path, { headers: { 'X-Forwarded-Proto': 'https' } });
        expectSecurityHeaders(response.headers, path);
        expect(response.headers.get('strict-transport-security'), path).toBeNull();
        await response.body?.cancel();
      }
      const { host } = new URL(direct.url);
      const body = new URLSearchParams({
        username: 'headers_direct_bob',
        password: PASSWORD,
      }).toString();
      const signedIn = await rawRequest(direct.url, {
        method: 'POST',
        path: '/login/',
        headers: {
          Host: host,
          Origin: `http://${host}`,
          'X-Forwarded-Proto': 'https',
          'Content-Type': FORM_TYPE,
          'Content-Length': String(body.length),
        },
        chunks: [body],
      });
      expect(signedIn.status).toBe(303);
      expect(signedIn.headers['strict-transport-security']).toBeUndefined();
      const session = (signedIn.headers['set-cookie'] ?? []).find((c) =>
        c.startsWith('sessionid='),
      );
      expect(session).not.toMatch(/;\s*Secure/i);
      // Nor does a forged https Origin pass for the site's own.
      const forged = await rawRequest(direct.url, {
        method: 'POST',
        path: '/create-item',
        headers: {
          Host: host,
          Origin: `https://${host}`,
          'X-Forwarded-Proto': 'https',
          Cookie: bob.cookie!,
          'Content-Type': FORM_TYPE,
          'Content-Length': '15',
        },
        chunks: ['name=X&amount=1'],
      });
      expect(forged.status).toBe(403);
    });
  });
});
