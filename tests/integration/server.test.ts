import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BACKENDS,
  createPostgresDatabase,
  personalInventoryOf,
  dropPostgresDatabase,
  urlForDatabase,
} from '../helpers/database.ts';
import { sql } from 'kysely';
import { registerInDatabase, signIn, startSite } from '../helpers/site.ts';
import { CLIENT_DIR } from '../../scripts/build-if-stale.ts';
import { runScript, startServer } from '../helpers/server.ts';
import { TcpProxy } from '../helpers/tcp-proxy.ts';

const dataDirs: string[] = [];
function tempDataDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'pacil-data-'));
  dataDirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
});

async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (await check()) return Date.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`condition not met within ${timeoutMs} ms`);
}

async function healthStatus(url: string): Promise<number> {
  try {
    return (await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(4_000) })).status;
  } catch {
    return 0;
  }
}

describe('the production server on the embedded database', () => {
  it('answers /healthz, keeps its data across a restart, and stops cleanly on SIGTERM', async () => {
    const dataDir = tempDataDir();
    const first = await startServer({ DATA_DIR: dataDir });
    const health = await fetch(`${first.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    expect(health.headers.get('x-frame-options')).toBe('DENY');
    expect(first.output()).toContain('applied migrations');
    // One plain line among the JSON logs says where to open the site (HOST is 127.0.0.1).
    expect(first.output()).toMatch(
      new RegExp(
        `^Pacil Inventory is running at http://localhost:${new URL(first.url).port}$`,
        'm',
      ),
    );

    // A keep-alive connection left open must not hold the stop up.
    const agent = new http.Agent({ keepAlive: true });
    await new Promise<void>((resolve, reject) =>
      http
        .get(`${first.url}/healthz`, { agent }, (res) => res.resume().on('end', resolve))
        .on('error', reject),
    );
    const stopped = await first.stop('SIGTERM');
    agent.destroy();
    expect(stopped.code).toBe(0);
    expect(stopped.ms).toBeLessThan(10_000);

    const second = await startServer({ DATA_DIR: dataDir });
    // The schema was kept: nothing left to migrate.
    expect(second.output()).not.toContain('applied migrations');
    expect((await second.stop('SIGINT')).code).toBe(0);
  });

  it('serves the built files itself: hashed ones cached for good, the rest revalidated', async () => {
    const server = await startServer({ DATA_DIR: tempDataDir() });
    try {
      const stylesheet = await fetch(`${server.url}/site.css`);
      expect(stylesheet.status).toBe(200);
      expect(stylesheet.headers.get('content-type')).toMatch(/^text\/css/);
      expect(stylesheet.headers.get('cache-control')).toBe('public, max-age=0');
      expect(stylesheet.headers.get('x-content-type-options')).toBe('nosniff');
      const etag = stylesheet.headers.get('etag')!;
      // node:http, since fetch adds `Cache-Control: no-cache` to a conditional request.
      const revalidated = await new Promise<number | undefined>((resolve, reject) =>
        http
          .get(`${server.url}/site.css`, { headers: { 'If-None-Match': etag } }, (res) => {
            res.resume();
            resolve(res.statusCode);
          })
          .on('error', reject),
      );
      expect(revalidated).toBe(304);
      const head = await fetch(`${server.url}/site.css`, { method: 'HEAD' });
      expect([head.status, head.headers.get('content-length')]).toEqual([
        200,
        String((await stylesheet.text()).length),
      ]);

      // A hashed bundle file never changes under its name.
      const bundled = readdirSync(path.join(CLIENT_DIR, '_astro')).find((file) =>
        file.endsWith('.js'),
      );
      const island = await fetch(`${server.url}/_astro/${bundled}`);
      expect(island.status).toBe(200);
      expect(island.headers.get('content-type')).toMatch(/^text\/javascript/);
      expect(island.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');

      // Anything else is the site's: a missing file, another method, an undecodable address.
      const missing = await fetch(`${server.url}/_astro/no-such-file.js`, { redirect: 'manual' });
      expect(missing.status).not.toBe(200);
      expect(missing.headers.get('cache-control') ?? '').not.toContain('immutable');
      const posted = await fetch(`${server.url}/site.css`, { method: 'POST' });
      expect(posted.status).toBe(403);
      const undecodable = await fetch(`${server.url}/items/%ZZ/edit`);
      expect(undecodable.status).toBe(400);
      expect(undecodable.headers.get('x-frame-options')).toBe('DENY');
    } finally {
      await server.stop('SIGTERM');
    }
  });

  it('refuses to start with a bad setting, naming the variable', async () => {
    const result = await runScript('scripts/start.ts', { PORT: 'abc' });
    expect(result.code).toBe(1);
    expect(result.output).toContain('PORT');
    expect(result.output).not.toContain('    at ');
  });
});

describe.runIf(process.env.TEST_DATABASE_URL)('the production server on PostgreSQL', () => {
  it('answers 503 while the database is cut off and recovers by itself', async () => {
    const name = await createPostgresDatabase();
    const target = new URL(urlForDatabase(name));
    const proxy = new TcpProxy(target.hostname, Number(target.port || 5432));
    await proxy.start();
    const viaProxy = new URL(target);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    const server = await startServer({ DATABASE_URL: viaProxy.toString() });
    try {
      expect(server.output()).toContain('"database":"postgres"');
      expect(await healthStatus(server.url)).toBe(200);

      await proxy.cut();
      const downAfter = await waitFor(async () => (await healthStatus(server.url)) === 503, 5_000);
      expect(downAfter).toBeLessThan(5_000);
      const page = await fetch(`${server.url}/healthz`);
      expect(page.status).toBe(503);
      expect(server.process.exitCode).toBeNull();

      await proxy.restore();
      const upAfter = await waitFor(async () => (await healthStatus(server.url)) === 200, 10_000);
      expect(upAfter).toBeLessThan(10_000);
    } finally {
      // On failure, what the server printed last (a crash's stack, say).
      expect((await server.stop()).code, server.output().slice(-3000)).toBe(0);
      await proxy.cut();
      await dropPostgresDatabase(name);
    }
  });
});

describe.each(BACKENDS)('the production server on %s, stopping', (backend) => {
  it('stops cleanly after clients it refused left with bytes still on their way', async () => {
    const site = await startSite(backend);
    const { server } = site;
    const { hostname, port } = new URL(server.url);
    // Answered by the Node front on the socket itself: a CONNECT, and a request line it
    // cannot parse. Each client then sends more than the connection can carry at once and
    // leaves: what it sent waits in the kernel behind the bytes nobody reads, with its close.
    const openings = [
      'CONNECT example.test:443 HTTP/1.1\r\nHost: example.test\r\n\r\n',
      'GET /\x01 HTTP/1.1\r\n\r\n',
    ];
    const answers = await Promise.all(
      openings.map(async (opening) => {
        const socket = net.connect(Number(port), hostname);
        socket.on('error', () => undefined);
        socket.write(opening, 'latin1');
        const [answer] = (await once(socket, 'data')) as [Buffer];
        socket.write(Buffer.alloc(8 * 1024 * 1024, 120));
        await new Promise((resolve) => setTimeout(resolve, 200));
        socket.destroy();
        return answer.toString('latin1').split('\r\n', 1)[0];
      }),
    );
    expect(answers).toEqual(['HTTP/1.1 405 Method Not Allowed', 'HTTP/1.1 400 Bad Request']);
    const stopped = await Promise.race([
      server.stop('SIGTERM'),
      new Promise<{ code: string }>((resolve) =>
        setTimeout(() => resolve({ code: 'hung' }), 20_000),
      ),
    ]);
    if (stopped.code !== 0) await server.stop('SIGKILL');
    await site.close();
    expect(stopped.code).toBe(0);
  });
});

describe.each(BACKENDS)('the production server on %s, closing a connection', (backend) => {
  it('delivers a long answer in full to a client whose request body came after its headers', async () => {
    // A GET may carry a body, which the site never reads. Sent just behind the headers, it
    // reaches a server busy streaming an export of about 1.4 MB (over one batch of 1,000
    // items, so it is streamed in chunks rather than answered as one string).
    const site = await startSite(backend, async (db) => {
      const userId = await registerInDatabase(db, 'closing_owner');
      await sql`
        insert into items (inventory_id, created_by, name, amount, description)
        select ${await personalInventoryOf(db, userId)}, ${userId}, 'Item ' || g, g, repeat('x<&>"', 200) from generate_series(1, 1200) as g
      `.execute(db);
    });
    try {
      const client = await signIn(site.url, 'closing_owner');
      const { hostname, port, host } = new URL(site.url);
      const body = '{"a":1,"a":2,"__proto__":{"x":1},"b":[1,2]}';
      const exportWithBody = () =>
        new Promise<string>((resolve) => {
          const socket = net.connect(Number(port), hostname);
          socket.write(
            `GET /xml/ HTTP/1.1\r\nHost: ${host}\r\nCookie: ${client.cookie}\r\n` +
              `X-Forwarded-For: ${client.address}\r\nContent-Type: application/json\r\n` +
              `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
          );
          setTimeout(() => socket.write(body), 5);
          const received: Buffer[] = [];
          socket.on('data', (chunk: Buffer) => received.push(chunk));
          socket.on('end', () => {
            const answer = Buffer.concat(received).toString('latin1');
            resolve(answer.endsWith('</django-objects>\r\n0\r\n\r\n') ? 'complete' : 'cut short');
          });
          socket.on('error', (error) =>
            resolve(`${error.message} after ${received.length} chunks`),
          );
        });
      // Without a lingering close, most of these end in a reset on the embedded database.
      const outcomes: string[] = [];
      for (let attempt = 0; attempt < 20; attempt += 1) outcomes.push(await exportWithBody());
      expect(outcomes).toEqual(Array(20).fill('complete'));
    } finally {
      await site.close();
    }
  }, 120_000);
});
