import { XMLValidator } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AMOUNT_MAX,
  AMOUNT_MAX_MESSAGE,
  AMOUNT_MIN_MESSAGE,
  REQUIRED_MESSAGE,
  WHOLE_NUMBER_MESSAGE,
} from '../../src/lib/contracts/item-input.ts';
import { BODY_LIMIT_BYTES } from '../../src/lib/server/request-body.ts';
import { BACKENDS } from '../helpers/database.ts';
import { signUp, startSite, strictXmlParser, type Site, type SiteClient } from '../helpers/site.ts';
import {
  createItem,
  decodeHtml,
  expectEscapedInHtml,
  expectNoInternals,
  expectUnchanged,
  exportObjects,
  FORM_TYPE,
  postForm,
  rawRequest,
  snapshot,
  type ApiItem,
} from './kit.ts';

/**
 * Hostile input: markup and scripts in item text, SQL in every parameter, other users' ids,
 * fields nobody may set, bodies too large or malformed, numbers and text at and past their
 * limits, characters that cannot be stored. Each refusal is a 4xx (never a 500) and leaves
 * every user's data as it was.
 */

interface ApiErrorBody {
  error: { code: string; message: string; fields?: Record<string, string[]> };
}

const XSS_PAYLOADS = [
  '<script>alert(1)</script>',
  '"><img src=x onerror=alert(1)>',
  '</script><script>alert(1)</script>',
  'javascript:alert(1)',
  "'><svg onload=alert(1)>",
];

interface XmlDocument {
  'django-objects': {
    object?: Array<{ '@_pk': string; field: Array<{ '@_name': string; '#text'?: string }> }>;
  };
}

/** The fields of the objects of an XML export, as a strict parser reads them. */
function parseXmlExport(xml: string): Array<Record<string, string>> {
  expect(XMLValidator.validate(xml)).toBe(true);
  const document = strictXmlParser.parse(xml) as XmlDocument;
  return (document['django-objects'].object ?? []).map((object) =>
    Object.fromEntries(object.field.map((field) => [field['@_name'], field['#text'] ?? ''])),
  );
}

/** The text of the table's name cells on a page. */
function tableNames(html: string): string[] {
  // The row template (for rows added in the browser) is not a row of the table.
  const rows = html.replace(/<template\b[\s\S]*?<\/template>/g, '');
  return [...rows.matchAll(/<a data-cell="name"[^>]*>([\s\S]*?)<\/a>/g)].map((match) =>
    decodeHtml(match[1]!),
  );
}

/** The messages a page shows under one of its fields. */
function fieldErrors(html: string, field: string): string[] {
  const block = new RegExp(`id="id_${field}_error"[^>]*>([\\s\\S]*?)</(?:p|ul)>`).exec(html);
  if (!block) return [];
  const items = [...block[1]!.matchAll(/<li>([\s\S]*?)<\/li>/g)].map((m) => m[1]!);
  return (items.length > 0 ? items : [block[1]!]).map((text) =>
    decodeHtml(text.replace(/<!--[\s\S]*?-->/g, '')).trim(),
  );
}

async function apiError(response: Response, status: number): Promise<ApiErrorBody['error']> {
  const text = await response.text();
  expect(response.status, text).toBe(status);
  expectNoInternals(text, `${status} body`);
  return (JSON.parse(text) as ApiErrorBody).error;
}

describe.each(BACKENDS)('hostile input on %s', (backend) => {
  let site: Site;
  let alice: SiteClient;
  let bob: SiteClient;
  let aliceId: number;
  let bobId: number;
  let bobsItem: ApiItem;

  beforeAll(async () => {
    site = await startSite(backend);
    [alice, bob] = await Promise.all([
      signUp(site.url, `input_alice_${backend}`),
      signUp(site.url, `input_bob_${backend}`),
    ]);
    bobsItem = await createItem(bob, { name: 'Bobs secret', amount: 3, description: 'private' });
    const first = await createItem(alice, { name: 'Ordinary', amount: 1 });
    aliceId = (await exportObjects(alice)).find((o) => o.pk === first.id)!.fields.user;
    bobId = (await exportObjects(bob))[0]!.fields.user;
    expect(aliceId).not.toBe(bobId);
  });

  afterAll(async () => {
    await site?.close();
  });

  const everyone = () => [alice, bob];

  describe('cross-site scripting', () => {
    const items = new Map<string, ApiItem>();

    beforeAll(async () => {
      for (const payload of XSS_PAYLOADS) {
        items.set(
          payload,
          await createItem(alice, { name: payload, amount: 1, description: payload }),
        );
      }
      // And once through the form, as a browser sends it.
      const posted = await postForm(alice, '/create-item', {
        name: `form ${XSS_PAYLOADS[0]}`,
        amount: '1',
        description: XSS_PAYLOADS[1]!,
      });
      expect(posted.status).toBe(303);
    });

    it('shows the tags and places of the rows escaped on the main page', async () => {
      // A user of its own: tags and places are searched too, which other tests here count on.
      const carol = await signUp(site.url, `input_carol_${backend}`);
      const { inventory } = await createItem(carol, { name: 'first', amount: 1 });
      // A place's name cannot hold "/", which separates the levels of its path.
      const placeName = (payload: string) => payload.replaceAll('/', '|');
      for (const [n, payload] of XSS_PAYLOADS.entries()) {
        const place = await carol.request(`/api/inventories/${inventory}/locations`, {
          method: 'POST',
          json: { name: placeName(payload) },
        });
        expect(place.status, await place.clone().text()).toBe(201);
        const { id } = (await place.json()) as { id: number };
        const item = await carol.request('/api/items', {
          method: 'POST',
          json: { name: `placed ${n}`, amount: 1, location_id: id, tags: [payload] },
        });
        expect(item.status, await item.clone().text()).toBe(201);
      }
      const main = await (await carol.request('/?limit=100')).text();
      for (const payload of XSS_PAYLOADS) {
        expectEscapedInHtml(main, payload, `main page's tags: ${payload}`);
        expectEscapedInHtml(main, placeName(payload), `main page's places: ${payload}`);
      }
    });

    it('shows names and descriptions escaped on the main, edit and delete pages', async () => {
      const main = await (await alice.request('/?limit=100')).text();
      for (const payload of [...XSS_PAYLOADS, `form ${XSS_PAYLOADS[0]}`]) {
        expectEscapedInHtml(main, payload, `main page: ${payload}`);
        expect(tableNames(main)).toContain(payload);
      }
      for (const [payload, item] of items) {
        const edit = await alice.request(`/items/${item.id}/edit`);
        expect(edit.status).toBe(200);
        expectEscapedInHtml(await edit.text(), payload, `edit page: ${payload}`);
        const remove = await alice.request(`/items/${item.id}/delete`);
        expect(remove.status).toBe(200);
        expectEscapedInHtml(await remove.text(), payload, `delete page: ${payload}`);
      }
    });

    it('echoes them escaped when a form with them is refused', async () => {
      const before = await snapshot(everyone());
      for (const payload of XSS_PAYLOADS) {
        const fields = { name: payload, amount: 'not a number', description: payload };
        const create = await postForm(alice, '/create-item', fields);
        expect(create.status).toBe(400);
        expectEscapedInHtml(await create.text(), payload, `refused add: ${payload}`);
        const item = items.get(payload)!;
        const edit = await postForm(alice, `/items/${item.id}/edit`, fields);
        expect(edit.status).toBe(400);
        expectEscapedInHtml(await edit.text(), payload, `refused edit: ${payload}`);
      }
      await expectUnchanged(everyone(), before);
    });

    it('gives them back exactly through the JSON API, /json/ and a strict parse of /xml/', async () => {
      for (const [payload, item] of items) {
        const api = (await (await alice.request(`/api/items/${item.id}`)).json()) as ApiItem;
        expect(api).toMatchObject({ name: payload, description: payload });

        const json = await alice.request(`/json/${item.id}/`);
        expect(json.headers.get('content-type')).toBe('application/json');
        const [object] = JSON.parse(await json.text()) as Array<{
          fields: Record<string, unknown>;
        }>;
        expect(object!.fields).toMatchObject({ name: payload, description: payload });

        const xml = await alice.request(`/xml/${item.id}/`);
        expect(xml.headers.get('content-type')).toBe('application/xml');
        const text = await xml.text();
        if (/[<>"]/.test(payload)) expect(text).not.toContain(payload);
        expect(parseXmlExport(text)).toEqual([
          { user: String(aliceId), name: payload, amount: '1', description: payload },
        ]);
      }
    });
  });

  describe('SQL injection', () => {
    const seeded = ['100% juice', 'back\\slash', 'under_score', "O'Brien"];

    beforeAll(async () => {
      for (const name of seeded) await createItem(alice, { name, amount: 2 });
    });

    it('answers ids with SQL in them like missing ones, everywhere, changing nothing', async () => {
      const before = await snapshot(everyone());
      const { id } = await createItem(alice, { name: 'Target', amount: 4 });
      const after = await snapshot(everyone());
      const ids = [
        '1;drop table items',
        '1 or 1=1',
        "1'--",
        `${id};drop table items`,
        `${id} or 1=1`,
        `${id}'--`,
        `${id}) or (1=1`,
        `${id}\u0000`,
        '0 union select * from users',
      ];
      for (const raw of ids) {
        const path = encodeURIComponent(raw);
        for (const [method, route, body] of [
          ['GET', `/items/${path}/edit`],
          ['POST', `/items/${path}/edit`, { name: 'Injected', amount: '1' }],
          ['GET', `/items/${path}/delete`],
          ['POST', `/items/${path}/delete`, {}],
          ['POST', `/items/${path}/adjust`, { delta: '1' }],
        ] as const) {
          const response = body ? await postForm(alice, route, body) : await alice.request(route);
          expect(response.status, `${method} ${route}`).toBe(404);
        }
        for (const [method, route, json] of [
          ['GET', `/api/items/${path}`],
          ['PATCH', `/api/items/${path}`, { name: 'Injected' }],
          ['DELETE', `/api/items/${path}`],
          ['POST', `/api/items/${path}/adjust`, { delta: 1 }],
        ] as const) {
          const response = await alice.request(route, { method, json });
          expect((await apiError(response, 404)).code, `${method} ${route}`).toBe('not_found');
        }
        expect(await (await alice.request(`/json/${path}/`)).text()).toBe('[]');
        expect(parseXmlExport(await (await alice.request(`/xml/${path}/`)).text())).toEqual([]);
      }
      await expectUnchanged(everyone(), after);
      expect(after[1]).toBe(before[1]);
    });

    it('searches for SQL and pattern characters literally, on the page and in the API', async () => {
      const before = await snapshot(everyone());
      const objects = await exportObjects(alice);
      /** What a literal, case-insensitive search of names and descriptions finds. */
      const literally = (q: string) =>
        objects
          .filter((o) =>
            `${o.fields.name}\n${o.fields.description}`
              .toLowerCase()
              .includes(q.trim().toLowerCase()),
          )
          .map((o) => o.fields.name)
          .sort();
      const searches: Array<[string, string[]?]> = [
        ["' or 1=1 --", []],
        ["'; drop table items; --", []],
        ['%', ['100% juice']],
        ['_', ['under_score']],
        ['\\', ['back\\slash']],
        ['\\\\', []],
        ["'"],
        ['\u0000', []],
        ['%00', []],
        ['a%'],
      ];
      for (const [q, known] of searches) {
        const expected = literally(q);
        if (known) expect(expected, q).toEqual(known);
        const query = `?q=${encodeURIComponent(q)}&limit=100`;
        const api = await alice.request(`/api/items${query}`);
        expect(api.status, q).toBe(200);
        const { items } = (await api.json()) as { items: ApiItem[] };
        expect(items.map((item) => item.name).sort(), q).toEqual(expected);
        const page = await alice.request(`/${query}`);
        expect(page.status, q).toBe(200);
        expect(tableNames(await page.text()).sort(), q).toEqual(expected);
      }
      await expectUnchanged(everyone(), before);
    });

    it('sorts only by the allow-list: the API refuses anything else, the page falls back', async () => {
      const before = await snapshot(everyone());
      const newest = tableNames(await (await alice.request('/?limit=100')).text());
      for (const sort of [
        'name; drop table items',
        'id desc',
        'name desc',
        '(select 1)',
        'amount, (select pg_sleep(5))',
        'user_id',
        'NAME',
      ]) {
        const query = `?sort=${encodeURIComponent(sort)}&limit=100`;
        const error = await apiError(await alice.request(`/api/items${query}`), 400);
        expect(Object.keys(error.fields ?? {}), sort).toEqual(['sort']);
        const page = await alice.request(`/${query}`);
        expect(page.status, sort).toBe(200);
        expect(tableNames(await page.text()), sort).toEqual(newest);
      }
      await expectUnchanged(everyone(), before);
    });

    it('answers odd paging with a page (pages) or a 400 (API), never a 500', async () => {
      const before = await snapshot(everyone());
      // A page past the end of the list redirects to its last page.
      const cases: Array<[string, number, number]> = [
        ['page=-1', 400, 200],
        ['page=1e9', 400, 200],
        ['page=0', 400, 200],
        ['page=99999999999999999999', 400, 200],
        ['page=1%3Bdrop%20table%20items', 400, 200],
        ['page=1000000000', 200, 303],
        ['limit=0', 400, 200],
        ['limit=100000', 400, 200],
        ['limit=abc', 400, 200],
        ['limit=-5', 400, 200],
        ['limit=1e2', 400, 200],
        ['limit=100', 200, 200],
      ];
      for (const [query, apiStatus, pageStatus] of cases) {
        const api = await alice.request(`/api/items?${query}`);
        expect(api.status, query).toBe(apiStatus);
        if (apiStatus === 400) expect((await apiError(api, 400)).code).toBe('validation_error');
        const page = await alice.request(`/?${query}`);
        expect(page.status, query).toBe(pageStatus);
        if (pageStatus === 303) expect(page.headers.get('location'), query).toBe('/');
      }
      await expectUnchanged(everyone(), before);
    });
  });

  describe('another user’s items', () => {
    it('answers reading, changing, adjusting, deleting and exporting them like missing ones', async () => {
      const before = await snapshot(everyone());
      const missing = 2_147_483_647;
      const pages = (id: number) =>
        [
          alice.request(`/items/${id}/edit`),
          postForm(alice, `/items/${id}/edit`, { name: 'Stolen', amount: '0' }),
          alice.request(`/items/${id}/delete`),
          postForm(alice, `/items/${id}/delete`, {}),
          postForm(alice, `/items/${id}/adjust`, { delta: '-1' }),
        ] as const;
      const api = (id: number) =>
        [
          alice.request(`/api/items/${id}`),
          alice.request(`/api/items/${id}`, { method: 'PATCH', json: { name: 'Stolen' } }),
          alice.request(`/api/items/${id}`, { method: 'DELETE' }),
          alice.request(`/api/items/${id}/adjust`, { method: 'POST', json: { delta: -1 } }),
        ] as const;
      for (const id of [bobsItem.id, missing]) {
        for (const response of await Promise.all(pages(id))) {
          expect(response.status).toBe(404);
          expect(await response.text()).toContain('<title>Not found · Pacil Inventory</title>');
        }
        for (const response of await Promise.all(api(id))) {
          expect(await apiError(response, 404)).toEqual({
            code: 'not_found',
            message: 'No such item.',
          });
        }
        expect(await (await alice.request(`/json/${id}/`)).text()).toBe('[]');
        expect(await (await alice.request(`/xml/${id}/`)).text()).toBe(
          '<?xml version="1.0" encoding="utf-8"?>\n<django-objects version="1.0"></django-objects>',
        );
      }
      // Nor do lists, searches or the full exports show it.
      expect((await exportObjects(alice)).map((o) => o.pk)).not.toContain(bobsItem.id);
      expect(await (await alice.request('/xml/')).text()).not.toContain('Bobs secret');
      expect(await (await alice.request('/?q=Bobs')).text()).not.toContain('Bobs secret');
      const search = (await (await alice.request('/api/items?q=Bobs')).json()) as { total: number };
      expect(search.total).toBe(0);
      await expectUnchanged(everyone(), before);
    });
  });

  describe('mass assignment', () => {
    it('refuses user, id, user_id, created_at and any other field in JSON bodies with 400', async () => {
      const bobsBefore = await snapshot([bob]);
      const { id } = await createItem(alice, { name: 'Mine', amount: 1 });
      const before = await snapshot(everyone());
      for (const extra of [
        { user: bobId },
        { id: bobsItem.id },
        { user_id: bobId },
        { created_at: '2000-01-01T00:00:00Z' },
        { owner: bobId },
        { pk: bobsItem.id },
        // Names every object inherits: they must be reported like any other unknown field.
        { toString: 1 },
        { constructor: 1, hasOwnProperty: 1 },
        JSON.parse('{"__proto__": {"user": 1}}') as Record<string, unknown>,
      ]) {
        const created = await alice.request('/api/items', {
          method: 'POST',
          json: { name: 'Planted', amount: 1, ...extra },
        });
        expect(Object.keys((await apiError(created, 400)).fields ?? {})).toEqual(
          Object.keys(extra),
        );
        const patched = await alice.request(`/api/items/${id}`, {
          method: 'PATCH',
          json: { name: 'Moved', ...extra },
        });
        expect(Object.keys((await apiError(patched, 400)).fields ?? {})).toEqual(
          Object.keys(extra),
        );
      }
      await expectUnchanged(everyone(), before);
      expect(before[1]).toBe(bobsBefore[0]);
    });

    it('ignores extra form fields: the item stays the poster’s', async () => {
      const bobsBefore = await snapshot([bob]);
      const planted = {
        user_id: String(bobId),
        user: String(bobId),
        id: String(bobsItem.id),
        pk: String(bobsItem.id),
        created_at: '2000-01-01',
      };
      const created = await postForm(alice, '/create-item', {
        name: 'Form planted',
        amount: '3',
        ...planted,
      });
      expect(created.status).toBe(303);
      const stored = (await exportObjects(alice)).find((o) => o.fields.name === 'Form planted')!;
      expect(stored.fields.user).toBe(aliceId);
      expect(stored.pk).not.toBe(bobsItem.id);

      const edited = await postForm(alice, `/items/${stored.pk}/edit`, {
        name: 'Form edited',
        amount: '4',
        ...planted,
      });
      expect(edited.status).toBe(303);
      const after = (await exportObjects(alice)).find((o) => o.pk === stored.pk)!;
      expect(after.fields).toMatchObject({ user: aliceId, name: 'Form edited', amount: 4 });
      await expectUnchanged([bob], bobsBefore);
    });
  });

  describe('request bodies', () => {
    /** A urlencoded body of exactly `size` bytes: a valid item, padded with an unknown field. */
    function formOfSize(size: number): string {
      const head = 'name=Padded&amount=1&pad=';
      return head + 'x'.repeat(size - head.length);
    }
    /** A JSON body of exactly `size` bytes: a valid item, padded with spaces. */
    function jsonOfSize(size: number): string {
      const item = JSON.stringify({ name: 'Padded', amount: 1 });
      return item + ' '.repeat(size - item.length);
    }

    it('refuses forms and JSON just over 64 KiB with 413, and takes them at 64 KiB', async () => {
      const before = await snapshot(everyone());
      const over = BODY_LIMIT_BYTES + 1;
      const form = (body: string, path = '/create-item') =>
        alice.request(path, { method: 'POST', headers: { 'Content-Type': FORM_TYPE }, body });
      const json = (body: string, path = '/api/items', method = 'POST') =>
        alice.request(path, { method, headers: { 'Content-Type': 'application/json' }, body });
      const id = (await exportObjects(alice))[0]!.pk;
      for (const response of [
        await form(formOfSize(over)),
        await form(formOfSize(over), '/login/'),
        await form(formOfSize(over), '/register/'),
        await form(formOfSize(over), '/settings/'),
        await form(formOfSize(over), `/items/${id}/edit`),
        await json(jsonOfSize(over)),
        await json(jsonOfSize(over), `/api/items/${id}`, 'PATCH'),
        await json(jsonOfSize(over), `/api/items/${id}/adjust`),
      ]) {
        expect((await apiError(response, 413)).code).toBe('payload_too_large');
      }
      await expectUnchanged(everyone(), before);

      expect((await form(formOfSize(BODY_LIMIT_BYTES))).status).toBe(303);
      expect((await json(jsonOfSize(BODY_LIMIT_BYTES))).status).toBe(201);
    });

    it('refuses them chunked, without a Content-Length', async () => {
      const before = await snapshot(everyone());
      const chunks = (text: string) =>
        Array.from({ length: Math.ceil(text.length / 8192) }, (_, i) =>
          text.slice(i * 8192, (i + 1) * 8192),
        );
      for (const [path, type, body] of [
        ['/create-item', FORM_TYPE, formOfSize(BODY_LIMIT_BYTES + 1)],
        ['/api/items', 'application/json', jsonOfSize(BODY_LIMIT_BYTES + 1)],
        ['/login/', FORM_TYPE, formOfSize(BODY_LIMIT_BYTES + 1)],
      ] as const) {
        const response = await rawRequest(site.url, {
          method: 'POST',
          path,
          headers: {
            Cookie: alice.cookie!,
            Origin: site.url,
            'Content-Type': type,
            'Transfer-Encoding': 'chunked',
            'X-Forwarded-For': alice.address,
          },
          chunks: chunks(body),
        });
        expect(response.status, `${path} ${body.length}`).toBe(413);
        expect(JSON.parse(response.body)).toMatchObject({ error: { code: 'payload_too_large' } });
      }
      await expectUnchanged(everyone(), before);
    });

    it('refuses a declared length over 64 KiB before a byte of the body arrives', async () => {
      for (const [path, type] of [
        ['/create-item', FORM_TYPE],
        ['/api/items', 'application/json'],
        ['/login/', FORM_TYPE],
      ] as const) {
        const response = await rawRequest(site.url, {
          method: 'POST',
          path,
          headers: {
            Cookie: alice.cookie!,
            Origin: site.url,
            'Content-Type': type,
            'Content-Length': String(BODY_LIMIT_BYTES + 1),
            'X-Forwarded-For': alice.address,
          },
        });
        expect(response.status, path).toBe(413);
      }
    });

    it('refuses malformed bodies with 400 and unsupported types with 415', async () => {
      const before = await snapshot(everyone());
      const send = (path: string, type: string | undefined, body: BodyInit, method = 'POST') =>
        alice.request(path, { method, body, headers: type ? { 'Content-Type': type } : {} });
      const id = (await exportObjects(alice))[0]!.pk;
      const bytes = (...parts: Array<string | number[]>) =>
        Buffer.concat(
          parts.map((part) => (typeof part === 'string' ? Buffer.from(part) : Buffer.from(part))),
        );
      const multipart = 'multipart/form-data; boundary=XYZ';

      const badRequests: Array<[string, string | undefined, BodyInit, string?]> = [
        ['/api/items', 'application/json', '{"name": "x", "amount": '],
        ['/api/items', 'application/json', '{"name": "x", "amount": NaN}'],
        ['/api/items', 'application/json', "{'name': 'x'}"],
        ['/api/items', 'application/json', ''],
        ['/api/items', 'application/json', bytes('{"name": "', [0xff, 0xfe], '", "amount": 1}')],
        [
          '/api/items',
          'application/json',
          bytes('{"name": "', [0xed, 0xa0, 0x80], '", "amount": 1}'),
        ],
        [`/api/items/${id}`, 'application/json', '{"name": ', 'PATCH'],
        ['/create-item', FORM_TYPE, bytes('name=', [0xff], '&amount=1')],
        ['/create-item', FORM_TYPE, bytes('name=', [0xc3, 0x28], '&amount=1')],
        ['/create-item', FORM_TYPE, 'name=%zz&amount=1'],
        ['/create-item', FORM_TYPE, 'name=%E0%A4&amount=1'],
        ['/create-item', FORM_TYPE, 'name=%&amount=1'],
        ['/create-item', FORM_TYPE, 'name=%ED%A0%80&amount=1'],
        [`/items/${id}/edit`, FORM_TYPE, 'name=%zz&amount=1'],
        ['/login/', FORM_TYPE, 'username=%E0%A4&password=x'],
        ['/register/', FORM_TYPE, 'username=%zz'],
        ['/create-item', multipart, 'this is not multipart'],
        [
          '/create-item',
          multipart,
          '--XYZ\r\nContent-Disposition: form-data; name="name"\r\n\r\nunterminated',
        ],
        ['/create-item', 'multipart/form-data', '--XYZ--\r\n'],
        [
          '/create-item',
          multipart,
          bytes(
            '--XYZ\r\nContent-Disposition: form-data; name="name"\r\n\r\n',
            [0xff, 0xfe],
            '\r\n--XYZ--\r\n',
          ),
        ],
      ];
      for (const [path, type, body, method] of badRequests) {
        const response = await send(path, type, body, method);
        const error = await apiError(response, 400);
        expect(error.code, `${path} ${String(body)}`).toBe('bad_request');
      }

      const unsupported: Array<[string, string | undefined, BodyInit, string?]> = [
        ['/api/items', 'text/plain', JSON.stringify({ name: 'x', amount: 1 })],
        ['/api/items', FORM_TYPE, 'name=x&amount=1'],
        ['/api/items', 'application/xml', '<item/>'],
        ['/api/items', undefined, new TextEncoder().encode('{"name":"x","amount":1}')],
        [`/api/items/${id}`, 'text/plain', '{"name":"x"}', 'PATCH'],
        ['/create-item', 'application/json', JSON.stringify({ name: 'x', amount: '1' })],
        ['/create-item', 'text/plain', 'name=x&amount=1'],
        ['/create-item', 'application/xml', '<item/>'],
        ['/create-item', undefined, new TextEncoder().encode('name=x&amount=1')],
        ['/login/', 'application/json', '{"username":"x","password":"y"}'],
      ];
      for (const [path, type, body, method] of unsupported) {
        const response = await send(path, type, body, method);
        expect((await apiError(response, 415)).code, `${path} ${type}`).toBe(
          'unsupported_media_type',
        );
      }
      await expectUnchanged(everyone(), before);
    });

    it('answers wrong methods with 405 and Allow, on pages and endpoints', async () => {
      const before = await snapshot(everyone());
      const id = (await exportObjects(alice))[0]!.pk;
      const cases: Array<[string, string, string]> = [
        ['PUT', '/', 'GET, HEAD'],
        ['POST', '/', 'GET, HEAD'],
        ['DELETE', '/login/', 'GET, HEAD, POST'],
        ['PUT', '/register/', 'GET, HEAD, POST'],
        ['DELETE', '/logout/', 'GET, HEAD, POST'],
        ['PATCH', '/create-item', 'GET, HEAD, POST'],
        ['PUT', `/items/${id}/edit`, 'GET, HEAD, POST'],
        ['DELETE', `/items/${id}/delete`, 'GET, HEAD, POST'],
        ['GET', `/items/${id}/adjust`, 'POST'],
        ['PUT', '/settings/', 'GET, HEAD, POST'],
        ['POST', '/json/', 'GET, HEAD'],
        ['DELETE', `/json/${id}/`, 'GET, HEAD'],
        ['PUT', '/xml/', 'GET, HEAD'],
        ['PUT', '/api/items', 'GET, HEAD, POST'],
        ['DELETE', '/api/items', 'GET, HEAD, POST'],
        ['PUT', `/api/items/${id}`, 'GET, HEAD, PATCH, DELETE'],
        ['POST', `/api/items/${id}`, 'GET, HEAD, PATCH, DELETE'],
        ['GET', `/api/items/${id}/adjust`, 'POST'],
      ];
      for (const [method, path, allow] of cases) {
        for (const accept of ['application/json', 'text/html']) {
          const response = await alice.request(path, {
            method,
            headers: {
              Accept: accept,
              ...(method === 'GET' ? {} : { 'Content-Type': 'application/json' }),
            },
            body: method === 'GET' ? undefined : '{}',
          });
          const label = `${method} ${path} (${accept})`;
          expect(response.status, label).toBe(405);
          expect(response.headers.get('allow'), label).toBe(allow);
          expectNoInternals(await response.text(), label);
        }
      }
      await expectUnchanged(everyone(), before);
    });
  });

  describe('amounts', () => {
    const refused: Array<[string, unknown, string]> = [
      ['2147483648', 2147483648, AMOUNT_MAX_MESSAGE],
      ['-1', -1, AMOUNT_MIN_MESSAGE],
      ['1e309', '1e309', WHOLE_NUMBER_MESSAGE],
      ['NaN', 'NaN', WHOLE_NUMBER_MESSAGE],
      ['10abc', '10abc', WHOLE_NUMBER_MESSAGE],
      ['', '', REQUIRED_MESSAGE],
    ];

    it('refuses amounts out of range or not whole numbers, naming the amount field', async () => {
      const before = await snapshot(everyone());
      const id = (await exportObjects(alice))[0]!.pk;
      for (const [formValue, jsonValue, message] of refused) {
        const added = await postForm(alice, '/create-item', { name: 'Counted', amount: formValue });
        expect(added.status, formValue).toBe(400);
        expect(fieldErrors(await added.text(), 'amount'), formValue).toEqual([message]);
        const edited = await postForm(alice, `/items/${id}/edit`, {
          name: 'Counted',
          amount: formValue,
        });
        expect(edited.status, formValue).toBe(400);
        expect(fieldErrors(await edited.text(), 'amount'), formValue).toEqual([message]);

        const created = await alice.request('/api/items', {
          method: 'POST',
          json: { name: 'Counted', amount: jsonValue },
        });
        expect((await apiError(created, 400)).fields, formValue).toEqual({ amount: [message] });
      }
      // A JSON number too large for a double is Infinity: not a whole number either.
      const infinite = await alice.request('/api/items', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: '{"name": "Counted", "amount": 1e309}',
      });
      expect((await apiError(infinite, 400)).fields).toEqual({ amount: [WHOLE_NUMBER_MESSAGE] });
      await expectUnchanged(everyone(), before);
    });

    it('takes 2147483647, the largest amount', async () => {
      expect(
        (await postForm(alice, '/create-item', { name: 'Most', amount: '2147483647' })).status,
      ).toBe(303);
      expect((await createItem(alice, { name: 'Most too', amount: AMOUNT_MAX })).amount).toBe(
        AMOUNT_MAX,
      );
      const stored = (await exportObjects(alice)).filter((o) => o.fields.name.startsWith('Most'));
      expect(stored.map((o) => o.fields.amount)).toEqual([AMOUNT_MAX, AMOUNT_MAX]);
    });
  });

  describe('text limits and characters', () => {
    const tooLong = (n: number) => `Ensure this value has at most 255 characters (it has ${n}).`;

    it('takes names of 255 characters, counted in code points, and refuses 256', async () => {
      const before = await snapshot(everyone());
      for (const name of ['x'.repeat(256), '😀'.repeat(256)]) {
        const form = await postForm(alice, '/create-item', { name, amount: '1' });
        expect(form.status).toBe(400);
        expect(fieldErrors(await form.text(), 'name')).toEqual([tooLong(256)]);
        const api = await alice.request('/api/items', {
          method: 'POST',
          json: { name, amount: 1 },
        });
        expect((await apiError(api, 400)).fields).toEqual({ name: [tooLong(256)] });
      }
      await expectUnchanged(everyone(), before);

      for (const name of ['y'.repeat(255), '😀'.repeat(255), `  ${'z'.repeat(255)}  `]) {
        expect((await postForm(alice, '/create-item', { name, amount: '1' })).status).toBe(303);
        expect((await createItem(alice, { name, amount: 1 })).name).toBe(name.trim());
      }
      const stored = (await exportObjects(alice)).map((o) => o.fields.name);
      expect(stored.filter((name) => name === '😀'.repeat(255))).toHaveLength(2);
      expect(stored.filter((name) => name === 'z'.repeat(255))).toHaveLength(2);
    });

    it('refuses control characters and U+FFFE with a message naming them', async () => {
      const before = await snapshot(everyone());
      const id = (await exportObjects(alice))[0]!.pk;
      for (const [character, code] of [
        ['\u0000', 'U+0000'],
        ['\u0001', 'U+0001'],
        ['\u000b', 'U+000B'],
        ['\u001f', 'U+001F'],
        ['\ufffe', 'U+FFFE'],
      ] as const) {
        const message = `Remove the invisible control character ${code}: it cannot be stored or exported.`;
        for (const field of ['name', 'description'] as const) {
          const fields = { name: 'Clean', amount: '1', description: '', [field]: `a${character}b` };
          const form = await postForm(alice, '/create-item', fields);
          expect(form.status, `${code} in ${field}`).toBe(400);
          expect(fieldErrors(await form.text(), field)).toEqual([message]);
          const edit = await postForm(alice, `/items/${id}/edit`, fields);
          expect(edit.status).toBe(400);
          expect(fieldErrors(await edit.text(), field)).toEqual([message]);

          const json = { name: 'Clean', amount: 1, [field]: `a${character}b` };
          const api = await alice.request('/api/items', { method: 'POST', json });
          expect((await apiError(api, 400)).fields).toEqual({ [field]: [message] });
          const patch = await alice.request(`/api/items/${id}`, {
            method: 'PATCH',
            json: { [field]: `a${character}b` },
          });
          expect((await apiError(patch, 400)).fields).toEqual({ [field]: [message] });
        }
      }
      await expectUnchanged(everyone(), before);
    });

    it('refuses lone surrogates sent as JSON escapes', async () => {
      const before = await snapshot(everyone());
      const id = (await exportObjects(alice))[0]!.pk;
      for (const [escaped, code] of [
        ['\\ud800', 'U+D800'],
        ['\\udfff', 'U+DFFF'],
        ['a\\udc00\\ud800b', 'U+DC00'],
        ['\\ud83d', 'U+D83D'],
      ] as const) {
        const message = `Remove the invisible control character ${code}: it cannot be stored or exported.`;
        for (const field of ['name', 'description']) {
          const body = `{"name": "Clean", "amount": 1, "${field}": "${escaped}"}`;
          const created = await alice.request('/api/items', {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body,
          });
          expect((await apiError(created, 400)).fields, body).toEqual({ [field]: [message] });
          const patched = await alice.request(`/api/items/${id}`, {
            method: 'PATCH',
            headers: { 'Content-Type': 'application/json' },
            body: `{"${field}": "${escaped}"}`,
          });
          expect((await apiError(patched, 400)).fields).toEqual({ [field]: [message] });
        }
      }
      await expectUnchanged(everyone(), before);
    });

    it('stores CR LF and lone CR as LF, from forms and JSON', async () => {
      const posted = await postForm(alice, '/create-item', {
        name: 'Lines form',
        amount: '1',
        description: 'one\r\ntwo\rthree\nfour',
      });
      expect(posted.status).toBe(303);
      const created = await createItem(alice, {
        name: 'Lines json',
        amount: 1,
        description: 'one\r\ntwo\rthree\nfour',
      });
      expect(created.description).toBe('one\ntwo\nthree\nfour');
      const patched = await alice.request(`/api/items/${created.id}`, {
        method: 'PATCH',
        json: { description: 'a\r\rb\r\n' },
      });
      expect(((await patched.json()) as ApiItem).description).toBe('a\n\nb\n');
      const stored = (await exportObjects(alice)).filter((o) => o.fields.name.startsWith('Lines'));
      expect(stored.map((o) => o.fields.description)).toEqual([
        'one\ntwo\nthree\nfour',
        'a\n\nb\n',
      ]);
      expect(JSON.stringify(await exportObjects(alice))).not.toContain('\\r');
    });
  });
});
