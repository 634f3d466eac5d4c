import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pbkdf2Sync } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ROOT } from '../../scripts/build-if-stale.ts';
import { registerAccount, signIn } from '../../src/lib/server/auth/accounts.ts';
import { createLucia } from '../../src/lib/server/auth/lucia.ts';
import type { Backend } from '../../src/lib/server/db/connect.ts';
import type { Database } from '../../src/lib/server/db/types.ts';
import {
  DumpSyntaxError,
  readDumpRecords,
  type DumpEntry,
} from '../../src/lib/server/migration/dump-reader.ts';
import {
  exportDjangoDump,
  formatExportSummary,
  type ExportSummary,
} from '../../src/lib/server/migration/export.ts';
import {
  formatImportResult,
  importDjangoDump,
  type ImportOptions,
  type ImportProgress,
} from '../../src/lib/server/migration/import.ts';
import {
  BACKENDS,
  createTestDatabase,
  personalInventoryOf,
  type TestDatabase,
} from '../helpers/database.ts';
import { runScript } from '../helpers/server.ts';
import { sql, type Kysely } from 'kysely';

/** shared/formats/django-dumpdata.json, byte for byte (checked below when that file is here). */
const EXAMPLE = `[
{
  "model": "auth.user",
  "pk": 1,
  "fields": {
    "password": "pbkdf2_sha256$260000$IkckfrW7yaAsq39IHCEKJU$potfg9yio2M+i90JDC3+VpSaVSWABSJ0aXEPGAMrU7Q=",
    "last_login": null,
    "is_superuser": false,
    "username": "alice",
    "first_name": "",
    "last_name": "",
    "email": "",
    "is_staff": false,
    "is_active": true,
    "date_joined": "2026-11-25T23:43:16.002Z",
    "groups": [],
    "user_permissions": []
  }
},
{
  "model": "auth.user",
  "pk": 2,
  "fields": {
    "password": "pbkdf2_sha256$260000$4iLhwMEzRZx6JHSffj2KZB$agGSe/0KDcqgt8rhNajBZ1mpwYLndnZu0dJzVhH1MNo=",
    "last_login": null,
    "is_superuser": false,
    "username": "bob",
    "first_name": "",
    "last_name": "",
    "email": "",
    "is_staff": false,
    "is_active": true,
    "date_joined": "2026-11-25T23:43:16.116Z",
    "groups": [],
    "user_permissions": []
  }
},
{
  "model": "main.item",
  "pk": 1,
  "fields": {
    "user": 1,
    "name": "Widget",
    "amount": 3,
    "description": "A small widget"
  }
},
{
  "model": "main.item",
  "pk": 2,
  "fields": {
    "user": 1,
    "name": "Gadget <b>&",
    "amount": 10,
    "description": "Line1\\nLine2 \\"quoted\\""
  }
},
{
  "model": "main.item",
  "pk": 3,
  "fields": {
    "user": 2,
    "name": "Bolt",
    "amount": 100,
    "description": "M6"
  }
}
]
`;
const EXAMPLE_FILE = path.join(ROOT, '..', 'shared', 'formats', 'django-dumpdata.json');
const PASSWORDS = { alice: 'Wonderland#2023', bob: 'Builder#2023' } as const;

interface DumpRecord {
  model: string;
  pk?: unknown;
  fields: Record<string, unknown>;
}

/** Python's json.dumps with its default separators, as dumpdata writes without --indent. */
function pythonJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(pythonJson).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${pythonJson(v)}`);
    return `{${entries.join(', ')}}`;
  }
  return JSON.stringify(value);
}

/** A dump without --indent: one line, no trailing newline. */
const oneLine = (records: unknown[]) => pythonJson(records);
/** A dump with --indent 2, as in the example. */
const indented = (records: unknown[]) =>
  `[\n${records.map((record) => JSON.stringify(record, null, 2)).join(',\n')}\n]\n`;

const exampleRecords = () => JSON.parse(EXAMPLE) as DumpRecord[];

function djangoUser(pk: number, username: string, password: string, extra = {}): DumpRecord {
  const salt = `salt${pk}x${username.length}`;
  const hash = pbkdf2Sync(password, salt, 1000, 32, 'sha256').toString('base64');
  return {
    model: 'auth.user',
    pk,
    fields: {
      password: `pbkdf2_sha256$1000$${salt}$${hash}`,
      last_login: null,
      is_superuser: false,
      username,
      first_name: '',
      last_name: '',
      email: '',
      is_staff: false,
      is_active: true,
      date_joined: '2024-01-02T03:04:05.678Z',
      groups: [],
      user_permissions: [],
      ...extra,
    },
  };
}

function djangoItem(
  pk: number,
  user: unknown,
  name: unknown,
  amount: unknown,
  description: unknown,
) {
  return { model: 'main.item', pk, fields: { user, name, amount, description } };
}

/** The text's UTF-8 bytes in small pieces, so records and characters are split across chunks. */
async function* chunks(text: string, size = 7): AsyncGenerator<Uint8Array> {
  const bytes = Buffer.from(text);
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function readAll(text: string, size?: number): Promise<DumpEntry[]> {
  const entries: DumpEntry[] = [];
  for await (const entry of readDumpRecords(chunks(text, size))) entries.push(entry);
  return entries;
}

function importText(db: Kysely<Database>, text: string, options?: ImportOptions) {
  return importDjangoDump(db, chunks(text, 4096), { fileName: 'dump.json', ...options });
}

async function exportText(db: Kysely<Database>): Promise<{ text: string; summary: ExportSummary }> {
  let text = '';
  const summary = await exportDjangoDump(db, (piece) => {
    text += piece;
  });
  return { text, summary };
}

async function usersOf(db: Kysely<Database>) {
  return db
    .selectFrom('users')
    .select(['id', 'username', 'username_key', 'is_active', 'created_at', 'last_login_at'])
    .orderBy('id')
    .execute();
}

async function itemsOf(db: Kysely<Database>) {
  return db
    .selectFrom('items')
    .select(['id', 'created_by as user_id', 'name', 'amount', 'description'])
    .orderBy('id')
    .execute();
}

async function countRows(db: Kysely<Database>) {
  const count = async (table: 'users' | 'items' | 'django_imports') =>
    Number(
      (
        await db
          .selectFrom(table)
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
  return {
    users: await count('users'),
    items: await count('items'),
    imports: await count('django_imports'),
  };
}

describe('the dumpdata reader', () => {
  const records = [
    ...exampleRecords(),
    djangoItem(9, 1, 'Braces {[ ]} and "quotes" \\ in text', 1, 'é ü 漢字 😀 \u0000\ud83d\ude00'),
  ];

  it('reads the indented and the one-line forms alike, however the bytes are split', async () => {
    for (const text of [indented(records), oneLine(records), JSON.stringify(records)]) {
      for (const size of [1, 2, 3, 5, 64, 1 << 20]) {
        const entries = await readAll(text, size);
        expect(entries.map((entry) => entry.value)).toEqual(records);
        expect(entries.map((entry) => entry.index)).toEqual([1, 2, 3, 4, 5, 6]);
      }
    }
    expect((await readAll(indented(records))).map((entry) => entry.line)).toEqual([
      2, 20, 38, 48, 58, 68,
    ]);
    // Escaped surrogate pairs, as Python writes with ensure_ascii.
    const escaped = '[{"name": "\\ud83d\\ude00 \\u00e9"}]';
    expect((await readAll(escaped, 3))[0]!.value).toEqual({ name: '😀 é' });
    expect(await readAll('[]')).toEqual([]);
    expect(await readAll('\ufeff[\n]\n')).toEqual([]);
  });

  it('reports a record that is not JSON and goes on with the next one', async () => {
    const entries = await readAll('[{"a": 1}, {"b": tru}, {"c": 3}, 7, "x"]', 2);
    expect(entries.map((entry) => entry.value)).toEqual([{ a: 1 }, undefined, { c: 3 }, 7, 'x']);
    expect(entries[1]!.error).toMatch(/^not valid JSON/);
  });

  it('stops at a broken list: not a list, cut short, trailing text, not UTF-8', async () => {
    const broken = [
      '{"model": "auth.user"}',
      '[{"a": 1},',
      '[{"a": 1}, {"b": "unterminated',
      '[{"a": 1}] extra',
      '[{"a": 1} {"b": 2}]',
      '[{"a": 1},, {"b": 2}]',
      '',
    ];
    for (const text of broken) {
      await expect(readAll(text), text).rejects.toBeInstanceOf(DumpSyntaxError);
    }
    async function* invalidUtf8() {
      yield Buffer.from('[{"name": "');
      yield Buffer.from([0xc3, 0x28]);
      yield Buffer.from('"}]');
    }
    const reading = (async () => {
      for await (const entry of readDumpRecords(invalidUtf8())) void entry;
    })();
    await expect(reading).rejects.toThrow(/not UTF-8/);
  });

  it.runIf(existsSync(EXAMPLE_FILE))('the embedded example is the shared example file', () => {
    expect(readFileSync(EXAMPLE_FILE, 'utf8')).toBe(EXAMPLE);
  });
});

describe.each(BACKENDS)('importing from Django on %s', (backend) => {
  let database: TestDatabase;
  let db: Kysely<Database>;
  let address = 0;
  const nextAddress = () => `198.51.100.${++address}`;
  const signInAs = (username: string, password: string, target = db) =>
    signIn(target, createLucia(target), { username, password }, nextAddress());
  const hashOf = async (username: string, target = db) =>
    (
      await target
        .selectFrom('users')
        .select('password_hash')
        .where('username', '=', username)
        .executeTakeFirstOrThrow()
    ).password_hash;

  beforeAll(async () => {
    database = await createTestDatabase(backend);
    db = database.db;
  });
  afterAll(async () => {
    await database.drop();
  });
  beforeEach(async () => {
    await sql`truncate users, stored_items, sessions, auth_throttle, django_imports restart identity cascade`.execute(
      db,
    );
  });

  it('imports the example: ids, usernames, hashes, owners and values kept, sequences moved', async () => {
    const result = await importText(db, EXAMPLE);
    expect(result).toMatchObject({
      status: 'imported',
      records: 5,
      users: 2,
      items: 3,
      inactiveUsers: 0,
      passwordHashes: { pbkdf2_sha256: 2 },
      nextUserId: 3,
      nextItemId: 4,
      problems: [],
    });
    expect(await usersOf(db)).toEqual([
      {
        id: 1,
        username: 'alice',
        username_key: 'alice',
        is_active: true,
        created_at: new Date('2026-11-25T23:43:16.002Z'),
        last_login_at: null,
      },
      {
        id: 2,
        username: 'bob',
        username_key: 'bob',
        is_active: true,
        created_at: new Date('2026-11-25T23:43:16.116Z'),
        last_login_at: null,
      },
    ]);
    expect(await hashOf('alice')).toBe(exampleRecords()[0]!.fields.password);
    expect(await itemsOf(db)).toEqual([
      { id: 1, user_id: 1, name: 'Widget', amount: 3, description: 'A small widget' },
      { id: 2, user_id: 1, name: 'Gadget <b>&', amount: 10, description: 'Line1\nLine2 "quoted"' },
      { id: 3, user_id: 2, name: 'Bolt', amount: 100, description: 'M6' },
    ]);

    // New rows get ids after the imported ones.
    const carol = await registerAccount(
      db,
      {
        username: 'carol',
        password1: 'Correct-Horse-Battery-9',
        password2: 'Correct-Horse-Battery-9',
      },
      nextAddress(),
    );
    expect(carol).toMatchObject({ status: 'created', userId: 3 });
    const item = await db
      .insertInto('items')
      .values({
        inventory_id: await personalInventoryOf(db, 3),
        created_by: 3,
        name: 'New',
        amount: 1,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    expect(item.id).toBe(4);
    expect(formatImportResult(result)).toContain('Imported 2 users and 3 items');
  });

  it('alice and bob sign in with their Django passwords, and their hashes become Argon2id', async () => {
    await importText(db, EXAMPLE);
    for (const [username, password] of Object.entries(PASSWORDS)) {
      expect(await hashOf(username)).toMatch(/^pbkdf2_sha256\$260000\$/);
      expect((await signInAs(username, `${password}!`)).status).toBe('failed');
      expect(await hashOf(username)).toMatch(/^pbkdf2_sha256\$/);

      const outcome = await signInAs(username.toUpperCase(), password);
      expect(outcome).toMatchObject({ status: 'signed-in', user: { username } });
      expect(await hashOf(username)).toMatch(/^\$argon2id\$v=19\$/);
      // And again, now against the new hash.
      expect((await signInAs(username, password)).status).toBe('signed-in');
      expect((await signInAs(username, 'Builder#2023x')).status).toBe('failed');
    }
  });

  it('hashes with other iteration counts and pbkdf2_sha1 work; unknown formats fail', async () => {
    const sha256At600k = `pbkdf2_sha256$600000$salt42$${pbkdf2Sync('Django-4.2-pw', 'salt42', 600_000, 32, 'sha256').toString('base64')}`;
    const sha1 = `pbkdf2_sha1$260000$salt1$${pbkdf2Sync('Sha1-pw', 'salt1', 260_000, 20, 'sha1').toString('base64')}`;
    const records = [
      djangoUser(10, 'django42', '', { password: sha256At600k }),
      djangoUser(11, 'sha1user', '', { password: sha1 }),
      djangoUser(12, 'bcrypter', '', {
        password: 'bcrypt_sha256$$2b$12$WlVqaTlLZWhIRlVxcGlQSe6vKDmuKiYAuwIQ66O4Lmf6Tk9Ud5QEa',
      }),
      djangoUser(13, 'nopassword', '', { password: '!Wm1T8ybdPtZ63Hz3gcfgRWlqQ2DqVnKnOeZN0Hgt' }),
      djangoUser(14, 'retired', 'Retired-pw-1', { is_active: false }),
    ];
    const result = await importText(db, oneLine(records));
    expect(result).toMatchObject({
      status: 'imported',
      users: 5,
      inactiveUsers: 1,
      passwordHashes: { pbkdf2_sha256: 2, pbkdf2_sha1: 1, unsupported: 1, unusable: 1 },
      unsupportedHashes: { bcrypt_sha256: 1 },
    });
    const report = formatImportResult(result);
    expect(report).toContain('bcrypt_sha256: 1');
    expect(report).toContain('1 inactive user cannot sign in');

    expect((await signInAs('django42', 'Django-4.2-pw')).status).toBe('signed-in');
    expect(await hashOf('django42')).toMatch(/^\$argon2id\$/);
    expect((await signInAs('sha1user', 'Sha1-pw')).status).toBe('signed-in');
    expect(await hashOf('sha1user')).toMatch(/^\$argon2id\$/);
    expect((await signInAs('bcrypter', 'anything')).status).toBe('failed');
    expect((await signInAs('nopassword', '')).status).toBe('invalid');
    expect((await signInAs('nopassword', 'anything')).status).toBe('failed');
    // Imported, but inactive: the right password does not sign in, and the hash stays.
    expect((await signInAs('retired', 'Retired-pw-1')).status).toBe('failed');
    expect(await hashOf('retired')).toMatch(/^pbkdf2_sha256\$/);
  });

  it('refuses the same file twice, and the same data in another file', async () => {
    expect((await importText(db, EXAMPLE)).status).toBe('imported');
    const before = await countRows(db);
    expect(before).toEqual({ users: 2, items: 3, imports: 1 });

    const again = await importText(db, EXAMPLE);
    expect(again).toMatchObject({ status: 'refused', problems: [] });
    expect(again.alreadyImported).toMatchObject({ fileName: 'dump.json', users: 2, items: 3 });
    expect(formatImportResult(again)).toMatch(/^Refused: this file was already imported on /);
    expect(await countRows(db)).toEqual(before);

    const sameData = await importText(db, oneLine(exampleRecords()));
    expect(sameData.status).toBe('refused');
    expect(sameData.alreadyImported).toBeUndefined();
    expect(sameData.problems.map((problem) => [problem.kind, problem.model, problem.pk])).toEqual([
      ['exists', 'auth.user', 1],
      ['exists', 'auth.user', 2],
      ['exists', 'main.item', 1],
      ['exists', 'main.item', 2],
      ['exists', 'main.item', 3],
    ]);
    expect(sameData.problems[0]!.message).toBe('user 1 "alice" already exists here');
    expect(formatImportResult(sameData)).toContain('was this data imported before?');
    expect(await countRows(db)).toEqual(before);
  });

  it('a dump with bad rows aborts, lists every problem, and writes nothing', async () => {
    // An existing user, with an id the file does not use.
    await db
      .insertInto('users')
      .values({ id: 100, username: 'Carol', username_key: 'carol', password_hash: 'x' })
      .execute();
    const before = await countRows(db);

    const records: unknown[] = [
      ...exampleRecords(),
      djangoUser(3, 'ALICE', 'pw'), // record 6: clashes with alice in the file
      djangoUser(4, 'carol', 'pw'), // record 7: clashes with the existing Carol
      djangoUser(5, 'bad name!', 'pw'), // record 8: refused by Django's username rules
      djangoItem(4, 1, 'x'.repeat(256), 1, ''), // 9: name too long
      djangoItem(5, 2, 'Negative', -1, ''), // 10
      djangoItem(6, 2, 'Bell', 1, 'ding\u0007'), // 11: control character
      djangoItem(7, 99, 'Orphan', 1, ''), // 12: owner missing
      djangoItem(3, 2, 'Twice', 1, ''), // 13: pk 3 again
      djangoItem(8, ['alice'], 'Natural', 1, ''), // 14: natural foreign key
      { model: 'main.item', fields: { user: 1, name: 'No pk', amount: 1, description: '' } }, // 15
      djangoItem(10, 1, '  ', 'many', null), // 16: three problems at once
      'not a record', // 17
      { model: 'auth.user', pk: 6, fields: { username: 'dave' } }, // 18: missing fields
      djangoUser(1, 'alice', 'pw'), // 19: pk 1 again, and alice again
    ];
    const text = indented(records);
    for (const dryRun of [false, true]) {
      const result = await importText(db, text, { dryRun });
      expect(result.status).toBe('refused');
      const lines = result.problems.map((problem) => [
        problem.record,
        problem.model,
        problem.pk,
        problem.message,
      ]);
      expect(lines).toEqual([
        [
          6,
          'auth.user',
          3,
          'username "ALICE" is the same, ignoring case, as "alice" (pk 1, record 1)',
        ],
        [
          7,
          'auth.user',
          4,
          'username "carol" clashes, ignoring case, with the existing user "Carol" (id 100)',
        ],
        [
          8,
          'auth.user',
          5,
          'username "bad name!": Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters.',
        ],
        [9, 'main.item', 4, 'name: Ensure this value has at most 255 characters (it has 256).'],
        [10, 'main.item', 5, 'amount: Ensure this value is greater than or equal to 0.'],
        [
          11,
          'main.item',
          6,
          'description: Remove the invisible control character U+0007: it cannot be stored or exported.',
        ],
        [12, 'main.item', 7, 'its owner, auth.user pk 99, is not in the file'],
        [13, 'main.item', 3, 'the same pk as record 5: a pk must appear once'],
        [
          14,
          'main.item',
          8,
          'user ["alice"] is a natural key: run dumpdata without --natural-foreign',
        ],
        [15, 'main.item', null, 'it has no pk: run dumpdata without --natural-primary'],
        [16, 'main.item', 10, 'name: This field is required.'],
        [16, 'main.item', 10, 'amount: Enter a whole number.'],
        [16, 'main.item', 10, 'description: Enter text.'],
        [
          17,
          undefined,
          undefined,
          'not a dumpdata record: expected an object with "model", "pk" and "fields"',
        ],
        [18, 'auth.user', 6, 'password: missing'],
        [18, 'auth.user', 6, 'is_active: missing'],
        [19, 'auth.user', 1, 'the same pk as record 1: a pk must appear once'],
        [
          19,
          'auth.user',
          1,
          'username "alice" is the same, ignoring case, as "alice" (pk 1, record 1)',
        ],
      ]);
      const report = formatImportResult(result);
      expect(report).toMatch(/^Refused: \d+ problems found in the file/);
      expect(report).toContain(
        '  - main.item pk 7 (record 12): its owner, auth.user pk 99, is not in the file',
      );
      expect(await countRows(db)).toEqual(before);
      expect(await usersOf(db)).toMatchObject([{ id: 100, username: 'Carol' }]);
    }
  });

  it('--dry-run reports what would be imported and writes nothing', async () => {
    const result = await importText(db, EXAMPLE, { dryRun: true });
    expect(result).toMatchObject({
      status: 'checked',
      users: 2,
      items: 3,
      nextUserId: 3,
      nextItemId: 4,
    });
    expect(formatImportResult(result)).toMatch(
      /^Dry run, nothing written\. Would import 2 users and 3 items/,
    );
    expect(await countRows(db)).toEqual({ users: 0, items: 0, imports: 0 });
    // The sequences were not moved either: a new user still gets id 1.
    const created = await db
      .insertInto('users')
      .values({ username: 'first', username_key: 'first', password_hash: 'x' })
      .returning('id')
      .executeTakeFirstOrThrow();
    expect(created.id).toBe(1);
    await db.deleteFrom('users').execute();
    await sql`alter table users alter column id restart with 1`.execute(db);
    // A dry run is not an import: the real one goes ahead.
    expect((await importText(db, EXAMPLE)).status).toBe('imported');
  });

  it('an export re-imported into an empty database gives the same users and items', async () => {
    await importText(db, EXAMPLE);
    expect((await signInAs('alice', PASSWORDS.alice)).status).toBe('signed-in');
    const registered = await registerAccount(
      db,
      {
        username: 'Ｃarol',
        password1: 'Correct-Horse-Battery-9',
        password2: 'Correct-Horse-Battery-9',
      },
      nextAddress(),
    );
    expect(registered).toMatchObject({ status: 'created', userId: 3, username: 'Carol' });
    const carols = { inventory_id: await personalInventoryOf(db, 3), created_by: 3 };
    await db
      .insertInto('items')
      .values([
        { ...carols, name: 'Ünïcødé 漢字 😀', amount: 2_147_483_647, description: 'a\nb\tc <&>' },
        { ...carols, name: 'Empty', amount: 0, description: '' },
      ])
      .execute();
    await db
      .insertInto('users')
      .values([
        {
          username: 'gone',
          username_key: 'gone',
          password_hash: '$argon2i$v=19$m=512,t=2,p=2$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA',
          is_active: false,
        },
      ])
      .execute();

    const { text, summary } = await exportText(db);
    expect(summary).toEqual({
      users: 4,
      items: 5,
      passwords: { kept: 1, converted: 2, unusable: 1 },
    });
    const report = formatExportSummary(summary, 'out.json');
    expect(report).toContain('Exported 4 users and 5 items to out.json.');
    expect(report).toContain('1 unusable password (not representable in Django)');
    expect(report).toContain('Argon2PasswordHasher');
    const records = JSON.parse(text) as DumpRecord[];
    expect(text).toBe(indented(records));
    expect(Object.keys(records[0]!.fields)).toEqual([
      'password',
      'last_login',
      'is_superuser',
      'username',
      'first_name',
      'last_name',
      'email',
      'is_staff',
      'is_active',
      'date_joined',
      'groups',
      'user_permissions',
    ]);
    const passwords = records.slice(0, 4).map((record) => String(record.fields.password));
    expect(passwords[0]).toMatch(/^argon2\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(passwords[1]).toBe(exampleRecords()[1]!.fields.password);
    expect(passwords[2]).toMatch(/^argon2\$argon2id\$/);
    expect(passwords[3]).toMatch(/^![A-Za-z0-9]{40}$/);
    expect(records[0]!.fields.last_login).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$/);
    expect(records[0]!.fields.date_joined).toBe('2026-11-25T23:43:16.002Z');

    const fresh = await createTestDatabase(backend);
    try {
      const result = await importText(fresh.db, text);
      expect(result).toMatchObject({ status: 'imported', users: 4, items: 5 });
      expect(await usersOf(fresh.db)).toEqual(await usersOf(db));
      expect(await itemsOf(fresh.db)).toEqual(await itemsOf(db));
      // Everyone with a usable password signs in there with the same password.
      expect((await signInAs('alice', PASSWORDS.alice, fresh.db)).status).toBe('signed-in');
      expect((await signInAs('bob', PASSWORDS.bob, fresh.db)).status).toBe('signed-in');
      expect((await signInAs('carol', 'Correct-Horse-Battery-9', fresh.db)).status).toBe(
        'signed-in',
      );
      // And exporting that database again gives the same file, apart from new hashes.
      const again = JSON.parse((await exportText(fresh.db)).text) as DumpRecord[];
      const withoutPasswords = (list: DumpRecord[]) =>
        list.map((record) => ({
          ...record,
          fields: { ...record.fields, password: undefined, last_login: undefined },
        }));
      expect(withoutPasswords(again)).toEqual(withoutPasswords(records));
    } finally {
      await fresh.drop();
    }
  });

  it('streams a large dump: 20,000 items, read while they are still being produced', async () => {
    const itemCount = 20_000;
    const perChunk = 500;
    const totalChunks = 1 + itemCount / perChunk + 1;
    let produced = 0;
    const producedAtProgress: number[] = [];
    const heapAtProgress: number[] = [];
    async function* generate(): AsyncGenerator<string> {
      produced += 1;
      yield `[${pythonJson(djangoUser(1, 'bulk', 'Bulk-pw-1'))}`;
      for (let start = 1; start <= itemCount; start += perChunk) {
        let text = '';
        for (let pk = start; pk < start + perChunk; pk += 1) {
          text += `, ${pythonJson(djangoItem(pk, 1, `Item ${pk}`, pk, 'd'.repeat(200)))}`;
        }
        produced += 1;
        yield text;
      }
      produced += 1;
      yield ']';
    }
    const heapBefore = process.memoryUsage().heapUsed;
    const progress: ImportProgress[] = [];
    const result = await importDjangoDump(db, generate(), {
      fileName: 'bulk.json',
      onProgress: (update) => {
        progress.push(update);
        producedAtProgress.push(produced);
        heapAtProgress.push(process.memoryUsage().heapUsed);
      },
    });
    expect(result).toMatchObject({
      status: 'imported',
      users: 1,
      items: itemCount,
      nextItemId: itemCount + 1,
    });
    expect(progress.map((p) => [p.phase, p.records])).toEqual([
      ['reading', 10_000],
      ['reading', 20_000],
      ['checking', 20_001],
      ['writing', 20_001],
    ]);
    // At 10,000 records, only about half of the dump had been produced: records are
    // processed as they arrive, not after the whole file is in memory.
    expect(producedAtProgress[0]).toBeLessThan(totalChunks / 2 + 2);
    // Loosely: the heap did not grow by the dump's size (about 5 MB of text) times a lot.
    const growth = Math.max(...heapAtProgress) - heapBefore;
    expect(growth).toBeLessThan(200 * 1024 * 1024);
    expect(await countRows(db)).toEqual({ users: 1, items: itemCount, imports: 1 });
  });
});

/** Runs a script with arguments (runScript takes none) and returns its exit code and output. */
async function runCommand(script: string, args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, [path.join(ROOT, script), ...args], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, output };
}

describe.each(BACKENDS)('npm run import:django / export:django on %s', (backend: Backend) => {
  let dir: string;
  let env: Record<string, string>;
  let database: TestDatabase | undefined;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pacil-django-'));
    if (backend === 'postgres') {
      database = await createTestDatabase('postgres', { migrated: false });
      env = { DATABASE_URL: database.url!, DATA_DIR: path.join(dir, 'unused') };
    } else {
      env = { DATABASE_URL: '', DATA_DIR: path.join(dir, 'data') };
    }
  });
  afterAll(async () => {
    await database?.drop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  // Each run starts Node and opens the database: seconds apiece on the embedded one.
  it(
    'imports, refuses the same file again, dry-runs a bad file, exports the same bytes back',
    {
      timeout: 180_000,
    },
    async () => {
      const file = path.join(dir, 'django-dumpdata.json');
      await fs.writeFile(file, EXAMPLE);
      const bad = path.join(dir, 'bad.json');
      await fs.writeFile(bad, oneLine([...exampleRecords(), djangoItem(7, 42, 'Orphan', -1, '')]));

      const dryBad = await runCommand('scripts/import-django.ts', ['--dry-run', bad], env);
      expect(dryBad.code).toBe(1);
      expect(dryBad.output).toContain('Refused: 2 problems found in the file');
      expect(dryBad.output).toContain(
        '  - main.item pk 7 (record 6): amount: Ensure this value is greater than or equal to 0.',
      );
      expect(dryBad.output).toContain(
        '  - main.item pk 7 (record 6): its owner, auth.user pk 42, is not in the file',
      );

      const imported = await runCommand('scripts/import-django.ts', [file], env);
      expect(imported.output).toContain('Imported 2 users and 3 items from 5 records');
      expect(imported.code).toBe(0);

      const again = await runCommand('scripts/import-django.ts', [file], env);
      expect(again.code).toBe(1);
      expect(again.output).toContain('Refused: this file was already imported on');

      const out = path.join(dir, 'export.json');
      const exported = await runCommand('scripts/export-django.ts', [out], env);
      expect(exported.code).toBe(0);
      expect(exported.output).toContain('Exported 2 users and 3 items');
      expect(exported.output).toContain(
        "passwords: 2 Django hashes kept as imported, 0 Argon2id hashes in Django's argon2 form, 0 unusable passwords",
      );
      // Nobody signed in yet, so the export is the Django dump itself, byte for byte.
      expect(await fs.readFile(out, 'utf8')).toBe(EXAMPLE);
      expect((await fs.readdir(dir)).filter((name) => name.includes('.partial-'))).toEqual([]);
    },
  );
});

describe('import:django / export:django usage errors', () => {
  it('exit with status 2 and the usage, before touching any database', async () => {
    const env = { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' };
    const runs = await Promise.all([
      runScript('scripts/import-django.ts', env),
      runCommand('scripts/import-django.ts', ['--frobnicate', 'x.json'], env),
      runCommand('scripts/import-django.ts', ['/nonexistent/dump.json'], env),
      runCommand('scripts/import-django.ts', ['a.json', 'b.json'], env),
      runCommand('scripts/export-django.ts', [], env),
      runCommand('scripts/export-django.ts', ['/nonexistent/dir/out.json'], env),
    ]);
    expect(runs.map((run) => run.code)).toEqual([2, 2, 2, 2, 2, 2]);
    expect(runs[0]!.output).toContain('Usage: npm run import:django -- [--dry-run] <file>');
    expect(runs[2]!.output).toContain('Cannot read /nonexistent/dump.json: no such file');
    expect(runs[4]!.output).toContain('Usage: npm run export:django -- <file>');
  });
});
