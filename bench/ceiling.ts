/**
 * The raw ceiling: a plain node:http server with a `pg` pool of the site's size that does
 * the work of the site's GET /json/ and nothing else. It validates the session the way the
 * site does (SHA-256 of the `sessionid` cookie's token, then one query joining sessions and
 * active users, expiry checked), selects the user's items in id order, and writes the bytes
 * of the site's serializer (serializeItems, the same module). No framework, no middleware,
 * no logging: what Node.js and PostgreSQL can do at all for this request.
 *
 * Env: DATABASE_URL, HOST, PORT, DB_POOL_SIZE (10). Answers /json/ and /healthz only.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import pg from 'pg';
import { serializeItems, type ExportItem } from '../src/lib/server/export/django-format.ts';

const pool = new pg.Pool({
  connectionString: process.env.DATABASE_URL,
  max: Number(process.env.DB_POOL_SIZE || 10),
});
pool.on('error', () => undefined);

const SESSION_QUERY = `
  select sessions.id, sessions.user_id, sessions.expires_at, users.username
  from sessions
  left join users on users.id = sessions.user_id and users.is_active = true
  where sessions.id = $1`;
const ITEMS_QUERY = `
  select id, created_by as user_id, name, amount, description from items
  where inventory_id in (select inventory_id from memberships where user_id = $1) order by id`;

interface SessionRow {
  id: string;
  user_id: number;
  expires_at: Date;
  username: string | null;
}

function sessionToken(cookieHeader: string | undefined): string | undefined {
  const token = /(?:^|;\s*)sessionid=([^;]*)/.exec(cookieHeader ?? '')?.[1];
  // The shape the site issues (sessions.ts): anything else skips the database there too.
  return token !== undefined && /^[A-Za-z0-9_-]{20,64}$/.test(token) ? token : undefined;
}

async function userIdFor(token: string | undefined): Promise<number | undefined> {
  if (token === undefined) return undefined;
  const sessionId = createHash('sha256').update(token).digest('hex');
  const { rows } = await pool.query<SessionRow>(SESSION_QUERY, [sessionId]);
  const row = rows[0];
  if (!row || row.username === null || Date.now() >= row.expires_at.getTime()) return undefined;
  return row.user_id;
}

async function jsonExport(res: http.ServerResponse, cookie: string | undefined): Promise<void> {
  const userId = await userIdFor(sessionToken(cookie));
  if (userId === undefined) {
    res.writeHead(401, { 'Content-Type': 'application/json' }).end('{"error":"unauthorized"}');
    return;
  }
  const { rows } = await pool.query<{
    id: number;
    user_id: number;
    name: string;
    amount: number;
    description: string;
  }>(ITEMS_QUERY, [userId]);
  const items: ExportItem[] = rows.map((row) => ({
    id: row.id,
    userId: row.user_id,
    name: row.name,
    amount: row.amount,
    description: row.description,
  }));
  res
    .writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' })
    .end(serializeItems('json', items));
}

const server = http.createServer((req, res) => {
  const path = (req.url ?? '/').split('?', 1)[0];
  if (req.method === 'GET' && path === '/json/') {
    jsonExport(res, req.headers.cookie).catch((error: unknown) => {
      process.stderr.write(`ceiling: ${String(error)}\n`);
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  } else if (path === '/healthz') {
    pool.query('select 1').then(
      () => res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok'),
      () => res.writeHead(503).end(),
    );
  } else {
    res.writeHead(404).end();
  }
});

server.listen(Number(process.env.PORT || 0), process.env.HOST || '127.0.0.1');

function stop(): void {
  server.close();
  server.closeAllConnections();
  void pool.end().finally(() => process.exit(0));
}
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
