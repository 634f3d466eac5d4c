import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_REQUESTS_PER_MINUTE } from '../../src/lib/server/api/request-budget.ts';
import { BACKENDS } from '../helpers/database.ts';
import { PASSWORD, SiteClient, signUp, startSite, type Site } from '../helpers/site.ts';
import {
  createTokenThroughSettings,
  exportObjects,
  expectNoInternals,
  expectSecurityHeaders,
  postForm,
  rawRequest,
  tokenStatus,
} from './kit.ts';

/**
 * Requests that made the server answer 500, or quietly do the wrong thing: methods the
 * adapter cannot carry, a Host with credentials, ids that are not ids, a forwarded address
 * that is not an address, an idempotency key reused for another request, a client that
 * sends its headers slowly, and a session that calls the API without a limit.
 */

const HEADERS_TIMEOUT_MS = 3_000;

describe.each(BACKENDS)('odd requests on %s', (backend) => {
  let site: Site;

  beforeAll(async () => {
    // Seconds rather than the default minute, so that the slow-headers test is quick.
    site = await startSite(backend, undefined, {
      HEADERS_TIMEOUT_SECONDS: String(HEADERS_TIMEOUT_MS / 1000),
    });
  });

  afterAll(async () => {
    await site?.close();
  });

  describe('what the Node front answers itself', () => {
    it('answers methods the site does not answer with 405 and Allow, never a 5xx', async () => {
      for (const method of ['TRACE', 'PROPFIND', 'MKCOL', 'PURGE', 'LINK']) {
        for (const path of ['/', '/api/items', '/login/', '/site.css']) {
          const response = await rawRequest(site.url, { method, path });
          expect(response.status, `${method} ${path}`).toBe(405);
          expect(response.headers.allow, `${method} ${path}`).toContain('GET');
          expectSecurityHeaders(response.headers, `${method} ${path}`);
        }
      }
    });

    it('refuses a Host header that is not a host with 400', async () => {
      for (const host of [
        'a@127.0.0.1',
        'user:pass@localhost',
        '127.0.0.1/x',
        '1.2.3.999',
        'a b',
      ]) {
        for (const path of ['/', '/login/', '/api/items']) {
          const response = await rawRequest(site.url, { path, headers: { Host: host } });
          expect(response.status, `Host ${JSON.stringify(host)} ${path}`).toBe(400);
          expectSecurityHeaders(response.headers, `Host ${host}`);
        }
      }
      // An ordinary one still works, with a port or without.
      for (const host of ['localhost', '127.0.0.1:8080', '[::1]:80', 'inventory.example']) {
        const response = await rawRequest(site.url, { path: '/healthz', headers: { Host: host } });
        expect(response.status, host).toBe(200);
      }
    });

    // The Node front answers it before any database is asked: one backend is enough.
    it.runIf(backend === BACKENDS[0])(
      'answers a client that is slow to send its headers with 408',
      async () => {
        const { hostname, port } = new URL(site.url);
        const socket = net.connect(Number(port), hostname);
        const started = performance.now();
        let answer = '';
        socket.setEncoding('utf8');
        socket.on('data', (chunk: string) => (answer += chunk));
        socket.write('GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: ');
        await new Promise((resolve) => socket.on('close', resolve));
        expect(answer).toMatch(/^HTTP\/1\.1 408 /);
        expect(answer).toMatch(/X-Content-Type-Options: nosniff/i);
        expect(performance.now() - started).toBeLessThan(HEADERS_TIMEOUT_MS + 5_000);
      },
      HEADERS_TIMEOUT_MS + 15_000,
    );
  });

  describe('ids and addresses', () => {
    it('reads ids strictly: out of range, exponents and hex revoke nothing and never 500', async () => {
      const owner = await signUp(site.url, `ids_${backend}`);
      const token = await createTokenThroughSettings(owner, 'kept through odd ids');
      const page = await (await owner.request('/settings/')).text();
      const id = Number(/data-token-id="(\d+)"/.exec(page)![1]);
      const odd = [
        '99999999999',
        '2147483648',
        '-1',
        '0',
        `${id}.0`,
        `${id}e0`,
        `0x${id.toString(16)}`,
        ` ${id}`,
        `${id} `,
        `+${id}`,
        '1e3',
        '',
      ];
      for (const tokenId of odd) {
        const response = await postForm(owner, '/settings/', {
          action: 'revoke-token',
          token_id: tokenId,
        });
        expect(response.status, JSON.stringify(tokenId)).toBe(303);
        expect(await tokenStatus(site.url, token), JSON.stringify(tokenId)).toBe(200);
      }
      for (const path of ['/api/items/99999999999', '/api/items/1e3', '/api/items/0x10']) {
        const response = await owner.request(path);
        expect(response.status, path).toBe(404);
      }
    });

    it('ignores a forwarded address that is not an IP address', async () => {
      // Random, so that the database cannot compress a key made of it into an index row.
      const long = () => randomBytes(1_350).toString('hex');
      for (const forwarded of [long(), `${'1.2.3.4, '.repeat(300)}${long()}`]) {
        const client = new SiteClient(site.url, undefined, forwarded);
        const signIn = await postForm(client, '/login/', { username: 'nobody', password: 'x' });
        expect(signIn.status).toBe(200);
        expectNoInternals(await signIn.text(), 'sign-in');
        const register = await postForm(client, '/register/', {
          username: '',
          password1: '',
          password2: '',
        });
        expect(register.status).toBe(200);
      }
      // An IPv6 address with a zone of any length counts as the address alone.
      const zoned = new SiteClient(site.url, undefined, `fe80::1%${long()}`);
      expect((await postForm(zoned, '/login/', { username: 'nobody', password: 'x' })).status).toBe(
        200,
      );
    });
  });

  it('registers a 150-character name that lower-cases to more characters', async () => {
    // `İ` lower-cases to two code points: the key is longer than the name.
    const username = 'İ'.repeat(150);
    const client = new SiteClient(site.url);
    const registered = await postForm(client, '/register/', {
      username,
      password1: PASSWORD,
      password2: PASSWORD,
    });
    expect(registered.status).toBe(303);
    const signedIn = await postForm(client, '/login/', { username, password: PASSWORD });
    expect(signedIn.status).toBe(303);
  });

  describe('idempotency keys', () => {
    it('refuses a key sent again with another item (422), and stores nothing', async () => {
      const owner = await signUp(site.url, `keys_${backend}`);
      const create = (json: unknown, key: string) =>
        owner.request('/api/items', { method: 'POST', json, headers: { 'Idempotency-Key': key } });
      const first = await create({ name: 'Battery', amount: 4 }, 'key-1');
      expect(first.status).toBe(201);
      const stored = await first.json();
      // The same request again is a retry: the stored item, nothing new.
      const retried = await create({ name: 'Battery', amount: 4 }, 'key-1');
      expect(retried.status).toBe(200);
      expect(await retried.json()).toEqual(stored);
      for (const other of [
        { name: 'Charger', amount: 1 },
        { name: 'Battery', amount: 5 },
        { name: 'Battery', amount: 4, description: 'AA' },
      ]) {
        const reused = await create(other, 'key-1');
        expect(reused.status, JSON.stringify(other)).toBe(422);
        expect(await reused.json()).toMatchObject({ error: { code: 'idempotency_key_reused' } });
      }
      expect((await exportObjects(owner)).map((o) => o.fields.name)).toEqual(['Battery']);
    });

    it('refuses a key shared by the add-item form and the API, whichever came first', async () => {
      const owner = await signUp(site.url, `shared_keys_${backend}`);
      const item = { name: 'Lamp', amount: '2', description: '' };
      const viaForm = await postForm(owner, '/create-item', { ...item, idempotency_key: 'k-form' });
      expect(viaForm.status).toBe(303);
      const viaApi = await owner.request('/api/items', {
        method: 'POST',
        json: { name: 'Lamp', amount: 2, description: '' },
        headers: { 'Idempotency-Key': 'k-form' },
      });
      expect(viaApi.status).toBe(422);

      const apiFirst = await owner.request('/api/items', {
        method: 'POST',
        json: { name: 'Desk', amount: 1, description: '' },
        headers: { 'Idempotency-Key': 'k-api' },
      });
      expect(apiFirst.status).toBe(201);
      const formAfter = await postForm(
        owner,
        '/create-item',
        { name: 'Desk', amount: '1', description: '', idempotency_key: 'k-api' },
        { headers: { Accept: 'text/html' } },
      );
      expect(formAfter.status).toBe(422);
      expect(await formAfter.text()).toContain('nothing was added');
      expect((await exportObjects(owner)).map((o) => o.fields.name).sort()).toEqual([
        'Desk',
        'Lamp',
      ]);
    });
  });

  it.runIf(backend === BACKENDS[0])(
    'limits a session’s API calls as a token’s: 600 a minute, then 429 with Retry-After',
    async () => {
      const owner = await signUp(site.url, `busy_session_${backend}`);
      let last: Response | undefined;
      for (let i = 0; i <= API_REQUESTS_PER_MINUTE; i += 1) {
        last = await owner.request('/api/items?limit=1');
        if (i < API_REQUESTS_PER_MINUTE) {
          expect(last.status, `request ${i + 1}`).toBe(200);
          await last.arrayBuffer();
        }
      }
      expect(last!.status).toBe(429);
      expect(Number(last!.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(await last!.json()).toMatchObject({ error: { code: 'too_many_requests' } });
      // The pages and another session go on as before.
      expect((await owner.request('/')).status).toBe(200);
      const other = await signUp(site.url, `calm_session_${backend}`);
      expect((await other.request('/api/items?limit=1')).status).toBe(200);
    },
  );
});
