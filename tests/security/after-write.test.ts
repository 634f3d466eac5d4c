import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/database.ts';
import { startServer, type RunningServer } from '../helpers/server.ts';
import {
  PASSWORD,
  registerInDatabase,
  SiteClient,
  signIn,
  signUp,
  startSite,
  type Site,
} from '../helpers/site.ts';
import {
  createItem,
  exportObjects,
  FORM_TYPE,
  heldRequest,
  isSignedIn,
  postForm,
  type RawResponse,
} from './kit.ts';

/**
 * Answers that failed after the change was saved: a redirect to a path a header cannot
 * carry, and a session whose account was deleted while the request ran. The change (a
 * sign-in, an item, a +1) was committed, and then the page said 500. Each must answer as
 * intended instead: the redirect, or the answer a signed-out request gets.
 */

/** Paths that are local but hold characters a `Location` header cannot carry. */
const UNICODE_PATHS = ['/⁄x', '/日本', '/items/?q=ünïcode', '/😀'];

/** What a browser would send for `path`: UTF-8, percent-encoded. */
const encodedPath = (path: string) => encodeURI(path);

function expectSignedOutAnswer(response: RawResponse | Response, label: string): void {
  const status = response.status;
  const location =
    response instanceof Response
      ? response.headers.get('location')
      : (response.headers.location ?? null);
  expect(status, label).toBe(302);
  expect(location, label).toMatch(/^\/login\/\?next=/);
}

describe.each(BACKENDS)('answers after a write on %s', (backend) => {
  let site: Site;
  /** A second server process on the same PostgreSQL database. */
  let second: RunningServer | undefined;

  beforeAll(async () => {
    site = await startSite(backend, async (db) => {
      for (const [i] of UNICODE_PATHS.entries())
        await registerInDatabase(db, `next_${i}_${backend}`);
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

  describe('redirects to paths a header cannot carry', () => {
    it('signs in and lands on the path, percent-encoded', async () => {
      for (const [i, path] of UNICODE_PATHS.entries()) {
        const client = new SiteClient(site.url);
        const response = await postForm(client, `/login/?next=${encodeURIComponent(path)}`, {
          username: `next_${i}_${backend}`,
          password: PASSWORD,
        });
        expect(response.status, path).toBe(303);
        expect(response.headers.get('location'), path).toBe(encodedPath(path));
        const session = response.headers
          .getSetCookie()
          .find((cookie) => cookie.startsWith('sessionid=') && !cookie.startsWith('sessionid=;'));
        expect(session, path).toBeDefined();
        // Already signed in, the sign-in page sends there too.
        client.cookie = session!.split(';', 1)[0];
        const again = await client.request(`/login/?next=${encodeURIComponent(path)}`);
        expect(again.status, path).toBe(302);
        expect(again.headers.get('location'), path).toBe(encodedPath(path));
      }
    });

    it('adds, changes and deletes once, then goes back to the path', async () => {
      const owner = await signUp(site.url, `return_to_${backend}`);
      for (const path of UNICODE_PATHS) {
        const returnTo = `return_to=${encodeURIComponent(path)}`;
        const added = await postForm(owner, `/create-item?${returnTo}`, {
          name: `Via ${path}`,
          amount: '1',
          description: '',
        });
        expect(added.status, path).toBe(303);
        expect(added.headers.get('location'), path).toBe(encodedPath(path));
        const item = (await exportObjects(owner)).find((o) => o.fields.name === `Via ${path}`)!;
        expect(item, path).toBeDefined();

        const adjusted = await postForm(owner, `/items/${item.pk}/adjust?${returnTo}`, {
          delta: '1',
        });
        expect(adjusted.status, path).toBe(303);
        expect(adjusted.headers.get('location'), path).toBe(encodedPath(path));

        const edited = await postForm(owner, `/items/${item.pk}/edit?${returnTo}`, {
          name: `Edited ${path}`,
          amount: '5',
          description: '',
        });
        expect(edited.status, path).toBe(303);
        expect(edited.headers.get('location'), path).toBe(encodedPath(path));

        const deleted = await postForm(owner, `/items/${item.pk}/delete?${returnTo}`, {});
        expect(deleted.status, path).toBe(303);
        expect(deleted.headers.get('location'), path).toBe(encodedPath(path));
      }
      // Every add was stored once, and every delete took its item.
      expect(await exportObjects(owner)).toEqual([]);
    });
  });

  describe('a session that outlives its account', () => {
    /** Deletes the account through the settings page of another session of the same user. */
    async function deleteAccount(username: string): Promise<void> {
      const elsewhere = await signIn(site.url, username);
      const response = await postForm(elsewhere, '/settings/', {
        action: 'delete-account',
        confirmation: username,
        password: PASSWORD,
      });
      expect(response.status).toBe(303);
    }

    /** A request of `client` that is under way while its account is deleted. */
    async function duringDeletion(
      client: SiteClient,
      username: string,
      request: { path: string; headers: Record<string, string>; body: string },
    ): Promise<RawResponse> {
      const held = heldRequest(site.url, {
        ...request,
        headers: {
          Cookie: client.cookie!,
          Origin: site.url,
          'X-Forwarded-For': client.address,
          ...request.headers,
        },
      });
      await held.started;
      await deleteAccount(username);
      const errorsBefore = unhandledErrors();
      const response = await held.finish();
      // An error page can hide the failure (it is rendered for a request that is signed out
      // by then): the server's own log says whether the request failed.
      expect(unhandledErrors(), site.server.output()).toBe(errorsBefore);
      return response;
    }

    const unhandledErrors = () => site.server.output().split('"unhandled error"').length - 1;

    it('answers a form post as signed out, and ends the session', async () => {
      const username = `gone_form_${backend}`;
      const client = await signUp(site.url, username);
      const response = await duringDeletion(client, username, {
        path: '/create-item',
        headers: { 'Content-Type': FORM_TYPE, Accept: 'text/html' },
        body: new URLSearchParams({ name: 'Orphan', amount: '1', description: '' }).toString(),
      });
      expectSignedOutAnswer(response, 'create-item');
      expect(String(response.headers['set-cookie'])).toMatch(
        /sessionid=[^;]*;.*expires=[^;]*1970/i,
      );
      expect(await isSignedIn(client)).toBe(false);
    });

    it('answers an API call as signed out (401)', async () => {
      const username = `gone_api_${backend}`;
      const client = await signUp(site.url, username);
      const response = await duringDeletion(client, username, {
        path: '/api/items',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ name: 'Orphan', amount: 1, description: '' }),
      });
      expect(response.status).toBe(401);
      expect(JSON.parse(response.body)).toMatchObject({ error: { code: 'unauthorized' } });
    });

    it('answers a settings form as signed out', async () => {
      const username = `gone_settings_${backend}`;
      const client = await signUp(site.url, username);
      const response = await duringDeletion(client, username, {
        path: '/settings/',
        headers: { 'Content-Type': FORM_TYPE, Accept: 'text/html' },
        body: new URLSearchParams({
          action: 'change-password',
          old_password: PASSWORD,
          new_password1: 'Another-Horse-Battery-7',
          new_password2: 'Another-Horse-Battery-7',
        }).toString(),
      });
      expectSignedOutAnswer(response, 'change-password');
    });

    it.runIf(backend === 'postgres')(
      'answers as signed out in a second process that still remembers the session',
      async () => {
        const username = `gone_elsewhere_${backend}`;
        await signUp(site.url, username);
        // Signed in through the second process, which now remembers the session.
        const there = await signIn(second!.url, username);
        expect(await isSignedIn(there)).toBe(true);
        await createItem(there, { name: 'Before', amount: 1 });
        await deleteAccount(username);
        const posted = await postForm(
          there,
          '/create-item',
          { name: 'After', amount: '1', description: '' },
          { headers: { Accept: 'text/html' } },
        );
        expectSignedOutAnswer(posted, 'create-item in the second process');
        const api = await there.request('/api/items', {
          method: 'POST',
          json: { name: 'After', amount: 1 },
        });
        expect(api.status).toBe(401);
        const settings = await postForm(
          there,
          '/settings/',
          { action: 'create-token', name: 'after', scope: 'read' },
          { headers: { Accept: 'text/html' } },
        );
        expectSignedOutAnswer(settings, 'create-token in the second process');
      },
    );
  });
});
