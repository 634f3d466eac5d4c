import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/database.ts';
import { startServer, type RunningServer } from '../helpers/server.ts';
import { PASSWORD, signIn, signUp, startSite, type Site } from '../helpers/site.ts';
import {
  createTokenThroughSettings,
  FORM_TYPE,
  heldRequest,
  postForm,
  tokenStatus,
} from './kit.ts';

/**
 * The panic buttons must reach API tokens too: a thief who had the session or the password
 * could have made a token, and a token outlived "sign out everywhere" and a password
 * change. And a token must not be made for a session that has just been signed out
 * elsewhere, however fresh this process's memory of it.
 */

const NEW_PASSWORD = 'Another-Horse-Battery-7';

describe.each(BACKENDS)('tokens and the panic buttons on %s', (backend) => {
  let site: Site;
  /** A second server process on the same PostgreSQL database. */
  let second: RunningServer | undefined;

  beforeAll(async () => {
    site = await startSite(backend);
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

  it('revokes every token when signing out everywhere, and says so on the button', async () => {
    const owner = await signUp(site.url, `everywhere_${backend}`);
    const tokens = [
      await createTokenThroughSettings(owner, 'script one'),
      await createTokenThroughSettings(owner, 'script two', 'read'),
    ];
    for (const token of tokens) expect(await tokenStatus(site.url, token)).toBe(200);

    const response = await postForm(owner, '/settings/', { action: 'sign-out-everywhere' });
    expect(response.status).toBe(303);
    for (const token of tokens) expect(await tokenStatus(site.url, token)).toBe(401);
    const again = await signIn(site.url, `everywhere_${backend}`);
    const page = await (await again.request('/settings/')).text();
    expect(page).toMatch(/<button[^>]*>\s*Sign out everywhere and revoke API tokens\s*<\/button>/);
  });

  it('revokes every token with a password change, unless asked to keep them', async () => {
    const username = `changer_${backend}`;
    const owner = await signUp(site.url, username);
    const revoked = await createTokenThroughSettings(owner, 'revoked with the password');
    const changed = await postForm(owner, '/settings/', {
      action: 'change-password',
      old_password: PASSWORD,
      new_password1: NEW_PASSWORD,
      new_password2: NEW_PASSWORD,
    });
    expect(changed.status).toBe(303);
    expect(await tokenStatus(site.url, revoked)).toBe(401);

    // Signed in again with the new session the change gave this browser.
    const session = changed.headers
      .getSetCookie()
      .find((cookie) => cookie.startsWith('sessionid='))!
      .split(';', 1)[0]!;
    owner.cookie = session;
    const kept = await createTokenThroughSettings(owner, 'kept');
    const keeping = await postForm(owner, '/settings/', {
      action: 'change-password',
      old_password: NEW_PASSWORD,
      new_password1: PASSWORD,
      new_password2: PASSWORD,
      keep_api_tokens: 'on',
    });
    expect(keeping.status).toBe(303);
    expect(await tokenStatus(site.url, kept)).toBe(200);
  });

  it('makes no token for a session signed out while the request ran', async () => {
    const username = `late_token_${backend}`;
    const owner = await signUp(site.url, username);
    const held = heldRequest(site.url, {
      path: '/settings/',
      headers: {
        'Content-Type': FORM_TYPE,
        Cookie: owner.cookie!,
        Origin: site.url,
        'X-Forwarded-For': owner.address,
      },
      body: new URLSearchParams({ action: 'create-token', name: 'late', scope: 'read' }).toString(),
    });
    await held.started;
    const elsewhere = await signIn(site.url, username);
    expect(
      (await postForm(elsewhere, '/settings/', { action: 'sign-out-everywhere' })).status,
    ).toBe(303);
    const response = await held.finish();
    expect(response.status).toBe(302);
    expect(response.headers.location).toMatch(/^\/login\/\?next=/);
    expect(String(response.headers['set-cookie'])).not.toContain('new_token=');
    const again = await signIn(site.url, username);
    expect(await (await again.request('/settings/')).text()).not.toContain('data-token-id=');
  });

  it.runIf(backend === 'postgres')(
    'makes no token in a second process that still remembers a signed-out session',
    async () => {
      const username = `remembered_${backend}`;
      await signUp(site.url, username);
      const there = await signIn(second!.url, username);
      expect((await there.request('/settings/')).status).toBe(200);
      const here = await signIn(site.url, username);
      expect((await postForm(here, '/settings/', { action: 'sign-out-everywhere' })).status).toBe(
        303,
      );
      const response = await postForm(there, '/settings/', {
        action: 'create-token',
        name: 'after the panic',
        scope: 'read-write',
      });
      expect(response.status).toBe(302);
      expect(response.headers.getSetCookie().join('\n')).not.toContain('new_token=');
    },
  );
});
