import { readFileSync } from 'node:fs';
import path from 'node:path';
import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../scripts/build-if-stale.ts';
import { IMPORT_MAX_BYTES, IMPORT_MAX_ROWS } from '../../src/lib/contracts/imports.ts';
import { csvHeader, csvRows } from '../../src/lib/server/csv/format.ts';
import {
  importCsvForMember,
  importReportJson,
  planDigest,
  planImportForMember,
  type ImportPlan,
} from '../../src/lib/server/csv/import.ts';
import { readCsv, type CsvTable } from '../../src/lib/server/csv/read.ts';
import type { Database } from '../../src/lib/server/db/types.ts';
import { undoChangeForMember } from '../../src/lib/server/history/undo.ts';
import type { Caller } from '../../src/lib/server/inventories/access.ts';
import { createInventory } from '../../src/lib/server/inventories/inventories.ts';
import {
  createItemForMember,
  deleteItemForMember,
  listedItemBatchesForMember,
} from '../../src/lib/server/items/items.ts';
import { listLocationsForMember, locationPath } from '../../src/lib/server/items/locations.ts';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import {
  registerInDatabase,
  signIn,
  startSite,
  type Site,
  type SiteClient,
} from '../helpers/site.ts';
import { postForm } from '../security/kit.ts';
import { parseItemListParams } from '../../src/lib/contracts/items.ts';

/**
 * CSV import on every backend, through the service the page and the API share: a file this
 * site exported comes back changing nothing; a file a spreadsheet wrote (LibreOffice's own,
 * committed as a fixture; Excel's `;`, Windows-1252, BOM and CRLF) imports with exactly the
 * expected changes; every refusal writes nothing; formula cells go out escaped and come back
 * as they were; the import is one change and one undo; only editors may.
 */

type Db = Kysely<Database>;
const member = (userId: number): Caller => ({ userId, onlyInventoryId: null });
const FIXTURES = path.join(ROOT, 'tests/fixtures/csv');
const encode = (text: string) => new TextEncoder().encode(text);

function table(bytes: Uint8Array): CsvTable {
  const reading = readCsv(bytes);
  if (reading.status !== 'read') throw new Error(`unreadable: ${reading.message}`);
  return reading.table;
}

/** Everything an import could write, to compare before and after a refusal. */
async function snapshot(db: Db) {
  const [items, locations, tags, links, changes] = await Promise.all([
    db.selectFrom('stored_items').selectAll().orderBy('id').execute(),
    db.selectFrom('locations').selectAll().orderBy('id').execute(),
    db.selectFrom('tags').selectAll().orderBy('id').execute(),
    db.selectFrom('item_tags').selectAll().orderBy('item_id').orderBy('tag_id').execute(),
    db.selectFrom('changes').select('id').orderBy('id').execute(),
  ]);
  return { items, locations, tags, links, changes };
}

/** The inventory as the export writes it. */
async function exported(db: Db, caller: Caller, inventoryId: number): Promise<string> {
  const locations = await listLocationsForMember(db, caller, 'read', inventoryId);
  const paths = new Map(locations.map((location) => [location.id, locationPath(location)]));
  let text = csvHeader();
  const query = parseItemListParams(new URLSearchParams());
  for await (const batch of listedItemBatchesForMember(
    db,
    caller,
    'read',
    { inventoryId },
    query,
    1000,
  )) {
    text += csvRows(batch, paths);
  }
  return text;
}

async function plan(db: Db, caller: Caller, inventoryId: number, bytes: Uint8Array) {
  const planned = await planImportForMember(db, caller, 'edit', inventoryId, table(bytes));
  if (planned.status !== 'planned') throw new Error(planned.status);
  return planned.plan;
}

const problemsOf = (plan: ImportPlan) =>
  plan.problems.map(({ row, column, message }) => ({ row, column, message }));

describe.each(BACKENDS)('CSV import (%s)', (backend) => {
  let database: TestDatabase;
  let db: Db;
  let owner: Caller;
  let editor: Caller;
  let viewer: Caller;
  let stranger: Caller;
  let home: number;
  let other: number;
  let otherItem: number;

  beforeAll(async () => {
    database = await createTestDatabase(backend);
    db = database.db;
    owner = member(await registerInDatabase(db, 'imp_owner'));
    editor = member(await registerInDatabase(db, 'imp_editor'));
    viewer = member(await registerInDatabase(db, 'imp_viewer'));
    stranger = member(await registerInDatabase(db, 'imp_stranger'));
    home = await createInventory(db, owner.userId, 'Home');
    other = await createInventory(db, stranger.userId, 'Elsewhere');
    await db
      .insertInto('memberships')
      .values([
        { inventory_id: home, user_id: editor.userId, role: 'editor' },
        { inventory_id: home, user_id: viewer.userId, role: 'viewer' },
      ])
      .execute();
    const created = await createItemForMember(db, stranger, 'edit', other, {
      name: 'Not yours',
      amount: 1,
      description: '',
    });
    if (created.status !== 'created') throw new Error(created.status);
    otherItem = created.item.id;
  }, 120_000);
  afterAll(() => database?.drop());

  it('adds, makes locations and tags, is one change, and comes back from its own export unchanged', async () => {
    const file = [
      'Name;Qty;Notes;Location;Tags;Minimum',
      'Drill;2;"cordless;\r\n18 V";Garage / Shelf 2;tools, Red;1',
      'Screws;500;;Garage;tools;',
      "'=SUM(A1);0;'+cmd;;;",
      '',
      ';;;;;',
    ].join('\r\n');
    const bytes = new Uint8Array([0xef, 0xbb, 0xbf, ...encode(file)]);
    const before = await plan(db, editor, home, bytes);
    expect(before.delimiter).toBe(';');
    expect(before.encoding).toBe('utf-8');
    expect(problemsOf(before)).toEqual([]);
    expect(before.rows).toBe(3);
    expect(before.newLocations).toEqual([['Garage'], ['Garage', 'Shelf 2']]);
    expect(before.newTags).toEqual(['tools', 'Red']);
    expect(importReportJson(before).add).toEqual([
      {
        row: 2,
        name: 'Drill',
        amount: 2,
        description: 'cordless;\n18 V',
        location: 'Garage / Shelf 2',
        tags: ['tools', 'Red'],
        min_amount: 1,
      },
      {
        row: 3,
        name: 'Screws',
        amount: 500,
        description: '',
        location: 'Garage',
        tags: ['tools'],
        min_amount: null,
      },
      // The export's protection taken off: the text as it was meant.
      {
        row: 4,
        name: '=SUM(A1)',
        amount: 0,
        description: '+cmd',
        location: null,
        tags: [],
        min_amount: null,
      },
    ]);

    const outcome = await importCsvForMember(db, editor, 'edit', home, table(bytes));
    expect(outcome.status).toBe('imported');
    if (outcome.status !== 'imported') return;
    const changes = await db
      .selectFrom('changes')
      .selectAll()
      .where('inventory_id', '=', home)
      .execute();
    expect(changes).toHaveLength(1);
    expect(changes[0]).toMatchObject({
      id: outcome.changeId,
      action: 'import',
      via: 'import',
      actor_id: editor.userId,
    });

    // Out and in again: nothing to do, and formula cells went out escaped.
    const text = await exported(db, owner, home);
    expect(text).toContain("'=SUM(A1)");
    expect(text).toContain("'+cmd");
    const again = await plan(db, editor, home, encode(text));
    expect(problemsOf(again)).toEqual([]);
    expect(again).toMatchObject({
      add: [],
      update: [],
      unchanged: 3,
      newLocations: [],
      newTags: [],
    });
    const untouched = await snapshot(db);
    const replay = await importCsvForMember(db, editor, 'edit', home, table(encode(text)));
    expect(replay).toMatchObject({ status: 'imported', changeId: null });
    expect(await snapshot(db)).toEqual(untouched);
  });

  it('applies a file LibreOffice saved after editing the export, and one undo takes it all back', async () => {
    // The fixture is this inventory's export as LibreOffice Calc re-saved it after edits:
    // its ids are rewritten to this database's.
    const ids = (
      await db
        .selectFrom('items')
        .select(['id', 'name'])
        .where('inventory_id', '=', home)
        .orderBy('id')
        .execute()
    ).map((row) => row.id);
    const fixture = readFileSync(path.join(FIXTURES, 'libreoffice-edited.csv'), 'latin1');
    const rewritten = fixture.replace(/^(\d+)(?=[,;])/gm, (_, n: string) =>
      String(ids[Number(n) - 1]),
    );
    const bytes = Buffer.from(rewritten, 'latin1');
    const before = await snapshot(db);
    const planned = await plan(db, editor, home, bytes);
    expect(problemsOf(planned)).toEqual([]);
    expect(planned.encoding).toBe('windows-1252');
    expect(planned.notices).toHaveLength(1);
    expect(importReportJson(planned).update).toEqual([
      {
        row: 2,
        id: ids[0],
        name: 'Drill',
        changes: [
          { field: 'amount', before: 2, after: 3 },
          { field: 'tags', before: ['Red', 'tools'], after: ['tools'] },
        ],
      },
      {
        row: 3,
        id: ids[1],
        name: 'Screws',
        changes: [{ field: 'location', before: 'Garage', after: 'Garage / Bin' }],
      },
    ]);
    expect(importReportJson(planned).add).toEqual([
      {
        row: 5,
        name: 'Crème brûlée torch',
        amount: 1,
        description: 'Kitchen, top drawer',
        location: 'Kitchen',
        tags: ['cooking'],
        min_amount: null,
      },
    ]);
    const outcome = await importCsvForMember(
      db,
      editor,
      'edit',
      home,
      table(bytes),
      planDigest(planned),
    );
    expect(outcome.status).toBe('imported');
    if (outcome.status !== 'imported' || outcome.changeId === null) return;
    // Done: only the row without an id would be added again.
    const after = await plan(db, editor, home, bytes);
    expect(after).toMatchObject({ update: [], unchanged: 3 });
    expect(after.add).toHaveLength(1);

    const undone = await undoChangeForMember(db, owner, 'edit', outcome.changeId);
    expect(undone.status).toBe('undone');
    const restored = await snapshot(db);
    // The items are as they were; the one added is in the trash; locations and tags it made stay.
    const live = (rows: typeof before.items) =>
      rows
        .filter((row) => row.deleted_at === null)
        .map(({ id, name, amount, description, location_id, min_amount }) => ({
          id,
          name,
          amount,
          description,
          location_id,
          min_amount,
        }));
    expect(live(restored.items)).toEqual(live(before.items));
    // Tags as they were on the items in the list; the trashed one keeps its own for a restore.
    const liveIds = new Set(live(restored.items).map((item) => item.id));
    expect(restored.links.filter((link) => liveIds.has(link.item_id))).toEqual(before.links);
  });

  it('refuses what it cannot import, writing nothing', async () => {
    const before = await snapshot(db);
    const cases: [string, string | Uint8Array, RegExp][] = [
      ['unknown column', 'name,amount,colour\nA,1,red', /Unknown column/],
      ['duplicate column', 'name,qty,amount\nA,1,2', /both mean amount/],
      ['no header', 'Hammer,3\nSaw,2', /Unknown column/],
      ['another inventory', `id,name,amount\n${otherItem},Mine now,1`, /no item with this id/],
      ['missing item', 'id,name,amount\n2000000000,X,1', /no item with this id/],
      ['a bad amount', 'name,amount\nA,-1\nB,1.5\nC,', /greater than or equal to 0/],
      ['a bad location', `name,amount,location\nA,1,${'a / '.repeat(10)}b`, /at most 10 levels/],
      ['a long name', `name,amount\n${'x'.repeat(256)},1`, /at most 255 characters/],
      ['too many cells', 'name,amount\nA,1,extra', /more cells/],
      ['a headerless column', 'name,amount,\nA,1,x', /no header/],
    ];
    for (const [what, file, message] of cases) {
      const bytes = typeof file === 'string' ? encode(file) : file;
      const outcome = await importCsvForMember(db, editor, 'edit', home, table(bytes));
      expect(outcome.status, what).toBe('refused');
      if (outcome.status !== 'refused') continue;
      expect(outcome.plan.problems.map((p) => p.message).join(' | '), what).toMatch(message);
    }
    const bad = await plan(db, editor, home, encode('name,amount\nA,-1\nB,1.5\nC,'));
    expect(problemsOf(bad)).toEqual([
      {
        row: 2,
        column: 'amount',
        message: 'Ensure this value is greater than or equal to 0.',
      },
      { row: 3, column: 'amount', message: 'Enter a whole number.' },
      { row: 4, column: 'amount', message: 'This field is required.' },
    ]);
    expect(bad.problems[1]!.value).toBe('1.5');

    // Files that are not CSV at all are refused before a plan.
    const unreadable: [string, Uint8Array, RegExp][] = [
      ['binary', new Uint8Array([0x00, 0x01, 0x02, 0x50]), /not text/],
      ['xlsx', new Uint8Array([0x50, 0x4b, 0x03, 0x04, 0x14]), /workbook/],
      ['empty', new Uint8Array(), /empty/],
      ['unclosed quote', encode('name,amount\n"A,1\n'), /never closed/],
      ['too big', new Uint8Array(IMPORT_MAX_BYTES + 1).fill(0x41), /larger than 10 MB/],
    ];
    for (const [what, bytes, message] of unreadable) {
      const reading = readCsv(bytes);
      expect(reading.status, what).toBe('unreadable');
      if (reading.status === 'unreadable') expect(reading.message, what).toMatch(message);
    }

    // One row over the limit.
    const rows = Array.from({ length: IMPORT_MAX_ROWS + 1 }, (_, i) => `Item ${i},1`);
    const tooMany = await importCsvForMember(
      db,
      editor,
      'edit',
      home,
      table(encode(`name,amount\n${rows.join('\n')}`)),
    );
    expect(tooMany.status).toBe('refused');
    if (tooMany.status === 'refused') {
      expect(problemsOf(tooMany.plan)).toEqual([
        {
          row: null,
          column: null,
          message:
            'The file has 50,001 rows of items; an import takes at most 50,000. Split it into smaller files.',
        },
      ]);
    }
    expect(await snapshot(db)).toEqual(before);
  });

  it('refuses a trashed item, the same id twice, and a changed plan', async () => {
    const made = await createItemForMember(db, owner, 'edit', home, {
      name: 'Soon gone',
      amount: 1,
      description: '',
    });
    if (made.status !== 'created') throw new Error(made.status);
    const id = made.item.id;
    const twice = await plan(db, editor, home, encode(`id,amount\n${id},2\n${id},3`));
    expect(problemsOf(twice)).toEqual([
      { row: 3, column: 'id', message: 'Row 2 updates this item already.' },
    ]);

    const file = encode(`id,amount\n${id},5`);
    const preview = await plan(db, editor, home, file);
    expect(preview.update).toHaveLength(1);
    await db.updateTable('items').set({ amount: 4 }).where('id', '=', id).execute();
    const before = await snapshot(db);
    const stale = await importCsvForMember(
      db,
      editor,
      'edit',
      home,
      table(file),
      planDigest(preview),
    );
    expect(stale.status).toBe('changed');
    expect(await snapshot(db)).toEqual(before);

    await deleteItemForMember(db, owner, 'edit', id);
    const trashed = await plan(db, editor, home, file);
    expect(problemsOf(trashed)).toEqual([
      { row: 2, column: 'id', message: 'This item is in the trash: restore it first.' },
    ]);
  });

  it('lets only editors import, and strangers not see the inventory', async () => {
    const file = table(encode('name,amount\nA,1'));
    expect((await planImportForMember(db, viewer, 'edit', home, file)).status).toBe('forbidden');
    expect((await importCsvForMember(db, viewer, 'edit', home, file)).status).toBe('forbidden');
    expect((await importCsvForMember(db, stranger, 'edit', home, file)).status).toBe('not-found');
    const count = await db
      .selectFrom('items')
      .select(sql<number>`count(*)::int`.as('n'))
      .where('name', '=', 'A')
      .executeTakeFirstOrThrow();
    expect(count.n).toBe(0);
  });
});

describe.each(BACKENDS)('CSV import over HTTP (%s)', (backend) => {
  let site: Site;
  let owner: SiteClient;
  let viewer: SiteClient;
  let stranger: SiteClient;
  let home = 0;

  beforeAll(async () => {
    site = await startSite(backend, async (db) => {
      const ownerId = await registerInDatabase(db, 'http_owner');
      const viewerId = await registerInDatabase(db, 'http_viewer');
      await registerInDatabase(db, 'http_stranger');
      home = await createInventory(db, ownerId, 'Lab');
      await db
        .insertInto('memberships')
        .values({ inventory_id: home, user_id: viewerId, role: 'viewer' })
        .execute();
    });
    owner = await signIn(site.url, 'http_owner');
    viewer = await signIn(site.url, 'http_viewer');
    stranger = await signIn(site.url, 'http_stranger');
  }, 180_000);
  afterAll(() => site?.close());

  const page = () => `/inventories/${home}/import`;
  const upload = (client: SiteClient, name: string, content: BlobPart) => {
    const form = new FormData();
    form.set('action', 'upload');
    form.set('file', new Blob([content], { type: 'text/csv' }), name);
    return client.request(page(), { method: 'POST', body: form });
  };
  const apiImport = (client: SiteClient, body: BodyInit, query = '', type = 'text/csv') =>
    client.request(`/api/inventories/${home}/imports${query}`, {
      method: 'POST',
      headers: { 'Content-Type': type },
      body,
    });
  const itemNames = async () => {
    const response = await owner.request(`/api/items?inventory=${home}&limit=100&sort=name`);
    return ((await response.json()) as { items: { name: string }[] }).items.map((i) => i.name);
  };

  it('uploads, previews and applies without JavaScript, then undoes', async () => {
    expect((await owner.request(page())).status).toBe(200);
    expect((await viewer.request(page())).status).toBe(403);
    expect((await stranger.request(page())).status).toBe(404);
    expect((await upload(viewer, 'a.csv', 'name,amount\nA,1')).status).toBe(403);

    const uploaded = await upload(owner, 'stock.csv', 'name,qty,location\nBeaker,12,Shelf / Top\n');
    expect(uploaded.status).toBe(303);
    const previewAt = uploaded.headers.get('location')!;
    expect(previewAt).toMatch(new RegExp(`^/inventories/${home}/import\\?preview=`));
    // Only its uploader sees a preview; nothing is written yet.
    expect((await stranger.request(previewAt)).status).toBe(404);
    expect(await itemNames()).toEqual([]);
    const preview = await (await owner.request(previewAt)).text();
    expect(preview).toContain('1 row: 1 to add, 0 to update, 0 unchanged.');
    expect(preview).toContain('2 new locations');
    const fields = Object.fromEntries(
      [...preview.matchAll(/name="(action|preview|digest)" value="([^"]*)"/g)]
        .slice(0, 3)
        .map((match) => [match[1], match[2]]),
    );
    expect(fields.action).toBe('apply');

    const applied = await postForm(owner, page(), fields);
    expect(applied.status).toBe(303);
    expect(applied.headers.get('location')).toBe(`/inventories/${home}/`);
    expect(await itemNames()).toEqual(['Beaker']);
    // The notice offers the undo; the preview is gone.
    const main = await owner.request(`/inventories/${home}/`, {
      headers: {
        Cookie: `${owner.cookie}; ${applied.headers.getSetCookie()[0]!.split(';', 1)[0]}`,
      },
    });
    const html = await main.text();
    expect(html).toContain('Imported “stock.csv”: 1 item added.');
    const changeId = /action="\/changes\/(\d+)\/undo"/.exec(html)?.[1];
    expect(changeId).toBeDefined();
    expect((await postForm(owner, page(), fields)).status).toBe(404);
    const undone = await postForm(owner, `/changes/${changeId}/undo`, {});
    expect(undone.status).toBe(303);
    expect(await itemNames()).toEqual([]);
  });

  it('shows problems and refuses unreadable files on the page', async () => {
    const bad = await upload(owner, 'bad.csv', 'name,amount,colour\nA,1,red');
    const preview = await (await owner.request(bad.headers.get('location')!)).text();
    expect(preview).toContain('1 problem in the file. Nothing will be imported');
    expect(preview).toContain('Unknown column.');
    expect(preview).not.toContain('value="apply"');

    const binary = await upload(owner, 'photo.jpg', new Uint8Array([0xff, 0xd8, 0x00, 0x10]));
    expect(binary.status).toBe(422);
    expect(await binary.text()).toContain('This file is not text');
    const none = await owner.request(page(), { method: 'POST', body: new FormData() });
    expect(none.status).toBe(400);
    expect((await owner.request(`${page()}?preview=nonsense`)).status).toBe(404);
  });

  it('answers the API: dry run, 422 with the report, apply, and what it refuses', async () => {
    const file = 'name,amount,tags\nPipette,3,glass\nFlask,2,"glass, big"\n';
    const dry = await apiImport(owner, file, '?dry_run=true');
    expect(dry.status).toBe(200);
    const report = (await dry.json()) as {
      change_id: null;
      report: { add: unknown[]; new_tags: string[] };
    };
    expect(report.change_id).toBeNull();
    expect(report.report.add).toHaveLength(2);
    expect(report.report.new_tags).toEqual(['glass', 'big']);
    expect(await itemNames()).toEqual([]);

    const refused = await apiImport(owner, 'name,amount\nA,lots');
    expect(refused.status).toBe(422);
    const body = (await refused.json()) as {
      report: { problems: { row: number; value: string }[] };
    };
    expect(body.report.problems).toMatchObject([{ row: 2, column: 'amount', value: 'lots' }]);
    expect((await apiImport(owner, new Uint8Array([0, 1, 2]))).status).toBe(422);
    expect((await apiImport(owner, file, '', 'text/plain')).status).toBe(415);
    expect((await apiImport(owner, file, '?dry_run=maybe')).status).toBe(400);
    expect((await apiImport(viewer, file)).status).toBe(403);
    expect((await apiImport(stranger, file)).status).toBe(404);
    const huge = await apiImport(owner, new Uint8Array(IMPORT_MAX_BYTES + 1).fill(0x41));
    expect(huge.status).toBe(413);
    expect(await itemNames()).toEqual([]);

    const applied = await apiImport(owner, file);
    expect(applied.status).toBe(200);
    const result = (await applied.json()) as { change_id: number };
    expect(applied.headers.get('change-id')).toBe(String(result.change_id));
    expect(await itemNames()).toEqual(['Flask', 'Pipette']);

    // The site's own export, sent back, changes nothing.
    const { body: exportedBytes } = await owner.bytes(`/export.csv?inventory=${home}`);
    const again = await apiImport(owner, new Uint8Array(exportedBytes));
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({
      change_id: null,
      report: { add: [], update: [], unchanged: 2 },
    });
    const undo = await owner.request(`/api/changes/${result.change_id}/undo`, { method: 'POST' });
    expect(undo.status).toBe(200);
    expect(await itemNames()).toEqual([]);
  });
});
