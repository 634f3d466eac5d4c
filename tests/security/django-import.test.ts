import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { registerAccount } from '../../src/lib/server/auth/accounts.ts';
import type { Database } from '../../src/lib/server/db/types.ts';
import { readDumpRecords } from '../../src/lib/server/migration/dump-reader.ts';
import {
  formatImportResult,
  importDjangoDump,
  type ImportResult,
} from '../../src/lib/server/migration/import.ts';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/database.ts';

/**
 * Attacks on `npm run import:django` through the file it is given: password hashes that cost
 * seconds per sign-in, records nested a million levels deep, files of a million bad records,
 * names that are Object's own properties, and ids that leave the id sequences no room. Each
 * is refused, or counted, with a report that names the record, in bounded memory.
 */

const unpadded = (bytes: Buffer) => bytes.toString('base64').replace(/=+$/, '');
const SALT = unpadded(Buffer.alloc(16, 3));

/** A well-formed Django PBKDF2 hash (its digest matches no password: it is never computed). */
const pbkdf2Hash = (iterations: number | string, algorithm = 'pbkdf2_sha256') =>
  `${algorithm}$${iterations}$${SALT}$${Buffer.alloc(algorithm === 'pbkdf2_sha1' ? 20 : 32, 7).toString('base64')}`;

/** A well-formed Django Argon2 hash with the given memory (KiB), passes and lanes. */
const argon2Hash = (memory: number, passes: number, lanes: number) =>
  `argon2$argon2id$v=19$m=${memory},t=${passes},p=${lanes}$${SALT}$${unpadded(Buffer.alloc(32, 9))}`;

const userRecord = (pk: unknown, username: string, password = pbkdf2Hash(1000)) => ({
  model: 'auth.user',
  pk,
  fields: { username, password, is_active: true },
});

const itemRecord = (pk: unknown, owner: number) => ({
  model: 'main.item',
  pk,
  fields: { user: owner, name: `Item ${String(pk)}`, amount: 1, description: '' },
});

/** The text in 64 KiB pieces, as a file stream gives it. */
async function* pieces(text: string): AsyncGenerator<string> {
  for (let i = 0; i < text.length; i += 65_536) yield text.slice(i, i + 65_536);
}

const importText = (db: Kysely<Database>, text: string) =>
  importDjangoDump(db, pieces(text), { fileName: 'attack.json' });
const importRecords = (db: Kysely<Database>, records: unknown[]) =>
  importText(db, JSON.stringify(records));

/** Each problem as [kind, record, model, pk, message]. */
const problemRows = (result: ImportResult) =>
  result.problems.map((problem) => [
    problem.kind,
    problem.record,
    problem.model,
    problem.pk,
    problem.message,
  ]);

async function userCount(db: Kysely<Database>): Promise<number> {
  const { n } = await db
    .selectFrom('users')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(n);
}

const PBKDF2_LIMIT = "at most 2,000,000 are accepted (Django's own default is 1,000,000–1,200,000)";

describe.each(BACKENDS)('attacks on the Django import on %s', (backend) => {
  let database: TestDatabase;
  let db: Kysely<Database>;

  beforeAll(async () => {
    database = await createTestDatabase(backend);
    db = database.db;
  });
  afterAll(() => database.drop());
  // Each attack is on a new site, as the import wants it: no users, no items, ids from 1.
  beforeEach(async () => {
    await sql`truncate users, stored_items, auth_throttle, django_imports restart identity cascade`.execute(
      db,
    );
  });

  it('refuses PBKDF2 hashes of more than 2,000,000 iterations, naming each record', async () => {
    const records = [
      userRecord(1, 'alice', pbkdf2Hash(20_000_000)),
      userRecord(2, 'bob', pbkdf2Hash(2_000_001)),
      userRecord(3, 'carol', pbkdf2Hash(3_000_000, 'pbkdf2_sha1')),
      userRecord(4, 'dave', pbkdf2Hash('99999999999')),
      userRecord(5, 'erin', pbkdf2Hash(2_000_000)),
    ];
    const result = await importRecords(db, records);
    expect(result.status).toBe('refused');
    expect(problemRows(result)).toEqual([
      [
        'invalid',
        1,
        'auth.user',
        1,
        `password hash uses 20,000,000 PBKDF2 iterations; ${PBKDF2_LIMIT}`,
      ],
      [
        'invalid',
        2,
        'auth.user',
        2,
        `password hash uses 2,000,001 PBKDF2 iterations; ${PBKDF2_LIMIT}`,
      ],
      [
        'invalid',
        3,
        'auth.user',
        3,
        `password hash uses 3,000,000 PBKDF2 iterations; ${PBKDF2_LIMIT}`,
      ],
      [
        'invalid',
        4,
        'auth.user',
        4,
        `password hash uses 99,999,999,999 PBKDF2 iterations; ${PBKDF2_LIMIT}`,
      ],
    ]);
    expect(formatImportResult(result)).toContain(
      `  - auth.user pk 1 (record 1): password hash uses 20,000,000 PBKDF2 iterations; ${PBKDF2_LIMIT}`,
    );
    expect(await userCount(db)).toBe(0);

    // 2,000,000 is within the cap: that user imports.
    const accepted = await importRecords(db, records.slice(4));
    expect(accepted).toMatchObject({ status: 'imported', passwordHashes: { pbkdf2_sha256: 1 } });
  });

  it('refuses Django Argon2 hashes beyond the memory, passes and lanes caps', async () => {
    const bcrypt = 'bcrypt$$2b$12$WlVqaTlLZWhIRlVxcGlQSe6vKDmuKiYAuwIQ66O4Lmf6Tk9Ud5QEa';
    const records = [
      userRecord(1, 'alice', argon2Hash(4 * 1024 * 1024, 2, 8)),
      userRecord(2, 'bob', argon2Hash(102_400, 100, 8)),
      userRecord(3, 'carol', argon2Hash(102_400, 2, 100)),
      userRecord(4, 'dave', argon2Hash(2 * 1024 * 1024, 65, 8)),
      // Django's own defaults, and a format this site cannot check (imported, never matches).
      userRecord(5, 'erin', argon2Hash(102_400, 2, 8)),
      userRecord(6, 'frank', bcrypt),
    ];
    const result = await importRecords(db, records);
    expect(result.status).toBe('refused');
    const argon2 = 'password hash uses Argon2 with';
    expect(problemRows(result)).toEqual([
      [
        'invalid',
        1,
        'auth.user',
        1,
        `${argon2} 4,194,304 KiB of memory (at most 1,048,576; Django's own default is 102,400)`,
      ],
      [
        'invalid',
        2,
        'auth.user',
        2,
        `${argon2} 100 passes (at most 64; Django's own default is 2)`,
      ],
      ['invalid', 3, 'auth.user', 3, `${argon2} 100 lanes (at most 64; Django's own default is 8)`],
      [
        'invalid',
        4,
        'auth.user',
        4,
        `${argon2} 2,097,152 KiB of memory (at most 1,048,576; Django's own default is 102,400) ` +
          "and 65 passes (at most 64; Django's own default is 2)",
      ],
    ]);
    expect(await userCount(db)).toBe(0);

    const accepted = await importRecords(db, records.slice(4));
    expect(accepted).toMatchObject({
      status: 'imported',
      passwordHashes: { 'django-argon2': 1, unsupported: 1 },
      unsupportedHashes: { bcrypt: 1 },
    });
  });

  it('reports a record nested deeper than 32 levels without parsing it, and reads on', async () => {
    const depth = 1_000_000;
    const deep =
      '{"model": "auth.user", "pk": 2, "fields": {"username": "deep", "is_active": true, ' +
      `"password": ${'['.repeat(depth)}"x"${']'.repeat(depth)}}}`;
    // A record object and its fields are two levels: 30 more make 32 (read), 31 make 33.
    const nested = (levels: number) =>
      `{"model": "x.nested", "pk": ${levels}, "fields": {"a": ${'['.repeat(levels)}${']'.repeat(levels)}}}`;
    const text = [
      '[',
      `${JSON.stringify(userRecord(1, 'alice'))},`,
      `${deep},`,
      `${nested(30)},`,
      `${nested(31)},`,
      JSON.stringify(itemRecord(1, 1)),
      ']',
    ].join('\n');

    const entries = [];
    for await (const entry of readDumpRecords(pieces(text))) entries.push(entry);
    expect(entries.map((entry) => [entry.index, entry.line, entry.value === undefined])).toEqual([
      [1, 2, false],
      [2, 3, true],
      [3, 4, false],
      [4, 5, true],
      [5, 6, false],
    ]);

    const result = await importText(db, text);
    const message = 'nested more than 32 levels deep (a dumpdata record has 3)';
    expect(result.status).toBe('refused');
    expect(result.problems).toEqual([
      { kind: 'file', record: 2, line: 3, message },
      { kind: 'file', record: 4, line: 5, message },
    ]);
    expect(Object.entries(result.skipped)).toEqual([['x.nested', 1]]);
    expect(result.users).toBe(1);
    expect(result.items).toBe(1);
    expect(formatImportResult(result)).toContain(`  - record 2 (line 3): ${message}`);
  });

  it('lists the first 1,000 of 200,000 problems, counts the rest, in bounded memory', async () => {
    const badRecords = 200_000;
    const perChunk = 1_000;
    async function* generate(): AsyncGenerator<string> {
      yield `[${JSON.stringify(userRecord(1, 'alice'))}`;
      for (let start = 0; start < badRecords; start += perChunk) {
        let text = '';
        // One problem each, each message different: a pk that is not a number.
        for (let i = start; i < start + perChunk; i += 1) {
          text += `, ${JSON.stringify(itemRecord(`bad-${i}`, 1))}`;
        }
        yield text;
      }
      yield ']';
    }
    // A forced collection before each measurement: what the import retains, not its garbage.
    v8.setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const retained: number[] = [];
    const result = await importDjangoDump(db, generate(), {
      fileName: 'bad.json',
      onProgress: ({ phase }) => {
        if (phase !== 'reading') return;
        gc();
        retained.push(process.memoryUsage().heapUsed);
      },
    });

    expect(result.status).toBe('refused');
    expect(result.problems).toHaveLength(1_000);
    expect(result.moreProblems).toBe(badRecords - 1_000);
    expect(result.problems[0]).toMatchObject({
      record: 2,
      model: 'main.item',
      message: 'pk "bad-0" is not a whole number from 1 to 2147483647',
    });
    expect(result.problems[999]).toMatchObject({ record: 1_001 });
    const report = formatImportResult(result);
    const lines = report.split('\n');
    expect(lines[0]).toMatch(/^Refused: 200,000 problems found in the file/);
    expect(lines.filter((line) => line.startsWith('  - '))).toHaveLength(1_000);
    expect(lines.at(-1)).toBe('  …and 199,000 more problems');
    // The result and its report are the size of 1,000 problems, not of 200,000.
    expect(JSON.stringify(result).length).toBeLessThan(300_000);
    expect(report.length).toBeLessThan(300_000);
    // What the import holds from 10,000 records read to 200,000: keeping every problem made
    // that about 40 MiB (2 MiB per 10,000); 1,000 problems are well under one.
    expect(retained).toHaveLength(20);
    expect(Math.max(...retained) - retained[0]!).toBeLessThan(8 * 1024 * 1024);
  });

  it('keeps the first 1,000 problems in file order across the record and cross-record checks', async () => {
    // Record 2 is not a record (found while reading); records 4 to 1,502 repeat the pk of
    // record 3 (found after reading).
    const records: unknown[] = [userRecord(1, 'alice'), 0];
    for (let i = 0; i < 1_500; i += 1) records.push(itemRecord(7, 1));
    const result = await importRecords(db, records);
    expect(result.status).toBe('refused');
    expect(result.problems).toHaveLength(1_000);
    expect(result.moreProblems).toBe(500);
    expect(result.problems.map((problem) => problem.record)).toEqual([
      2,
      ...Array.from({ length: 999 }, (_, i) => i + 4),
    ]);
    expect(result.problems[1]).toEqual({
      kind: 'duplicate',
      record: 4,
      model: 'main.item',
      pk: 7,
      message: 'the same pk as record 3: a pk must appear once',
    });
    const report = formatImportResult(result);
    expect(report).toMatch(/^Refused: 1,500 problems found in the file/);
    expect(report.split('\n').at(-1)).toBe('  …and 500 more problems');
  });

  it('counts models and hash formats named like Object properties, as names', async () => {
    const records = [
      { model: 'constructor', pk: 1, fields: {} },
      { model: '__proto__', pk: 1, fields: {} },
      { model: 'constructor', pk: 2, fields: {} },
      { model: 'toString', pk: 1, fields: {} },
      { model: 'hasOwnProperty', pk: 1, fields: {} },
      userRecord(1, 'alice', 'constructor$1$x'),
      userRecord(2, 'bob', '__proto__$1$x'),
      userRecord(3, 'carol', 'toString$1$x'),
      userRecord(4, 'dave', 'hasOwnProperty$1$x'),
      userRecord(5, 'erin', 'hasOwnProperty$2$x'),
    ];
    const result = await importRecords(db, records);
    expect(result.status).toBe('imported');
    expect(Object.entries(result.skipped)).toEqual([
      ['constructor', 2],
      ['__proto__', 1],
      ['toString', 1],
      ['hasOwnProperty', 1],
    ]);
    expect(Object.entries(result.unsupportedHashes)).toEqual([
      ['constructor', 1],
      ['__proto__', 1],
      ['toString', 1],
      ['hasOwnProperty', 2],
    ]);
    // A name the file does not have is absent, not one of Object's methods.
    expect(result.skipped.valueOf).toBeUndefined();
    expect(result.unsupportedHashes.isPrototypeOf).toBeUndefined();
    expect(result.passwordHashes).toEqual({ unsupported: 5 });

    const report = formatImportResult(result);
    for (const line of [
      '  skipped 2 constructor records (only auth.user and main.item are imported)',
      '  skipped 1 __proto__ record (only auth.user and main.item are imported)',
      '  skipped 1 toString record (only auth.user and main.item are imported)',
      '  skipped 1 hasOwnProperty record (only auth.user and main.item are imported)',
      '    constructor: 1',
      '    __proto__: 1',
      '    toString: 1',
      '    hasOwnProperty: 2',
    ]) {
      expect(report.split('\n')).toContain(line);
    }
    expect(report).not.toMatch(/function|native code|\[object Object\]|NaN/);
  });

  it('counts at most 100 names, each at most 100 characters, and prints them escaped', async () => {
    const records: unknown[] = [userRecord(1, 'alice')];
    for (let i = 0; i < 150; i += 1) records.push({ model: `app.model${i}`, pk: 1, fields: {} });
    const result = await importRecords(db, records);
    expect(result.status).toBe('imported');
    expect(Object.keys(result.skipped)).toHaveLength(101);
    expect(result.skipped['app.model99']).toBe(1);
    expect(result.skipped['app.model100']).toBeUndefined();
    expect(result.skipped['(other names)']).toBe(50);
    expect(formatImportResult(result)).toContain('  skipped 50 records of other models');

    await sql`truncate users, django_imports restart identity cascade`.execute(db);
    const fake = '\u001b[2K\r  new users will get ids from 1\n\u202e';
    const long = `app.${'x'.repeat(10_000)}`;
    const odd = await importRecords(db, [
      userRecord(1, 'alice'),
      { model: fake, pk: 1, fields: {} },
      { model: long, pk: 1, fields: {} },
    ]);
    expect(Object.keys(odd.skipped)).toEqual([fake, `${long.slice(0, 100)}…`]);
    const report = formatImportResult(odd);
    expect(report).not.toContain('\u001b');
    expect(report).not.toContain('\u202e');
    expect(report).toContain(
      '  skipped 1 "\\u001b[2K\\r  new users will get ids from 1\\n\\u202e" record',
    );
    expect(report).not.toContain('x'.repeat(101));
  });

  it('refuses pks above 2,000,000,000, which would leave new users and items no ids', async () => {
    const tooLarge = (pk: number) =>
      `pk ${pk} is too large: ids above 2,000,000,000 would leave no room for new users and items`;
    const result = await importRecords(db, [
      userRecord(2_147_483_646, 'alice'),
      itemRecord(2_000_000_001, 2_147_483_646),
      userRecord(2_000_000_000, 'bob'),
      itemRecord(2_000_000_000, 2_000_000_000),
    ]);
    expect(result.status).toBe('refused');
    // The item's owner is in the file, refused for its own pk: no "owner not in the file".
    expect(problemRows(result)).toEqual([
      ['invalid', 1, 'auth.user', 2_147_483_646, tooLarge(2_147_483_646)],
      ['invalid', 2, 'main.item', 2_000_000_001, tooLarge(2_000_000_001)],
    ]);
    expect(formatImportResult(result)).toContain(
      `  - auth.user pk 2147483646 (record 1): ${tooLarge(2_147_483_646)}`,
    );
    expect(await userCount(db)).toBe(0);

    // At the cap itself, the import goes through and registration still finds ids.
    const accepted = await importRecords(db, [
      userRecord(2_000_000_000, 'bob'),
      itemRecord(2_000_000_000, 2_000_000_000),
    ]);
    expect(accepted).toMatchObject({
      status: 'imported',
      nextUserId: 2_000_000_001,
      nextItemId: 2_000_000_001,
    });
    const carol = await registerAccount(
      db,
      {
        username: 'carol',
        password1: 'Correct-Horse-Battery-9',
        password2: 'Correct-Horse-Battery-9',
      },
      '203.0.113.7',
    );
    expect(carol).toMatchObject({ status: 'created', userId: 2_000_000_001 });
  });
});
