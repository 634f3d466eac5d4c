import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiToken } from '../../src/lib/server/auth/tokens.ts';
import type { Database } from '../../src/lib/server/db/types.ts';
import { createInventory } from '../../src/lib/server/inventories/inventories.ts';
import { BACKENDS } from '../helpers/database.ts';
import {
  registerInDatabase,
  signIn,
  startSite,
  type Site,
  type SiteClient,
} from '../helpers/site.ts';

/**
 * `GET /export.csv`: SPEC "Spreadsheets and bulk changes". The bytes of a small inventory
 * are written out by hand; the rows and order of every query are checked against the list
 * the API pages through (listItemsForMember), parsed here by a reader of RFC 4180's grammar
 * that shares nothing with the writer.
 */

const BOM = '\uFEFF';
const HEADER = 'id,name,amount,description,location,tags,min_amount\r\n';
const BIG_ITEMS = 3_200;

/** RFC 4180 records: quoted fields may hold commas, CR, LF and doubled quotes. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let field = '';
  let record: string[] = [];
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i += 1;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field === '') quoted = true;
    else if (c === ',') {
      record.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      record.push(field);
      records.push(record);
      record = [];
      field = '';
      i += 1;
    } else {
      // A bare CR or LF outside quotes, or a quote inside an unquoted field, is not RFC 4180.
      expect(c === '\r' || c === '\n' || c === '"', `unquoted ${JSON.stringify(c)}`).toBe(false);
      field += c;
    }
  }
  expect(quoted).toBe(false);
  expect(field === '' && record.length === 0, 'the last line ends in CRLF').toBe(true);
  return records;
}

interface Seeded {
  golden: number;
  big: number;
  goldenIds: number[];
  trashedId: number;
  token: string;
}

async function seed(db: Kysely<Database>, out: Partial<Seeded>): Promise<void> {
  const owner = await registerInDatabase(db, 'csv_owner');
  const viewer = await registerInDatabase(db, 'csv_viewer');
  await registerInDatabase(db, 'csv_stranger');
  const golden = await createInventory(db, owner, 'Küche: "Main" / Garage');
  const big = await createInventory(db, owner, 'Big');
  await db
    .insertInto('memberships')
    .values([
      { inventory_id: golden, user_id: viewer, role: 'viewer' },
      { inventory_id: big, user_id: viewer, role: 'viewer' },
    ])
    .execute();

  const location = async (inventoryId: number, name: string, parentId: number | null) =>
    (
      await db
        .insertInto('locations')
        .values({
          inventory_id: inventoryId,
          parent_id: parentId,
          name,
          name_key: name.toLowerCase(),
        })
        .returning('id')
        .executeTakeFirstOrThrow()
    ).id;
  const tag = async (inventoryId: number, name: string) =>
    (
      await db
        .insertInto('tags')
        .values({ inventory_id: inventoryId, name, name_key: name.toLowerCase() })
        .returning('id')
        .executeTakeFirstOrThrow()
    ).id;

  // The small inventory, written out byte for byte below.
  const garage = await location(golden, 'Garage', null);
  const shelf = await location(golden, 'Shelf 2', garage);
  const blue = await tag(golden, 'blue');
  const red = await tag(golden, 'Red');
  const home = await tag(golden, '@home');
  const rows = [
    { name: 'Plain', amount: 3, description: '', location_id: null, min_amount: null },
    {
      name: 'Comma, "quoted"',
      amount: 10,
      description: 'Line1\nLine2',
      location_id: shelf,
      min_amount: 5,
    },
    { name: '=SUM(A1:A2)', amount: 0, description: '+cmd', location_id: garage, min_amount: 0 },
    { name: '-1', amount: 7, description: '\tTabbed', location_id: null, min_amount: null },
    // Stored text never holds CR (SPEC: it becomes LF), but the export guards it all the same.
    {
      name: 'Ümlaut 漢字',
      amount: 2147483647,
      description: '\rreturn',
      location_id: null,
      min_amount: 1,
    },
    { name: 'Gone', amount: 1, description: 'in the trash', location_id: null, min_amount: null },
  ];
  const ids: number[] = [];
  for (const row of rows) {
    const { id } = await db
      .insertInto('items')
      .values({ inventory_id: golden, created_by: owner, ...row })
      .returning('id')
      .executeTakeFirstOrThrow();
    ids.push(id);
  }
  await db
    .insertInto('item_tags')
    .values([
      { item_id: ids[1]!, tag_id: red },
      { item_id: ids[1]!, tag_id: blue },
      { item_id: ids[2]!, tag_id: home },
    ])
    .execute();
  const trashedId = ids.pop()!;
  await sql`update stored_items set deleted_at = now(), deleted_by = ${owner} where id = ${trashedId}`.execute(
    db,
  );

  // The big one: names and amounts that tie often (ties are broken by id), some in a
  // location tree, some tagged, some low, across several batches of the export.
  const top = await location(big, 'Garage', null);
  const inner = await location(big, 'Box', top);
  const elsewhere = await location(big, 'Attic', null);
  const bigRed = await tag(big, 'red');
  const bigBlue = await tag(big, 'blue');
  await sql`
    insert into items (inventory_id, created_by, name, amount, description, location_id, min_amount)
    select ${big}, ${owner},
      (array['Widget', 'widget', 'Gadget', 'gadget', 'Ärger'])[g % 5 + 1] || ' ' || (g % 37),
      g % 50,
      case when g % 7 = 0 then 'has, a comma and "quotes"' else 'note ' || g end,
      (array[null, ${top}, ${inner}, ${elsewhere}]::int[])[g % 4 + 1],
      case when g % 3 = 0 then 20 else null end
    from generate_series(1, ${BIG_ITEMS}) as g
  `.execute(db);
  await sql`
    insert into item_tags (item_id, tag_id)
    select id, ${bigRed}::int from items where inventory_id = ${big} and id % 2 = 0
    union all
    select id, ${bigBlue}::int from items where inventory_id = ${big} and id % 3 = 0
  `.execute(db);

  const created = await createApiToken(db, viewer, { name: 'csv', scope: 'read', expiresAt: null });
  if (created.status !== 'created') throw new Error(created.status);
  Object.assign(out, { golden, big, goldenIds: ids, trashedId, token: created.token });
}

describe.each(BACKENDS)('the CSV export on %s', (backend) => {
  let site: Site;
  let owner: SiteClient;
  let viewer: SiteClient;
  let stranger: SiteClient;
  const seeded: Partial<Seeded> = {};
  const s = () => seeded as Seeded;

  beforeAll(async () => {
    site = await startSite(backend, (db) => seed(db, seeded));
    owner = await signIn(site.url, 'csv_owner');
    viewer = await signIn(site.url, 'csv_viewer');
    stranger = await signIn(site.url, 'csv_stranger');
  }, 180_000);

  afterAll(async () => {
    await site?.close();
  });

  async function csvOf(client: SiteClient, query: string, init = {}) {
    const { response, body } = await client.bytes(`/export.csv?${query}`, init);
    expect(response.status, query).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    return { response, body, text: body.toString('utf8') };
  }

  it('writes a small inventory byte for byte: BOM, header, CRLF, quoting, formula guard', async () => {
    const [plain, comma, formula, minus, umlaut] = s().goldenIds;
    const { response, body } = await csvOf(owner, `inventory=${s().golden}&sort=oldest`);
    const expected =
      BOM +
      HEADER +
      `${plain},Plain,3,,,,\r\n` +
      `${comma},"Comma, ""quoted""",10,"Line1\nLine2",Garage / Shelf 2,"blue, Red",5\r\n` +
      `${formula},'=SUM(A1:A2),0,'+cmd,Garage,'@home,0\r\n` +
      `${minus},'-1,7,'\tTabbed,,,\r\n` +
      `${umlaut},Ümlaut 漢字,2147483647,"'\rreturn",,,1\r\n`;
    expect(body.toString('utf8')).toBe(expected);
    expect(body.equals(Buffer.from(expected, 'utf8'))).toBe(true);
    expect([...body.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    expect(body.toString('utf8')).not.toContain('Gone');

    const today = new Date().toISOString().slice(0, 10);
    expect(response.headers.get('content-disposition')).toBe(
      `attachment; filename="Kuche Main Garage-${today}.csv"`,
    );
    expect(response.headers.get('cache-control')).toBe('no-store');
  });

  it('lists newest first by default, as the page does, and ignores page and limit', async () => {
    const { text } = await csvOf(owner, `inventory=${s().golden}&page=2&limit=1`);
    const ids = parseCsv(text.slice(1))
      .slice(1)
      .map((row) => Number(row[0]));
    expect(ids).toEqual([...s().goldenIds].reverse());
  });

  /** Every page of the API's list for the same query (what listItemsForMember returns). */
  async function listed(client: SiteClient, query: string) {
    const items: {
      id: number;
      name: string;
      amount: number;
      description: string;
      tags: string[];
      min_amount: number | null;
      location_id: number | null;
    }[] = [];
    for (let page = 1; ; page += 1) {
      const response = await client.request(`/api/items?${query}&page=${page}&limit=100`);
      expect(response.status).toBe(200);
      const body = (await response.json()) as { items: typeof items; total: number };
      items.push(...body.items);
      if (items.length >= body.total || body.items.length === 0) return items;
    }
  }

  it.each([
    '',
    'sort=oldest',
    'sort=name',
    'sort=-name',
    'sort=amount',
    'sort=-amount',
    'q=WIDGET%201&sort=name',
    'q=comma&sort=-amount',
    'location=LOCATION&sort=amount',
    'tag=RED&tag=blue&sort=-name',
    'low=true&sort=name',
    'q=gadget&tag=red&low=true&location=LOCATION',
  ])('gives the rows of the list for %j over all pages, in its order', async (raw) => {
    const { locations } = (await (
      await owner.request(`/api/inventories/${s().big}/locations`)
    ).json()) as { locations: { id: number; path: string }[] };
    const paths = new Map(locations.map((location) => [location.id, location.path]));
    const garage = locations.find((location) => location.path === 'Garage')!;
    const query = `inventory=${s().big}&${raw.replace('LOCATION', String(garage.id))}`;
    const expected = await listed(owner, query);
    const { text } = await csvOf(owner, query);
    expect(text.startsWith(BOM + HEADER)).toBe(true);
    const rows = parseCsv(text.slice(1)).slice(1);
    expect(rows.map((row) => Number(row[0]))).toEqual(expected.map((item) => item.id));
    expect(rows).toEqual(
      expected.map((item) => [
        String(item.id),
        item.name,
        String(item.amount),
        item.description,
        item.location_id === null ? '' : paths.get(item.location_id)!,
        item.tags.join(', '),
        item.min_amount === null ? '' : String(item.min_amount),
      ]),
    );
    if (raw === '') {
      expect(rows.length).toBe(BIG_ITEMS);
      expect(new Set(rows.map((row) => row[0])).size).toBe(BIG_ITEMS);
    }
  });

  it('lets a viewer export, with a session or a read token, the same bytes as the owner', async () => {
    const query = `inventory=${s().big}&sort=-amount&tag=red`;
    const own = await csvOf(owner, query);
    const viewed = await csvOf(viewer, query);
    expect(viewed.body.equals(own.body)).toBe(true);
    const byToken = await csvOf(owner.anonymous(), query, {
      headers: { Authorization: `Bearer ${s().token}` },
    });
    expect(byToken.body.equals(own.body)).toBe(true);
  });

  it('answers 404 for a stranger’s, a missing, a malformed or an absent inventory', async () => {
    for (const query of [`inventory=${s().big}`, `inventory=${s().golden}&sort=oldest`]) {
      const response = await stranger.request(`/export.csv?${query}`);
      expect(response.status).toBe(404);
      expect(await response.text()).not.toContain('Widget');
    }
    for (const query of ['inventory=2147483647', 'inventory=abc', 'inventory=', '', 'q=x']) {
      const response = await owner.request(`/export.csv?${query}`);
      expect(response.status, query).toBe(404);
    }
    const browser = await stranger.request(`/export.csv?inventory=${s().big}`, {
      headers: { Accept: 'text/html' },
    });
    expect(browser.status).toBe(404);
    expect(browser.headers.get('content-type')).toMatch(/^text\/html/);
  });

  it('answers an anonymous program 401 and sends an anonymous browser to sign in', async () => {
    const anonymous = owner.anonymous();
    const path = `/export.csv?inventory=${s().big}&tag=red`;
    const program = await anonymous.request(path);
    expect(program.status).toBe(401);
    expect(await program.json()).toEqual({
      error: { code: 'unauthorized', message: expect.any(String) },
    });
    const browser = await anonymous.request(path, {
      headers: { Accept: 'text/html,application/xhtml+xml,*/*;q=0.8' },
    });
    expect(browser.status).toBe(302);
    expect(browser.headers.get('location')).toBe(`/login/?next=${encodeURIComponent(path)}`);
    const badToken = await anonymous.request(path, { headers: { Authorization: 'Bearer nope' } });
    expect(badToken.status).toBe(401);
  });

  it('answers HEAD with the headers and no body, and refuses other methods', async () => {
    const head = await owner.bytes(`/export.csv?inventory=${s().golden}`, { method: 'HEAD' });
    expect(head.response.status).toBe(200);
    expect(head.response.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(head.body.length).toBe(0);
    const post = await owner.request(`/export.csv?inventory=${s().golden}`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });
});
