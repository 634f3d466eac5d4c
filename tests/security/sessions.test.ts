import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SIGN_IN_FAILED_MESSAGE } from '../../src/lib/server/auth/accounts.ts';
import { RECENT_SESSIONS } from '../../src/lib/server/auth/lucia.ts';
import { generateSessionToken, sessionIdFromToken } from '../../src/lib/server/auth/sessions.ts';
import { openDatabase } from '../../src/lib/server/db/connect.ts';
import { BACKENDS } from '../helpers/database.ts';
import {
  nextAddress,
  PASSWORD,
  registerInDatabase,
  SiteClient,
  signIn,
  signUp,
  startSite,
  type Site,
} from '../helpers/site.ts';
import { createItem, exportOf, isSignedIn, postForm } from './kit.ts';

/**
 * Sessions and sign-in under attack: planted, stolen, tampered and expired session tokens;
 * telling which usernames exist from the sign-in form; guessing passwords.
 */

const TIMING_USERS = 15;
const timingUser = (i: number) => `timing_user_${i}`;

/** A Set-Cookie header that deletes its cookie (an expiry in the past). */
const deletes = (cookie: string) => /;\s*(expires=[^;]*1970|max-age=0)/i.test(cookie);

/** The session token a response sets, if any. */
function sessionSet(response: Response): string | undefined {
  return response.headers
    .getSetCookie()
    .filter((cookie) => cookie.startsWith('sessionid=') && !deletes(cookie))
    .map((cookie) => cookie.split(';', 1)[0]!.slice('sessionid='.length))
    .find((token) => token !== '');
}

/** True when the response deletes the browser's session cookie. */
const clearsSession = (response: Response) =>
  response.headers
    .getSetCookie()
    .some((cookie) => cookie.startsWith('sessionid=') && deletes(cookie));

/** The username the main page shows for this cookie, or undefined when it sends to sign in. */
async function whoIs(url: string, token: string): Promise<string | undefined> {
  const response = await new SiteClient(url, `sessionid=${token}`).request('/');
  if (response.status === 302) {
    expect(response.headers.get('location')).toBe('/login/?next=%2F');
    return undefined;
  }
  expect(response.status).toBe(200);
  return /data-testid="username">([^<]*)</.exec(await response.text())?.[1];
}

/** A signed-out token is anonymous everywhere: pages, the API, the exports, the forms. */
async function expectAnonymous(url: string, token: string): Promise<void> {
  const client = new SiteClient(url, `sessionid=${token}`);
  expect(await whoIs(url, token)).toBeUndefined();
  expect(await isSignedIn(client)).toBe(false);
  expect((await client.request('/json/')).status).toBe(401);
  const posted = await postForm(client, '/create-item', { name: 'As a ghost', amount: '1' });
  expect(posted.status).toBe(302);
  expect(posted.headers.get('location')).toMatch(/^\/login\/\?next=/);
}

describe.each(BACKENDS)('sessions and sign-in on %s', (backend) => {
  let site: Site;

  beforeAll(async () => {
    site = await startSite(backend, async (db) => {
      for (let i = 0; i < TIMING_USERS; i += 1) await registerInDatabase(db, timingUser(i));
    });
  });

  afterAll(async () => {
    await site?.close();
  });

  describe('session tokens', () => {
    it('a planted cookie is never the session after sign-in', async () => {
      const victim = await signUp(site.url, `fixation_victim_${backend}`);
      const name = `fixation_victim_${backend}`;

      // A token the attacker made up names no session, and is cleared.
      const planted = generateSessionToken();
      const visit = await new SiteClient(site.url, `sessionid=${planted}`).request('/');
      expect(visit.status).toBe(302);
      expect(clearsSession(visit)).toBe(true);
      const login = await postForm(new SiteClient(site.url, `sessionid=${planted}`), '/login/', {
        username: name,
        password: PASSWORD,
      });
      expect(login.status).toBe(303);
      const issued = sessionSet(login);
      expect(issued).toBeDefined();
      expect(issued).not.toBe(planted);
      expect(await whoIs(site.url, issued!)).toBe(name);
      expect(await whoIs(site.url, planted)).toBeUndefined();

      // The attacker's own real session, planted in the victim's browser, is ended.
      const mallory = await signUp(site.url, `fixation_mallory_${backend}`);
      const malloryToken = mallory.cookie!.slice('sessionid='.length);
      const swapped = await postForm(new SiteClient(site.url, mallory.cookie), '/login/', {
        username: name,
        password: PASSWORD,
      });
      expect(swapped.status).toBe(303);
      const fresh = sessionSet(swapped)!;
      expect(fresh).not.toBe(malloryToken);
      expect(await whoIs(site.url, fresh)).toBe(name);
      expect(await whoIs(site.url, malloryToken)).toBeUndefined();
      expect(await isSignedIn(victim)).toBe(true);
    });

    it('a stolen token is useless once its owner signs out', async () => {
      const owner = await signUp(site.url, `stolen_owner_${backend}`);
      await createItem(owner, { name: 'Owned', amount: 1 });
      const before = await exportOf(owner);
      const stolen = owner.cookie!.slice('sessionid='.length);
      const signedOut = await postForm(owner, '/logout/', {});
      expect(signedOut.status).toBe(303);
      expect(clearsSession(signedOut)).toBe(true);
      await expectAnonymous(site.url, stolen);

      // Sign out everywhere ends the sessions of other devices, too.
      const laptop = await signIn(site.url, `stolen_owner_${backend}`);
      const phone = await signIn(site.url, `stolen_owner_${backend}`);
      expect(await isSignedIn(phone)).toBe(true);
      const everywhere = await postForm(laptop, '/settings/', { action: 'sign-out-everywhere' });
      expect(everywhere.status).toBe(303);
      await expectAnonymous(site.url, phone.cookie!.slice('sessionid='.length));
      await expectAnonymous(site.url, laptop.cookie!.slice('sessionid='.length));

      const again = await signIn(site.url, `stolen_owner_${backend}`);
      expect(await exportOf(again)).toBe(before);
    });

    it('a tampered token is anonymous', async () => {
      const client = await signUp(site.url, `tamper_${backend}`);
      const token = client.cookie!.slice('sessionid='.length);
      const flip = (c: string) => (c === 'A' ? 'B' : 'A');
      const tampered = [
        flip(token[0]!) + token.slice(1),
        token.slice(0, 17) + flip(token[17]!) + token.slice(18),
        token.slice(0, -1) + flip(token.at(-1)!),
        token.slice(0, -1),
        `${token}A`,
        token.toUpperCase() === token ? token.toLowerCase() : token.toUpperCase(),
        sessionIdFromToken(token), // what the database stores is not a token
      ];
      for (const candidate of tampered) {
        expect(candidate).not.toBe(token);
        expect(await whoIs(site.url, candidate), candidate).toBeUndefined();
      }
      await expectAnonymous(site.url, tampered[1]!);
      expect(await whoIs(site.url, token)).toBe(`tamper_${backend}`);
    });

    // The embedded database belongs to the server process while it runs, so the test has
    // no way to reach its session rows; PostgreSQL takes a second connection.
    it.skipIf(backend !== 'postgres')(
      'an expired session is anonymous (PostgreSQL only: PGlite allows one process)',
      async () => {
        const client = await signUp(site.url, `expired_${backend}`);
        const token = client.cookie!.slice('sessionid='.length);
        expect(await whoIs(site.url, token)).toBe(`expired_${backend}`);
        const own = openDatabase({ databaseUrl: site.databaseUrl });
        try {
          const result = await sql`update sessions set expires_at = now() - interval '1 minute'
            where id = ${sessionIdFromToken(token)}`.execute(own.db);
          expect(result.numAffectedRows).toBe(1n);
          // The server may answer a session it looked up moments ago from memory; a change
          // made behind its back (as here) counts once that memory is older than its ttl.
          await new Promise((resolve) => setTimeout(resolve, RECENT_SESSIONS.ttlMs + 100));
          await expectAnonymous(site.url, token);
          // Validation removed the expired row: it cannot come back.
          const left = await own.db
            .selectFrom('sessions')
            .select('id')
            .where('id', '=', sessionIdFromToken(token))
            .execute();
          expect(left).toEqual([]);
        } finally {
          await own.close();
        }
      },
    );
  });

  describe('username enumeration', () => {
    async function failedSignIn(username: string) {
      const client = new SiteClient(site.url);
      const started = performance.now();
      const response = await postForm(client, '/login/', {
        username,
        password: 'Wrong-Password-1',
      });
      const body = await response.text();
      return { response, body, ms: performance.now() - started };
    }

    it('answers a wrong password and an unknown username alike: status, message, page', async () => {
      const existing = await failedSignIn(timingUser(0));
      const missing = await failedSignIn('timing_user_nobody');
      for (const attempt of [existing, missing]) {
        expect(attempt.response.status).toBe(200);
        expect(attempt.body).toContain(SIGN_IN_FAILED_MESSAGE);
        expect(attempt.response.headers.getSetCookie()).toEqual([]);
      }
      // The same page but for the name typed into the form.
      expect(existing.body.replaceAll(timingUser(0), 'NAME')).toBe(
        missing.body.replaceAll('timing_user_nobody', 'NAME'),
      );
    });

    it('takes as long for an unknown username as for a wrong password (medians)', async () => {
      // Each name is tried once (no per-username limit trips) from an address of its own.
      await failedSignIn('timing_warm_up_1');
      await failedSignIn('timing_warm_up_2');
      const existing: number[] = [];
      const missing: number[] = [];
      for (let i = 0; i < TIMING_USERS; i += 1) {
        // Alternate which goes first, so that drift in the machine's load hits both.
        const pair = [
          async () => existing.push((await failedSignIn(timingUser(i))).ms),
          async () => missing.push((await failedSignIn(`timing_missing_${i}`)).ms),
        ];
        if (i % 2) pair.reverse();
        for (const attempt of pair) await attempt();
      }
      const median = (values: number[]) => {
        const sorted = [...values].sort((a, b) => a - b);
        return sorted[Math.floor(sorted.length / 2)]!;
      };
      const [a, b] = [median(existing), median(missing)];
      const allowed = Math.max(40, 0.3 * Math.max(a, b));
      expect(
        Math.abs(a - b),
        `medians: existing ${a.toFixed(1)} ms, missing ${b.toFixed(1)} ms`,
      ).toBeLessThan(allowed);
    });
  });

  describe('password guessing', () => {
    it('refuses the sixth failure for one username with 429 and Retry-After, even with the right password', async () => {
      const name = `guessed_${backend}`;
      await signUp(site.url, name);
      for (const target of [name, `guessed_missing_${backend}`]) {
        for (let attempt = 1; attempt <= 5; attempt += 1) {
          // A new address each time: the limit is on the username, not only the address.
          const response = await postForm(new SiteClient(site.url), '/login/', {
            username: target,
            password: `Wrong-${attempt}`,
          });
          expect(response.status, `${target} attempt ${attempt}`).toBe(200);
        }
        for (const password of ['Wrong-6', PASSWORD]) {
          const response = await postForm(new SiteClient(site.url), '/login/', {
            username: target,
            password,
          });
          expect(response.status, `${target} with ${password}`).toBe(429);
          expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0);
          expect(Number(response.headers.get('retry-after'))).toBeLessThanOrEqual(15 * 60);
          expect(sessionSet(response)).toBeUndefined();
          const page = await response.text();
          expect(page).toContain('Too many failed sign-in attempts');
          expect(page).toMatch(/wait .+ and try again/i);
        }
      }
    });

    it('refuses the sixth failure from one address, whichever usernames it tries', async () => {
      const address = nextAddress();
      for (let attempt = 1; attempt <= 5; attempt += 1) {
        const response = await postForm(new SiteClient(site.url, undefined, address), '/login/', {
          username: `spray_${backend}_${attempt}`,
          password: 'Wrong-1',
        });
        expect(response.status).toBe(200);
      }
      const sixth = await postForm(new SiteClient(site.url, undefined, address), '/login/', {
        username: timingUser(1),
        password: PASSWORD,
      });
      expect(sixth.status).toBe(429);
      expect(Number(sixth.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(sessionSet(sixth)).toBeUndefined();
      // Another address signs in to that account as usual.
      const elsewhere = await postForm(new SiteClient(site.url), '/login/', {
        username: timingUser(1),
        password: PASSWORD,
      });
      expect(elsewhere.status).toBe(303);
    });

    it('allows twenty registration attempts per address per hour', async () => {
      const address = nextAddress();
      const attempt = (i: number) =>
        postForm(new SiteClient(site.url, undefined, address), '/register/', {
          username: `flood_${backend}_${i}`,
          password1: PASSWORD,
          password2: 'Does-Not-Match-1',
        });
      for (let i = 1; i <= 20; i += 1) expect((await attempt(i)).status).toBe(200);
      const refused = await attempt(21);
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      const valid = await postForm(new SiteClient(site.url, undefined, address), '/register/', {
        username: `flood_${backend}_ok`,
        password1: PASSWORD,
        password2: PASSWORD,
      });
      expect(valid.status).toBe(429);
    });
  });
});
