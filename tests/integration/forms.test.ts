import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routeOf } from '../../src/lib/server/http/routes.ts';
import { BACKENDS } from '../helpers/database.ts';
import { nextAddress, SiteClient, signUp, startSite, type Site } from '../helpers/site.ts';
import { createItem, exportObjects, postForm } from '../security/kit.ts';

/**
 * The one form layer and the one route table: every form page reads its body the same way
 * (a post without one is an empty form), answers a refused attempt with the same 429, and
 * every path is admitted by the table's entry for it.
 */

describe('the route table', () => {
  it.each([
    ['/', 'session', 'page'],
    ['/items/3/edit', 'session', 'page'],
    ['/settings/', 'session', 'page'],
    ['/login/', 'public', 'page'],
    ['/login/no-such-page', 'public', 'page'],
    ['/register', 'public', 'page'],
    ['/logout/', 'public', 'page'],
    ['/healthz', 'public', 'json'],
    ['/api/openapi.json', 'public', 'json'],
    ['/api/items', 'data', 'json'],
    ['/api/items/3/adjust', 'data', 'json'],
    ['/json/', 'data', 'json'],
    ['/json/3/', 'data', 'json'],
    ['/xml/', 'data', 'xml'],
    ['/loginx', 'session', 'page'],
    ['/apix', 'session', 'page'],
  ])('%s is %s and answers as %s', (path, access, format) => {
    expect(routeOf(path)).toMatchObject({ access, format });
  });
});

describe.each(BACKENDS)('form pages on %s', (backend) => {
  let site: Site;

  beforeAll(async () => {
    site = await startSite(backend);
  });

  afterAll(async () => {
    await site?.close();
  });

  it('takes a post without a body as an empty form', async () => {
    const owner = await signUp(site.url, `bodiless_${backend}`);
    const item = await createItem(owner, { name: 'Spare', amount: 1 });
    const bare = (path: string) => owner.request(path, { method: 'POST' });
    const deleted = await bare(`/items/${item.id}/delete`);
    expect(deleted.status).toBe(303);
    expect(await exportObjects(owner)).toEqual([]);
    // An empty add form is refused field by field, not as an unreadable body.
    const added = await bare('/create-item');
    expect(added.status).toBe(400);
    expect(await added.text()).toContain('This field is required.');
    const signedOut = await bare('/logout/');
    expect(signedOut.status).toBe(303);
    expect(signedOut.headers.get('location')).toBe('/login/');
  });

  it('answers a refused attempt with 429, Retry-After and the same sentence on every page', async () => {
    const sentence = /Too many [^.]+\. Please wait \d+ (minutes?|seconds?) and try again\./;
    const address = nextAddress();
    const signInAs = (username: string) =>
      postForm(new SiteClient(site.url, undefined, address), '/login/', {
        username,
        password: 'Wrong-1',
      });
    for (let i = 0; i < 5; i += 1) await signInAs(`nobody_${backend}_${i}`);
    const signIn = await signInAs(`nobody_${backend}`);

    const registerAt = nextAddress();
    const register = () =>
      postForm(new SiteClient(site.url, undefined, registerAt), '/register/', {
        username: '',
        password1: '',
        password2: '',
      });
    for (let i = 0; i < 20; i += 1) await register();
    const registration = await register();

    const owner = await signUp(site.url, `wrong_passwords_${backend}`);
    const wrongPassword = () =>
      postForm(owner, '/settings/', {
        action: 'delete-account',
        confirmation: `wrong_passwords_${backend}`,
        password: 'Not-My-Password-1',
      });
    for (let i = 0; i < 5; i += 1) expect((await wrongPassword()).status).toBe(400);
    const settings = await wrongPassword();

    for (const [label, response] of [
      ['sign-in', signIn],
      ['registration', registration],
      ['settings', settings],
    ] as const) {
      expect(response.status, label).toBe(429);
      expect(Number(response.headers.get('retry-after')), label).toBeGreaterThan(0);
      const page = await response.text();
      expect(page, label).toMatch(sentence);
      expect(page, label).toMatch(/<p class="message err" role="alert"[^>]*>\s*Too many/);
    }
    // The account is still there.
    expect((await owner.request('/settings/')).status).toBe(200);
  });
});
