import { readFileSync } from 'node:fs';
import net from 'node:net';
import fc from 'fast-check';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AMOUNT_MAX,
  firstUnstorableCharacter,
  itemInputSchema,
  type ItemInput,
} from '../../src/lib/contracts/item-input.ts';
import { BACKENDS, personalInventoryOf } from '../helpers/database.ts';
import {
  processCpuMs,
  registerInDatabase,
  signIn,
  signUp,
  startSite,
  strictXmlParser,
  type Site,
  type SiteClient,
} from '../helpers/site.ts';

// Byte-exact output of Django's serializers.serialize() for the original app (see its README).
const FORMATS = new URL('../fixtures/django-formats/', import.meta.url);
const golden = (name: string): Buffer => readFileSync(new URL(name, FORMATS));

const CONTENT_TYPE = { json: 'application/json', xml: 'application/xml' } as const;
type Format = keyof typeof CONTENT_TYPE;
const BOTH: readonly Format[] = ['json', 'xml'];

const WIDGET = { name: 'Widget', amount: 3, description: 'A small widget' };
const GADGET = {
  name: 'Gadget <b>&',
  amount: 10,
  description: 'Line1\nLine2 "quoted" \'single\' é ü 漢字',
};

/** Ids that name no item of anyone's: every one must give the empty list, never a 500. */
const WEIRD_IDS = [
  '1;drop table items',
  "1' or '1'='1",
  '99999999999',
  '2147483648',
  '99999999999999999999999999999999999999',
  '-1',
  '0',
  '000',
  'abc',
  '1.0',
  '1e3',
  '0x1',
  ' 1',
  '１', // a fullwidth digit is not a digit to Django's <int:...>
  '٣',
  '%00',
  '../1',
];

function expectBytes(actual: Buffer, expected: Buffer): void {
  // The string comparison gives a readable diff; the byte comparison is the contract.
  expect(actual.toString('utf8')).toBe(expected.toString('utf8'));
  expect(actual.equals(expected)).toBe(true);
}

async function expectExport(
  client: SiteClient,
  pathname: string,
  format: Format,
  goldenName: string,
): Promise<void> {
  const { response, body } = await client.bytes(pathname);
  expect(response.status, pathname).toBe(200);
  expect(response.headers.get('content-type'), pathname).toBe(CONTENT_TYPE[format]);
  expectBytes(body, golden(`${goldenName}.${format}`));
  // No byte-order mark, no trailing newline.
  expect(body.subarray(0, 3).equals(Buffer.from([0xef, 0xbb, 0xbf]))).toBe(false);
  expect(body.at(-1)).not.toBe(0x0a);
}

describe.each(BACKENDS)('the Django-format exports on %s', (backend) => {
  let site: Site;
  let owner: SiteClient;
  let other: SiteClient;

  beforeAll(async () => {
    site = await startSite(backend);
    // On a fresh database the first user is id 1 and its first items are 1 and 2, as in
    // the worked examples.
    owner = await signUp(site.url, 'golden_owner');
    for (const [item, id] of [
      [WIDGET, 1],
      [GADGET, 2],
    ] as const) {
      const created = await owner.request('/api/items', { method: 'POST', json: item });
      expect(created.status).toBe(201);
      expect(await created.json()).toMatchObject({ ...item, id });
    }
    other = await signUp(site.url, 'someone_else');
  });

  afterAll(async () => {
    await site?.close();
  });

  it('writes every item of the caller byte for byte as Django did, with or without the slash', async () => {
    for (const format of BOTH) {
      await expectExport(owner, `/${format}/`, format, 'items');
      await expectExport(owner, `/${format}`, format, 'items');
    }
  });

  it('writes one item as a one-element list; leading zeros name the same item', async () => {
    for (const format of BOTH) {
      for (const id of ['1', '01', '001', '0000000001']) {
        await expectExport(owner, `/${format}/${id}/`, format, 'item-1');
      }
      await expectExport(owner, `/${format}/1`, format, 'item-1');
    }
  });

  it('gives the empty list with 200 for missing ids', async () => {
    for (const format of BOTH) {
      for (const id of ['3', '2147483647', '0002000']) {
        await expectExport(owner, `/${format}/${id}/`, format, 'missing');
      }
    }
  });

  it('gives the empty list, never a 500, for ids that are not item ids', async () => {
    for (const format of BOTH) {
      for (const id of WEIRD_IDS) {
        const pathname = `/${format}/${encodeURIComponent(id)}/`;
        const { response, body } = await owner.bytes(pathname);
        if (response.status === 404) {
          // An id with a slash in it is another route: nothing of ours answers it.
          expect(id).toContain('/');
          continue;
        }
        expect(response.status, pathname).toBe(200);
        expectBytes(body, golden(`missing.${format}`));
      }
    }
    // And nothing was dropped or changed on the way.
    await expectExport(owner, '/json/', 'json', 'items');
  });

  it('shows nobody else’s items: another user gets empty lists for the owner’s ids', async () => {
    for (const format of BOTH) {
      await expectExport(other, `/${format}/`, format, 'missing');
      for (const id of ['1', '2', '001']) {
        await expectExport(other, `/${format}/${id}/`, format, 'missing');
      }
    }
    // The owner's view is unchanged by the other user's requests.
    await expectExport(owner, '/xml/', 'xml', 'items');
  });

  it('answers anonymous programs with 401 in the endpoint’s format', async () => {
    const anonymous = owner.anonymous();
    for (const pathname of ['/json/', '/json/1/', '/json/abc/']) {
      const response = await anonymous.request(pathname, {
        headers: { Accept: 'application/json' },
      });
      expect(response.status).toBe(401);
      expect(response.headers.get('content-type')).toBe('application/json');
      expect(await response.json()).toEqual({
        error: { code: 'unauthorized', message: expect.any(String) },
      });
    }
    for (const pathname of ['/xml/', '/xml/1/']) {
      // No Accept at all, as curl or a script sends.
      const response = await anonymous.request(pathname);
      expect(response.status).toBe(401);
      expect(response.headers.get('content-type')).toBe('application/xml');
      const text = await response.text();
      expect(XMLValidator.validate(text)).toBe(true);
      expect(new XMLParser().parse(text)).toMatchObject({
        error: { code: 'unauthorized', message: expect.any(String) },
      });
    }
    // A cookie that names no session is anonymous too.
    const forged = await owner.anonymous().request('/json/', {
      headers: { Cookie: 'sessionid=not-a-session' },
    });
    expect(forged.status).toBe(401);
  });

  it('sends an anonymous browser navigation to sign in, with the path to come back to', async () => {
    const anonymous = owner.anonymous();
    const browserAccept = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';
    for (const pathname of ['/json/', '/xml/1/', '/xml/?download=1']) {
      const response = await anonymous.request(pathname, { headers: { Accept: browserAccept } });
      expect(response.status).toBe(302);
      expect(response.headers.get('location')).toBe(`/login/?next=${encodeURIComponent(pathname)}`);
    }
  });

  it('answers HEAD with the headers and no body', async () => {
    for (const format of BOTH) {
      for (const pathname of [`/${format}/`, `/${format}/1/`, `/${format}/abc/`]) {
        const { response, body } = await owner.bytes(pathname, { method: 'HEAD' });
        expect(response.status).toBe(200);
        expect(response.headers.get('content-type')).toBe(CONTENT_TYPE[format]);
        expect(body.length).toBe(0);
      }
      const anonymous = await owner.anonymous().bytes(`/${format}/`, { method: 'HEAD' });
      expect(anonymous.response.status).toBe(401);
      expect(anonymous.body.length).toBe(0);
    }
  });

  it('refuses other methods with 405 and Allow: GET, HEAD, changing nothing', async () => {
    for (const format of BOTH) {
      for (const method of ['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
        for (const pathname of [`/${format}/`, `/${format}/1/`]) {
          const response = await owner.request(pathname, { method, origin: owner.url });
          expect(response.status, `${method} ${pathname}`).toBe(405);
          expect(response.headers.get('allow')).toBe('GET, HEAD');
          expect(response.headers.get('content-type')).toBe(CONTENT_TYPE[format]);
        }
      }
    }
    await expectExport(owner, '/json/', 'json', 'items');
  });

  it('carries the site’s security headers and forbids caching', async () => {
    const response = await owner.request('/json/');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('x-frame-options')).toBe('DENY');
    expect(response.headers.get('cache-control')).toBe('no-store');
  });

  describe('round trips of any item the schema accepts', () => {
    const BOM = '\uFEFF';
    const readsLeadingBom = backend !== 'pglite';
    let author: SiteClient;
    let authorId: number | undefined;

    beforeAll(async () => {
      author = await signUp(site.url, `property_author`);
    });

    const special = fc.constantFrom(
      '&',
      '<',
      '>',
      '"',
      "'",
      ']]>',
      '&amp;',
      '&lt;',
      '<!--',
      '\n',
      '\r\n',
      '\r',
      '\t',
      ' ',
      '\\',
      '\u007f',
      '\u0085',
      '\u00a0',
      '\u2028',
      '\ufeff',
      '\ufffd',
      'é',
      'e\u0301',
      '漢字',
      '😀',
    );
    const anyCharacter = fc
      .string({ unit: 'binary', minLength: 1, maxLength: 1 })
      .filter((character) => firstUnstorableCharacter(character) === undefined);
    const text = (maxLength: number) =>
      fc.string({ unit: fc.oneof(special, anyCharacter), maxLength });

    /** What a client may send: a string amount, surrounding spaces, CR LF, no description. */
    const itemBody = fc
      .record(
        {
          name: text(60),
          amount: fc.oneof(
            fc.integer({ min: 0, max: AMOUNT_MAX }),
            fc.constantFrom(0, AMOUNT_MAX),
            fc.integer({ min: 0, max: AMOUNT_MAX }).map((n) => ` ${n} `),
          ),
          description: text(300),
        },
        { requiredKeys: ['name', 'amount'] },
      )
      .filter((body) => itemInputSchema.safeParse(body).success)
      .filter(
        (body) => readsLeadingBom || !itemInputSchema.parse(body).description.startsWith(BOM),
      );

    /**
     * Stores `body` through the API, runs `check` on the stored item, and deletes it again
     * whatever happened, so every run (and every shrinking step) starts from no items.
     */
    async function roundTrip(
      body: unknown,
      check: (id: number, expected: ItemInput) => Promise<void>,
    ): Promise<void> {
      const expected = itemInputSchema.parse(body);
      const created = await author.request('/api/items', { method: 'POST', json: body });
      const item = (await created.json()) as Partial<{ id: number } & ItemInput>;
      try {
        expect(created.status).toBe(201);
        expect(item).toMatchObject(expected);
        await check(item.id!, expected);
      } finally {
        if (item.id !== undefined) {
          const deleted = await author.request(`/api/items/${item.id}`, { method: 'DELETE' });
          expect(deleted.status).toBe(204);
        }
      }
    }

    // A known defect, pinned so that it shows: PGlite 0.5 decodes every text value with a
    // TextDecoder that drops a leading byte-order mark, so '\uFEFFtext' is stored whole but
    // read back as 'text'. The property tests leave that one case out on PGlite; once
    // PGlite is fixed this test starts failing there, and the exclusion can go.
    (readsLeadingBom ? it : it.fails)('keeps a leading U+FEFF in text', async () => {
      await roundTrip({ name: 'Marked', amount: 1, description: `${BOM}text` }, async () => {
        const objects = (await (await author.request('/json/')).json()) as Array<{
          fields: ItemInput;
        }>;
        expect(objects[0]!.fields.description).toBe(`${BOM}text`);
      });
    });

    it('comes back unchanged through /json/', async () => {
      await fc.assert(
        fc.asyncProperty(itemBody, (body) =>
          roundTrip(body, async (id, expected) => {
            const response = await author.request('/json/');
            expect(response.headers.get('content-type')).toBe('application/json');
            const objects = (await response.json()) as Array<{
              model: string;
              pk: number;
              fields: { user: number } & ItemInput;
            }>;
            expect(objects).toHaveLength(1);
            const [object] = objects;
            authorId ??= object!.fields.user;
            expect(object).toEqual({
              model: 'main.item',
              pk: id,
              fields: { user: authorId, ...expected },
            });
            // Key order is part of the format.
            expect(Object.keys(object!.fields)).toEqual(['user', 'name', 'amount', 'description']);
          }),
        ),
        { numRuns: 30 },
      );
    });

    it('comes back unchanged through a strict XML parse of /xml/', async () => {
      await fc.assert(
        fc.asyncProperty(itemBody, (body) =>
          roundTrip(body, async (id, expected) => {
            const response = await author.request('/xml/');
            expect(response.headers.get('content-type')).toBe('application/xml');
            const xml = await response.text();
            expect(XMLValidator.validate(xml)).toBe(true);
            const document = strictXmlParser.parse(xml) as {
              'django-objects': {
                '@_version': string;
                object: Array<{
                  '@_model': string;
                  '@_pk': string;
                  field: Array<{ '@_name': string; '#text'?: string }>;
                }>;
              };
            };
            const objects = document['django-objects'].object;
            expect(objects).toHaveLength(1);
            const [object] = objects;
            expect(object!['@_model']).toBe('main.item');
            expect(object!['@_pk']).toBe(String(id));
            const fields = Object.fromEntries(
              object!.field.map((field) => [field['@_name'], field['#text'] ?? '']),
            );
            expect(Object.keys(fields)).toEqual(['user', 'name', 'amount', 'description']);
            expect(fields).toEqual({
              user: fields.user,
              name: expected.name,
              amount: String(expected.amount),
              description: expected.description,
            });
            expect(fields.user).toMatch(/^[1-9]\d*$/);
          }),
        ),
        { numRuns: 30 },
      );
    });
  });
});

/*
 * A large export must not be held in the server's memory, however slowly the client reads.
 * Astro's Node writer does not wait for the socket to drain, so without the export's own
 * pacing (waitForDrain in node-server.ts) a client that stops reading lets the server
 * serialize everything into its socket buffer. What that costs in memory is measured by
 * `npm run bench -- --export N` (the stalled-client line, see bench/README.md); here, the
 * behaviour: the server does no work while the client reads nothing, and the bytes are whole.
 */
describe.each(BACKENDS)('a large export on %s', (backend) => {
  const ITEMS = 50_000;
  /** 78 copies of a 32-character md5: items of about 2.5 kB, 130 MB of JSON in all. */
  const MD5_COPIES = 78;
  const DESCRIPTION_LENGTH = MD5_COPIES * 32;
  /**
   * Unpaced, the server is still serializing the export into its socket buffer all through
   * this stall (seconds of CPU time for 130 MB); paced, it waits for the client.
   */
  const STALL_MS = 2_000;
  let site: Site;
  let client: SiteClient;

  beforeAll(async () => {
    site = await startSite(backend, async (db) => {
      const userId = await registerInDatabase(db, 'bulk_owner');
      await sql`
        insert into items (inventory_id, created_by, name, amount, description)
        select ${await personalInventoryOf(db, userId)}, ${userId}, 'Item ' || g, g, repeat(md5(g::text), ${MD5_COPIES})
        from generate_series(1, ${ITEMS}) as g
      `.execute(db);
    });
    client = await signIn(site.url, 'bulk_owner');
  }, 180_000);

  afterAll(async () => {
    await site?.close();
  });

  /** Sends a raw HTTP/1.0 request (no chunking: the body is what follows the headers). */
  function rawExport(pathname: string) {
    const url = new URL(site.url);
    const socket = net.connect(Number(url.port), url.hostname);
    socket.write(
      `GET ${pathname} HTTP/1.0\r\nHost: ${url.host}\r\nCookie: ${client.cookie}\r\n` +
        `X-Forwarded-For: ${client.address}\r\n\r\n`,
    );
    const body: Buffer[] = [];
    let head = Buffer.alloc(0);
    let inBody = false;
    socket.on('data', (chunk: Buffer) => {
      if (inBody) {
        body.push(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      inBody = true;
      body.push(head.subarray(end + 4));
      head = head.subarray(0, end);
    });
    const ended = new Promise<void>((resolve, reject) => {
      socket.on('end', resolve);
      socket.on('error', reject);
    });
    return {
      socket,
      async finish() {
        await ended;
        return { head: head.toString('latin1'), body: Buffer.concat(body) };
      },
    };
  }

  it('holds back while the client does not read, and then streams in full', async () => {
    const pid = site.server.process.pid!;
    const cpuAtRequest = await processCpuMs(pid);
    const slow = rawExport('/json/');
    // Take the first bytes, then stop reading for a while, as a stalled client does.
    await new Promise((resolve) => slow.socket.once('data', resolve));
    slow.socket.pause();
    // What was already under way (the batch being written, one read ahead) settles first.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const cpuAtStall = await processCpuMs(pid);
    await new Promise((resolve) => setTimeout(resolve, STALL_MS));
    const cpuAtResume = await processCpuMs(pid);
    slow.socket.resume();
    const { head, body } = await slow.finish();
    expect(head).toMatch(/^HTTP\/1\.[01] 200 /);

    // Every item, in id order, and the same bytes as a client that reads at full speed gets.
    expect(body.length).toBeGreaterThan(ITEMS * DESCRIPTION_LENGTH);
    const objects = JSON.parse(body.toString('utf8')) as Array<{ pk: number }>;
    expect(objects).toHaveLength(ITEMS);
    expect(objects.every((object, i) => i === 0 || object.pk > objects[i - 1]!.pk)).toBe(true);
    const cpuBeforeFast = await processCpuMs(pid);
    const fast = await client.bytes('/json/');
    const fastCpuMs = (await processCpuMs(pid)) - cpuBeforeFast;
    expect(fast.response.status).toBe(200);
    expect(fast.body.equals(body)).toBe(true);

    // Paced, the server does nothing while the client does not read; unpaced, it spends
    // seconds of CPU time serializing the rest of the export into its socket buffer.
    const stalledCpuMs = cpuAtResume - cpuAtStall;
    expect(stalledCpuMs, `CPU time while the client stalled: ${stalledCpuMs} ms`).toBeLessThan(250);
    // On the embedded database an unpaced server gets all of that done before the first
    // bytes even reach the client (the queries run in its own thread), so the stall above
    // sees nothing there: count from the request, against what the whole export costs.
    // Paced, a tenth of it; unpaced, all of it.
    const heldCpuMs = cpuAtResume - cpuAtRequest;
    expect(
      heldCpuMs,
      `CPU time until the client read on: ${heldCpuMs} ms of the export's ${fastCpuMs} ms`,
    ).toBeLessThan(fastCpuMs / 2);
  }, 180_000);

  it('cuts, and never writes into, an export whose client then sends something unreadable', async () => {
    const export_ = rawExport('/json/');
    await new Promise((resolve) => export_.socket.once('data', resolve));
    // The response is under way (its headers are out) when a malformed request follows.
    export_.socket.pause();
    export_.socket.write('\x01 not a request\r\n\r\n');
    await new Promise((resolve) => setTimeout(resolve, 500));
    export_.socket.resume();
    const { head, body } = await export_.finish();
    expect(head).toMatch(/^HTTP\/1\.[01] 200 /);
    // No status line lands in the middle of the items: the connection just ends.
    expect(body.includes('HTTP/1.1 ')).toBe(false);
    expect(body.length).toBeLessThan(ITEMS * DESCRIPTION_LENGTH);
    expect(site.server.output()).toContain('a client error cut a response short');
  }, 60_000);

  it('writes the XML export in full too', async () => {
    const { response, body } = await client.bytes('/xml/');
    expect(response.status).toBe(200);
    const xml = body.toString('utf8');
    // Structure and escaping are the property tests' job; here: complete and in id order.
    expect(
      xml.startsWith('<?xml version="1.0" encoding="utf-8"?>\n<django-objects version="1.0">'),
    ).toBe(true);
    expect(xml.endsWith('</object></django-objects>')).toBe(true);
    const pks = Array.from(xml.matchAll(/<object model="main\.item" pk="(\d+)">/g), (m) =>
      Number(m[1]),
    );
    expect(pks).toHaveLength(ITEMS);
    expect(pks.every((pk, i) => i === 0 || pk > pks[i - 1]!)).toBe(true);
  }, 120_000);
});
