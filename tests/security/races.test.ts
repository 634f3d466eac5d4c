import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_TOKENS_PER_USER } from '../../src/lib/server/auth/tokens.ts';
import { REGISTRATION_POLICY, SIGN_IN_POLICY } from '../../src/lib/server/auth/throttle.ts';
import type { Kysely } from 'kysely';
import type { Database } from '../../src/lib/server/db/types.ts';
import { BACKENDS } from '../helpers/database.ts';
import { startServer, type RunningServer } from '../helpers/server.ts';
import {
  nextAddress,
  PASSWORD,
  registerInDatabase,
  SiteClient,
  signIn,
  startSite,
  type Site,
} from '../helpers/site.ts';
import { postForm } from './kit.ts';

/**
 * Limits raced: a limit that checks first and counts after the work lets a burst of
 * parallel requests through the check all at once. Every limit counts before the work, in
 * the database, so the burst gets exactly what the limit allows — from one server process
 * or from two sharing PostgreSQL. And a burst of slow password checks must not stall the
 * sign-in of everyone else.
 */

/** A Django PBKDF2 hash of `iterations` that matches no password: the cost without a user. */
const slowDjangoHash = (iterations: number) =>
  `pbkdf2_sha256$${iterations}$${randomBytes(9).toString('base64url')}$${randomBytes(32).toString('base64')}`;

/** Users still on a Django hash (the import brings them): each check costs its iterations. */
async function seedImportedUsers(db: Kysely<Database>, names: string[], iterations: number) {
  await db
    .insertInto('users')
    .values(
      names.map((username) => ({
        username,
        username_key: username,
        password_hash: slowDjangoHash(iterations),
      })),
    )
    .execute();
}

/** Two to learn what one check costs, and twelve for the burst. */
const SLOW_USERS = 14;
const slowUser = (i: number) => `slow_user_${i}`;
/** The most iterations the import accepts: the slowest check a user can cost. */
const SLOW_ITERATIONS = 2_000_000;

function countStatuses(responses: Response[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const { status } of responses) counts.set(status, (counts.get(status) ?? 0) + 1);
  return counts;
}

describe.each(BACKENDS)('limits under parallel requests on %s', (backend) => {
  let site: Site;
  /** A second server process on the same PostgreSQL database. */
  let second: RunningServer | undefined;

  beforeAll(async () => {
    site = await startSite(backend, async (db) => {
      await registerInDatabase(db, 'burst_target');
      await registerInDatabase(db, 'bystander');
      await registerInDatabase(db, 'token_maker');
      await seedImportedUsers(
        db,
        Array.from({ length: SLOW_USERS }, (_, i) => slowUser(i)),
        SLOW_ITERATIONS,
      );
    });
    if (backend === 'postgres') {
      second = await startServer({
        DATABASE_URL: site.databaseUrl!,
        TRUST_PROXY: 'true',
        LOG_LEVEL: 'warn',
      });
    }
  });

  afterAll(async () => {
    await second?.stop();
    await site?.close();
  });

  /** The server processes to spread a burst over: one, or two on PostgreSQL. */
  const servers = () => [site.url, ...(second ? [second.url] : [])];

  it('verifies no more than five of 100 parallel wrong passwords for one user', async () => {
    const urls = servers();
    const responses = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        // Each from an address of its own: this is the username's limit.
        postForm(new SiteClient(urls[i % urls.length]!), '/login/', {
          username: 'burst_target',
          password: `Wrong-${i}`,
        }),
      ),
    );
    const statuses = countStatuses(responses);
    expect([...statuses.keys()].sort()).toEqual([200, 429]);
    // 200 is the failure page: a password that was checked.
    expect(statuses.get(200)).toBe(SIGN_IN_POLICY.freeAttempts);
    // And the right password now waits like any other.
    const right = await postForm(new SiteClient(site.url), '/login/', {
      username: 'burst_target',
      password: PASSWORD,
    });
    expect(right.status).toBe(429);
  });

  it('lets one address make twenty accounts, however many it asks for at once', async () => {
    const address = nextAddress();
    const urls = servers();
    const responses = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        postForm(new SiteClient(urls[i % urls.length]!, undefined, address), '/register/', {
          username: `parallel_${backend}_${i}`,
          password1: PASSWORD,
          password2: PASSWORD,
        }),
      ),
    );
    const statuses = countStatuses(responses);
    expect(statuses.get(303)).toBe(REGISTRATION_POLICY.freeAttempts);
    expect(statuses.get(429)).toBe(60 - REGISTRATION_POLICY.freeAttempts);
  });

  it('keeps an account to fifty tokens, however many are asked for at once', async () => {
    const owner = await signIn(site.url, 'token_maker');
    const create = (name: string) =>
      postForm(owner, '/settings/', { action: 'create-token', name, scope: 'read' });
    const responses = await Promise.all(
      Array.from({ length: MAX_TOKENS_PER_USER + 10 }, (_, i) => create(`parallel ${i}`)),
    );
    const statuses = countStatuses(responses);
    expect(statuses.get(303)).toBe(MAX_TOKENS_PER_USER);
    expect(statuses.get(400)).toBe(10);
    const refused = await create('one more');
    expect(refused.status).toBe(400);
    expect(await refused.text()).toContain(`You have ${MAX_TOKENS_PER_USER} tokens`);
    const page = await (await owner.request('/settings/')).text();
    expect(page.match(/data-token-id=/g)).toHaveLength(MAX_TOKENS_PER_USER);
  });

  it.runIf(backend === BACKENDS[0])(
    'does not let a burst of slow password checks stall everyone else’s sign-in',
    async () => {
      const timed = async (client: SiteClient, username: string, password: string) => {
        const started = performance.now();
        const response = await postForm(client, '/login/', { username, password });
        await response.arrayBuffer();
        return { status: response.status, ms: performance.now() - started };
      };
      // What one slow check costs here, alone (the first is also what warms the server).
      await timed(new SiteClient(site.url), slowUser(0), 'Wrong-1');
      const alone = await timed(new SiteClient(site.url), slowUser(1), 'Wrong-1');
      expect(alone.status).toBe(200);

      // One client's burst at the slow users, and meanwhile someone else signs in.
      const attacker = nextAddress();
      const burst = Array.from({ length: SLOW_USERS - 2 }, (_, i) =>
        timed(new SiteClient(site.url, undefined, attacker), slowUser(i + 2), 'Wrong-1'),
      );
      await new Promise((resolve) => setTimeout(resolve, 50));
      const bystander = await timed(new SiteClient(site.url), 'bystander', PASSWORD);
      await Promise.all(burst);
      expect(bystander.status).toBe(303);
      // Waiting for at most the one check in progress, then its own.
      expect(
        bystander.ms,
        `bystander ${bystander.ms.toFixed(0)} ms, one slow check ${alone.ms.toFixed(0)} ms`,
      ).toBeLessThan(3.5 * alone.ms);
    },
  );
});
