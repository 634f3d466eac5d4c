import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AMOUNT_MAX,
  characterCount,
  DESCRIPTION_MAX_LENGTH,
  firstUnstorableCharacter,
  itemInputSchema,
  itemPatchSchema,
  NAME_MAX_LENGTH,
} from '../../src/lib/contracts/item-input.ts';

import { parseRowId } from '../../src/lib/server/ids.ts';
import {
  loginSchema,
  parseLoginForm,
  parseRegistrationForm,
  registrationSchema,
} from '../../src/lib/server/auth/registration.ts';
import { parseTokenForm } from '../../src/lib/server/auth/token-form.ts';
import { createPersonalInventory } from '../../src/lib/server/inventories/inventories.ts';
import { createItemForMember, listItemsForMember } from '../../src/lib/server/items/items.ts';
import {
  BODY_LIMIT_BYTES,
  BodyError,
  readFormFields,
  readJsonBody,
} from '../../src/lib/server/request-body.ts';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { ITEM_SORTS, parseItemListParams, parseListQuery } from '../../src/lib/contracts/items.ts';

/**
 * Property-based fuzzing of everything that reads client input before it reaches the
 * database: the body readers may only fail with a BodyError (the middleware's 400/413/415),
 * the schemas only with a failed safeParse, and whatever they let through keeps the rules.
 */

const RUNS = { numRuns: 300 };

/** Strings that include lone surrogates, control characters and astral characters. */
const anyText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({
    unit: fc.constantFrom(
      '\0',
      '\u000b',
      '\r',
      '\n',
      '\ud800',
      '\udc00',
      '\ufffe',
      '😀',
      'a',
      ' ',
      '%',
      '+',
      '&',
      '=',
    ),
    maxLength: 40,
  }),
);

/** Anything a JSON body or a form could decode to, and more. */
const anyValue = fc.oneof(
  fc.anything({
    withBigInt: true,
    withDate: true,
    withMap: true,
    withSet: true,
    withNullPrototype: true,
  }),
  anyText,
  fc.double(),
  fc.constantFrom(NaN, Infinity, -Infinity, -0, 2 ** 31, 2 ** 31 - 1, -1, Number.MAX_VALUE),
);

const itemLike = fc.record(
  { name: anyValue, amount: anyValue, description: anyValue, user: anyValue, id: anyValue },
  { requiredKeys: [] },
);

const CONTENT_TYPES = [
  'application/x-www-form-urlencoded',
  'application/x-www-form-urlencoded; charset=utf-8',
  'APPLICATION/X-WWW-FORM-URLENCODED',
  'multipart/form-data',
  'multipart/form-data; boundary=X',
  'multipart/form-data; boundary="X"',
  'multipart/form-data; boundary=',
  'application/json',
  'application/json; charset=utf-8',
  'Application/JSON',
  'text/plain',
  'text/plain;charset=UTF-8',
  '',
  ';',
  'application/xml',
];

const contentType = fc.oneof(
  fc.constantFrom(...CONTENT_TYPES),
  fc.string({ unit: 'binary-ascii', maxLength: 60 }).filter(isHeaderValue),
);

function isHeaderValue(value: string): boolean {
  // What the Headers class accepts: Latin-1 only, and no CR, LF or NUL.
  return [...value].every((c) => c.charCodeAt(0) <= 0xff && !'\r\n\0'.includes(c));
}

/** Bodies built from the pieces parsers trip over: escapes, boundaries, bad UTF-8. */
const FRAGMENTS = [
  '%',
  '%zz',
  '%E0%A4',
  '%ED%A0%80',
  '%C3%A9',
  '%00',
  '+',
  '=',
  '&',
  'name=',
  'amount=1',
  '--X',
  '--X--',
  '\r\n',
  '\r\n\r\n',
  'Content-Disposition: form-data; name="name"',
  'Content-Disposition: form-data; name="f"; filename="a.txt"',
  'Content-Type: text/plain',
  '{',
  '}',
  '"',
  '[',
  ']',
  ':',
  ',',
  '\\u0000',
  '\\ud800',
  '1e309',
  'null',
];
const fragment = fc.oneof(
  fc.constantFrom(...FRAGMENTS).map((text) => new TextEncoder().encode(text)),
  fc.uint8Array({ maxLength: 16 }),
  fc.constantFrom(
    new Uint8Array([0xff]),
    new Uint8Array([0xc3]),
    new Uint8Array([0xed, 0xa0, 0x80]),
    new Uint8Array([0xef, 0xbb, 0xbf]),
  ),
);
const bodyBytes = fc.oneof(
  fc.uint8Array({ maxLength: 300 }),
  fc.array(fragment, { maxLength: 30 }).map((parts) => Buffer.concat(parts)),
  fc.jsonValue().map((value) => new TextEncoder().encode(JSON.stringify(value))),
);

function post(type: string | undefined, body: Uint8Array): Request {
  const headers = new Headers();
  if (type !== undefined) headers.set('content-type', type);
  return new Request('http://localhost/create-item', {
    method: 'POST',
    headers,
    body: new Uint8Array(body),
  });
}

/** Resolves with what `read` returned, or with the error it threw. */
async function outcome<T>(read: () => Promise<T>): Promise<{ value?: T; error?: unknown }> {
  try {
    return { value: await read() };
  } catch (error) {
    return { error };
  }
}

function expectBodyError(error: unknown): void {
  expect(error).toBeInstanceOf(BodyError);
  const { status } = (error as BodyError).problem;
  expect([400, 413, 415]).toContain(status);
}

describe('readFormFields', () => {
  it('returns string fields or throws a BodyError, for any bytes and content type', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.option(contentType, { nil: undefined }),
        bodyBytes,
        async (type, body) => {
          const result = await outcome(() => readFormFields(post(type, body)));
          if (result.error !== undefined) return expectBodyError(result.error);
          expect(Object.getPrototypeOf(result.value)).toBe(Object.prototype);
          for (const value of Object.values(result.value!)) expect(typeof value).toBe('string');
        },
      ),
      RUNS,
    );
  });

  it('reads back exactly the fields a browser encodes, urlencoded or multipart', async () => {
    // Text that UTF-8 can carry (no lone surrogates): what a browser's form can send.
    const text = fc.string({ unit: 'grapheme', maxLength: 30 });
    const name = fc.stringMatching(/^[a-z_]{1,12}$/);
    await fc.assert(
      fc.asyncProperty(fc.dictionary(name, text, { maxKeys: 5 }), async (fields) => {
        const encoded = new TextEncoder().encode(new URLSearchParams(fields).toString());
        expect(await readFormFields(post('application/x-www-form-urlencoded', encoded))).toEqual(
          fields,
        );

        const form = new FormData();
        for (const [key, value] of Object.entries(fields)) form.append(key, value);
        const request = new Request('http://localhost/create-item', { method: 'POST', body: form });
        // Multipart carries every line break as CR LF (the item schema makes them LF again).
        const crlf = Object.fromEntries(
          Object.entries(fields).map(([key, value]) => [key, value.replace(/\r\n|\r|\n/g, '\r\n')]),
        );
        expect(await readFormFields(request)).toEqual(crlf);
      }),
      { numRuns: 100 },
    );
  });

  it('reads fields named like Object.prototype members as plain fields, in both encodings', async () => {
    const pairs = [
      ['__proto__', 'polluted'],
      ['constructor', 'c'],
      ['toString', 't'],
      ['name', 'n'],
    ];
    const names = pairs.map(([name]) => name);
    const urlencoded = new URLSearchParams(pairs);
    const multipart = new FormData();
    for (const [name, value] of pairs) multipart.append(name!, value!);
    for (const request of [
      post('application/x-www-form-urlencoded', new TextEncoder().encode(urlencoded.toString())),
      new Request('http://localhost/create-item', { method: 'POST', body: multipart }),
    ]) {
      const read = await readFormFields(request);
      expect(Object.getPrototypeOf(read)).toBe(Object.prototype);
      expect(Object.keys(read)).toEqual(names);
      expect(Object.getOwnPropertyDescriptor(read, '__proto__')?.value).toBe('polluted');
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    }
  });

  it('refuses more than 64 KiB with 413 whatever the content', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 4096 }), async (extra) => {
        const body = new Uint8Array(BODY_LIMIT_BYTES + extra).fill(0x61);
        const result = await outcome(() =>
          readFormFields(post('application/x-www-form-urlencoded', body)),
        );
        expect((result.error as BodyError).problem.status).toBe(413);
      }),
      { numRuns: 20 },
    );
  });
});

describe('readJsonBody', () => {
  it('returns parsed JSON or throws a BodyError, for any bytes and content type', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.option(contentType, { nil: undefined }),
        bodyBytes,
        async (type, body) => {
          const result = await outcome(() => readJsonBody(post(type, body)));
          if (result.error !== undefined) return expectBodyError(result.error);
          // Only a JSON body is read, and it reads as its bytes parse: strict UTF-8, no BOM.
          expect(type?.split(';', 1)[0]!.trim().toLowerCase()).toBe('application/json');
          const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(body);
          expect(result.value).toEqual(JSON.parse(text));
        },
      ),
      RUNS,
    );
  });

  it('gives back any JSON value it is sent', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), async (value) => {
        const body = new TextEncoder().encode(JSON.stringify(value));
        expect(await readJsonBody(post('application/json', body))).toEqual(
          JSON.parse(JSON.stringify(value)),
        );
      }),
      { numRuns: 100 },
    );
  });
});

/** What every item the schemas let through must satisfy before it reaches the database. */
function expectStorable(item: { name?: string; amount?: number; description?: string }): void {
  if (item.name !== undefined) {
    expect(item.name).toBe(item.name.trim());
    expect(characterCount(item.name)).toBeGreaterThanOrEqual(1);
    expect(characterCount(item.name)).toBeLessThanOrEqual(NAME_MAX_LENGTH);
    expect(firstUnstorableCharacter(item.name)).toBeUndefined();
    expect(item.name).not.toContain('\r');
  }
  if (item.description !== undefined) {
    expect(characterCount(item.description)).toBeLessThanOrEqual(DESCRIPTION_MAX_LENGTH);
    expect(firstUnstorableCharacter(item.description)).toBeUndefined();
    expect(item.description).not.toContain('\r');
  }
  if (item.amount !== undefined) {
    expect(Number.isSafeInteger(item.amount)).toBe(true);
    expect(item.amount).toBeGreaterThanOrEqual(0);
    expect(item.amount).toBeLessThanOrEqual(AMOUNT_MAX);
  }
}

describe('the item schemas', () => {
  for (const [label, schema] of [
    ['itemInputSchema', itemInputSchema],
    ['itemPatchSchema', itemPatchSchema],
  ] as const) {
    it(`${label}.safeParse never throws, and what it accepts is storable`, () => {
      fc.assert(
        fc.property(fc.oneof(anyValue, itemLike), (input) => {
          const result = schema.safeParse(input);
          if (!result.success) {
            expect(result.error.issues.length).toBeGreaterThan(0);
            return;
          }
          expect(
            Object.keys(result.data).every((key) =>
              ['name', 'amount', 'description'].includes(key),
            ),
          ).toBe(true);
          expectStorable(result.data);
        }),
        { numRuns: 1000 },
      );
    });
  }
});

describe('parseRowId', () => {
  it('gives undefined or an id from 1 to 2147483647, never throwing', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          anyText,
          fc.stringMatching(/^[0-9]{0,40}$/),
          fc.double(),
          fc.integer(),
          fc.constant(undefined),
        ),
        (raw) => {
          const id = parseRowId(raw as string | number | undefined);
          if (id === undefined) return;
          expect(Number.isInteger(id)).toBe(true);
          expect(id).toBeGreaterThanOrEqual(1);
          expect(id).toBeLessThanOrEqual(2_147_483_647);
          if (typeof raw === 'string') expect(raw).toMatch(/^\d+$/);
        },
      ),
      { numRuns: 1000 },
    );
  });
});

/** Query strings with the list's own parameters, as hostile as they come. */
const queryString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc
    .array(
      fc.tuple(
        fc.constantFrom('q', 'sort', 'page', 'limit', 'x'),
        fc.oneof(
          anyText,
          fc.constantFrom(
            "' or 1=1 --",
            'name; drop table items',
            'id desc',
            '-1',
            '1e9',
            '0',
            '100000',
            'abc',
            '99999999999999999999',
            '%00',
            '\0',
            '%',
            '\\',
          ),
        ),
      ),
      { maxLength: 6 },
    )
    .map((pairs) => new URLSearchParams(pairs).toString()),
);

describe('parseItemListParams and the API’s parseListQuery', () => {
  it('always give a search, an allowed sort and a page and limit in range (pages)', () => {
    fc.assert(
      fc.property(queryString, (query) => {
        const params = parseItemListParams(new URLSearchParams(query));
        expect(ITEM_SORTS).toContain(params.sort);
        expect(Number.isInteger(params.page) && params.page >= 1).toBe(true);
        expect(params.page).toBeLessThanOrEqual(1_000_000);
        expect(Number.isInteger(params.limit)).toBe(true);
        expect(params.limit).toBeGreaterThanOrEqual(1);
        expect(params.limit).toBeLessThanOrEqual(100);
        expect(params.search.length).toBeLessThanOrEqual(200);
      }),
      { numRuns: 1000 },
    );
  });

  it('either refuse the query or give an allowed sort and a page and limit in range (API)', () => {
    fc.assert(
      fc.property(queryString, (query) => {
        const parsed = parseListQuery(new URLSearchParams(query));
        if (!parsed.success) return;
        const { sort, page, limit } = parsed.data;
        if (sort !== undefined) expect(ITEM_SORTS).toContain(sort);
        expect(Number.isInteger(page) && page! >= 1 && page! <= 1_000_000_000).toBe(true);
        expect(Number.isInteger(limit) && limit! >= 1 && limit! <= 100).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });
});

describe.each(BACKENDS)('searching and paging the items on %s', (backend) => {
  let database: TestDatabase;
  let owner: { userId: number; onlyInventoryId: null };
  const NAMES = ['100% juice', 'a_b', 'back\\slash', "it's", 'Ünïcödé', 'plain'];

  beforeAll(async () => {
    database = await createTestDatabase(backend);
    const { id } = await database.db
      .insertInto('users')
      .values({ username: 'fuzz', username_key: 'fuzz', password_hash: '!' })
      .returning('id')
      .executeTakeFirstOrThrow();
    owner = { userId: id, onlyInventoryId: null };
    const inventoryId = await database.db
      .transaction()
      .execute((trx) => createPersonalInventory(trx, id));
    for (const name of NAMES) {
      const item = { name, amount: 1, description: '' };
      await createItemForMember(database.db, owner, 'edit', inventoryId, item);
    }
  });

  afterAll(async () => {
    await database?.drop();
  });

  it('searches for any text without a database error', async () => {
    await fc.assert(
      fc.asyncProperty(anyText, async (search) => {
        const page = await listItemsForMember(database.db, owner, 'read', {}, { search });
        expect(page.total).toBeLessThanOrEqual(NAMES.length);
      }),
      { numRuns: 200 },
    );
  });

  it('answers any query string a page parses without a database error', async () => {
    await fc.assert(
      fc.asyncProperty(queryString, async (query) => {
        const page = await listItemsForMember(
          database.db,
          owner,
          'read',
          {},
          parseItemListParams(new URLSearchParams(query)),
        );
        expect(page.total).toBeLessThanOrEqual(NAMES.length);
        const search = parseItemListParams(new URLSearchParams(query)).search.trim().toLowerCase();
        for (const item of page.items) {
          if (/^[\x20-\x7e]*$/.test(search)) expect(item.name.toLowerCase()).toContain(search);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('the registration and sign-in schemas', () => {
  const formLike = fc.record(
    { username: anyValue, password: anyValue, password1: anyValue, password2: anyValue },
    { requiredKeys: [] },
  );

  it('registrationSchema and loginSchema never throw', () => {
    fc.assert(
      fc.property(fc.oneof(anyValue, formLike), (input) => {
        for (const schema of [registrationSchema, loginSchema]) {
          const result = schema.safeParse(input);
          if (!result.success) expect(result.error.issues.length).toBeGreaterThan(0);
        }
        for (const parse of [parseRegistrationForm, parseLoginForm]) {
          const result = parse(input);
          if (!result.success) expect(Object.keys(result.errors).length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('never let a NUL or an over-long name through', () => {
    fc.assert(
      fc.property(anyText, anyText, (username, password) => {
        const login = parseLoginForm({ username, password });
        if (login.success) {
          expect(login.data.username).not.toContain('\0');
          expect(login.data.password).not.toContain('\0');
          expect([...login.data.username].length).toBeLessThanOrEqual(150);
        }
        const registration = parseRegistrationForm({
          username,
          password1: password,
          password2: password,
        });
        if (registration.success) {
          expect(registration.data.username).toMatch(/^[\p{L}\p{N}_.@+-]+$/u);
          expect([...registration.data.username].length).toBeLessThanOrEqual(150);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('the API token form', () => {
  it('never throws, and a name it accepts has no control characters', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.constantFrom('name', 'scope', 'expires_in_days', 'x'), anyText),
        (fields) => {
          const parsed = parseTokenForm(fields);
          if (!parsed.success) return;
          for (const c of parsed.data.name) {
            expect(c.charCodeAt(0) < 0x20 || c === '\u007f', 'control character').toBe(false);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
