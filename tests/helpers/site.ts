import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
} from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import type { Kysely } from 'kysely';
import { ROOT } from '../../scripts/build-if-stale.ts';
import { registerAccount } from '../../src/lib/server/auth/accounts.ts';
import { openDatabase, type Backend } from '../../src/lib/server/db/connect.ts';
import { migrateToLatest } from '../../src/lib/server/db/migrate.ts';
import type { Database } from '../../src/lib/server/db/types.ts';
import { createPostgresDatabase, dropPostgresDatabase, urlForDatabase } from './database.ts';
import { checkedFetch } from './openapi.ts';
import { startServer, type RunningServer } from './server.ts';

/**
 * The production server on a database of its own, and HTTP clients signed in to it the way
 * a browser is: by posting the register and sign-in forms and keeping the session cookie.
 */

export const PASSWORD = 'Correct-Horse-Battery-9';

export interface Site {
  url: string;
  server: RunningServer;
  /** The PostgreSQL database the server uses, for a test's own connection; undefined on PGlite. */
  databaseUrl: string | undefined;
  /** Stops the server and removes its database. */
  close(): Promise<void>;
}

/**
 * Starts the server on a fresh embedded database (a temp DATA_DIR holding a copy of an
 * empty, migrated one) or a fresh PostgreSQL database. `seed` runs on the migrated database
 * before the server opens it (the embedded database belongs to one process at a time).
 */
export async function startSite(
  backend: Backend,
  seed?: (db: Kysely<Database>) => Promise<void>,
  env: Record<string, string> = {},
): Promise<Site> {
  let databaseEnv: Record<string, string>;
  let removeDatabase: () => Promise<void>;
  if (backend === 'postgres') {
    const name = await createPostgresDatabase();
    databaseEnv = { DATABASE_URL: urlForDatabase(name) };
    removeDatabase = () => dropPostgresDatabase(name);
  } else {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'pacil-site-'));
    cpSync(await migratedDataDirTemplate(), dataDir, { recursive: true });
    databaseEnv = { DATA_DIR: dataDir };
    removeDatabase = async () => rmSync(dataDir, { recursive: true, force: true });
  }
  try {
    if (seed) {
      const handle = openDatabase({
        databaseUrl: databaseEnv.DATABASE_URL,
        dataDir: databaseEnv.DATA_DIR,
      });
      try {
        await migrateToLatest(handle.db);
        await seed(handle.db);
      } finally {
        await handle.close();
      }
    }
    // TRUST_PROXY lets each client present its own address, so the per-address
    // registration and sign-in limits never trip across tests.
    const server = await startServer({
      ...databaseEnv,
      TRUST_PROXY: 'true',
      LOG_LEVEL: 'warn',
      ...env,
    });
    return {
      url: server.url,
      server,
      databaseUrl: databaseEnv.DATABASE_URL,
      async close() {
        try {
          await server.stop();
        } finally {
          await removeDatabase();
        }
      },
    };
  } catch (error) {
    await removeDatabase();
    throw error;
  }
}

const TEMPLATES = path.join(ROOT, 'node_modules/.cache');
const TEMPLATE_PREFIX = 'pacil-pglite-template-';

/**
 * An empty, migrated embedded database to copy. Creating one (PGlite's initdb) takes many
 * seconds on a small machine, far longer than copying its files, so it is made once and
 * kept, named after what it depends on (the migrations and PGlite's version): a change to
 * either makes a new one. Made under another name and renamed, so that test processes
 * starting at the same time never see half of one.
 */
async function migratedDataDirTemplate(): Promise<string> {
  const hash = createHash('sha256');
  hash.update(readFileSync(path.join(ROOT, 'node_modules/@electric-sql/pglite/package.json')));
  const migrations = path.join(ROOT, 'db/migrations');
  for (const file of readdirSync(migrations).sort()) {
    hash.update(file).update(readFileSync(path.join(migrations, file)));
  }
  const name = `${TEMPLATE_PREFIX}${hash.digest('hex').slice(0, 16)}`;
  const template = path.join(TEMPLATES, name);
  if (existsSync(template)) return template;

  mkdirSync(TEMPLATES, { recursive: true });
  const building = mkdtempSync(path.join(TEMPLATES, 'pacil-pglite-building-'));
  try {
    const handle = openDatabase({ dataDir: building });
    try {
      await migrateToLatest(handle.db);
    } finally {
      await handle.close();
    }
    renameSync(building, template);
  } catch (error) {
    rmSync(building, { recursive: true, force: true });
    // Another process made it first.
    if (!existsSync(template)) throw error;
  }
  // Templates of older migrations are of no further use.
  for (const entry of readdirSync(TEMPLATES)) {
    if (entry.startsWith(TEMPLATE_PREFIX) && entry !== name) {
      rmSync(path.join(TEMPLATES, entry), { recursive: true, force: true });
    }
  }
  return template;
}

/** Registers `username` directly in the database (for seeding); returns the user's id. */
export async function registerInDatabase(db: Kysely<Database>, username: string): Promise<number> {
  const outcome = await registerAccount(
    db,
    { username, password1: PASSWORD, password2: PASSWORD },
    'seed',
  );
  if (outcome.status !== 'created') throw new Error(`not created: ${JSON.stringify(outcome)}`);
  return outcome.userId;
}

let lastAddress = 0;
/** A client address of its own (TEST-NET-2), for the per-address throttles. */
export function nextAddress(): string {
  lastAddress += 1;
  return `198.51.${Math.floor(lastAddress / 250) % 250}.${(lastAddress % 250) + 1}`;
}

export interface ClientRequest extends Omit<RequestInit, 'body' | 'headers'> {
  headers?: Record<string, string>;
  /** Sent as `application/json`. */
  json?: unknown;
  body?: BodyInit;
  /** The `Origin` header; defaults to the site's own for anything but GET and HEAD. */
  origin?: string | null;
  /** Required by fetch for a streamed body. */
  duplex?: 'half';
}

/** A client of one site with one address and, once signed in, one session cookie. */
export class SiteClient {
  readonly url: string;
  readonly address: string;
  cookie: string | undefined;

  constructor(url: string, cookie?: string, address = nextAddress()) {
    this.url = url;
    this.cookie = cookie;
    this.address = address;
  }

  /** The same client without its session. */
  anonymous(): SiteClient {
    return new SiteClient(this.url, undefined, this.address);
  }

  request(pathname: string, init: ClientRequest = {}): Promise<Response> {
    const { json, origin, headers: extra, ...rest } = init;
    const method = (init.method ?? 'GET').toUpperCase();
    const headers: Record<string, string> = { 'X-Forwarded-For': this.address };
    if (this.cookie) headers.Cookie = this.cookie;
    const sentOrigin =
      origin === undefined ? (['GET', 'HEAD'].includes(method) ? null : this.url) : origin;
    if (sentOrigin !== null) headers.Origin = sentOrigin;
    let body = init.body;
    if (json !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(json);
    }
    return checkedFetch(`${this.url}${pathname}`, {
      redirect: 'manual',
      ...rest,
      method,
      headers: { ...headers, ...extra },
      body,
    });
  }

  /** The body's bytes, for byte-for-byte comparisons. */
  async bytes(
    pathname: string,
    init?: ClientRequest,
  ): Promise<{ response: Response; body: Buffer }> {
    const response = await this.request(pathname, init);
    return { response, body: Buffer.from(await response.arrayBuffer()) };
  }
}

/** Registers `username` through the form, signs in, and returns the signed-in client. */
export async function signUp(url: string, username: string): Promise<SiteClient> {
  const client = new SiteClient(url);
  const form = (fields: Record<string, string>) => ({
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  });
  const registered = await client.request(
    '/register/',
    form({ username, password1: PASSWORD, password2: PASSWORD }),
  );
  if (registered.status !== 303) {
    throw new Error(`registration of ${username} answered ${registered.status}`);
  }
  return signIn(url, username, client.address);
}

/** Signs `username` in through the form and returns the client holding its session. */
export async function signIn(
  url: string,
  username: string,
  address = nextAddress(),
): Promise<SiteClient> {
  const client = new SiteClient(url, undefined, address);
  const response = await client.request('/login/', {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ username, password: PASSWORD }).toString(),
  });
  const session = response.headers
    .getSetCookie()
    .map((cookie) => cookie.split(';', 1)[0]!)
    .find((cookie) => cookie.startsWith('sessionid=') && cookie !== 'sessionid=');
  if (response.status !== 303 || !session) {
    throw new Error(`sign-in of ${username} answered ${response.status} without a session`);
  }
  client.cookie = session;
  return client;
}

/** CPU time (user + system, ms) a process has used so far, from /proc (ticks of 10 ms). */
export async function processCpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // The fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/**
 * An XML parser for the exports that keeps text exactly as written: no number parsing, no
 * trimming, only XML's own entities. Attributes are prefixed `@_`; `object` and `field`
 * are always arrays.
 */
export const strictXmlParser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  processEntities: true,
  htmlEntities: false,
  isArray: (name) => name === 'object' || name === 'field',
});
