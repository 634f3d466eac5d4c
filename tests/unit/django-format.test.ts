import { existsSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { XMLBuilder, XMLParser, XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import {
  EXPORT_CONTENT_TYPE,
  exportStream,
  OBJECTS_PER_CHUNK,
  serializeItems,
  type ExportFormat,
  type ExportItem,
} from '../../src/lib/server/export/django-format.ts';

// Byte-exact output of Django's serializers.serialize() for the original app (see its README).
const FORMATS = new URL('../fixtures/django-formats/', import.meta.url);
const golden = (name: string): Buffer => readFileSync(new URL(name, FORMATS));
const GOLDEN_FILES = ['items', 'item-1', 'missing'].flatMap((n) => [`${n}.json`, `${n}.xml`]);
// The specification's own copies, beside the repository when it is checked out in the workspace.
const SPECIFICATION = new URL('../../../shared/formats/', import.meta.url);

describe.runIf(existsSync(SPECIFICATION))('the golden files', () => {
  it.each(GOLDEN_FILES)('%s is the specification’s copy, byte for byte', (name) => {
    expect(golden(name).equals(readFileSync(new URL(name, SPECIFICATION)))).toBe(true);
  });
});

const WIDGET: ExportItem = {
  id: 1,
  userId: 1,
  name: 'Widget',
  amount: 3,
  description: 'A small widget',
};
const GADGET: ExportItem = {
  id: 2,
  userId: 1,
  name: 'Gadget <b>&',
  amount: 10,
  description: 'Line1\nLine2 "quoted" \'single\' é ü 漢字',
};

const FORMATS_UNDER_TEST: readonly ExportFormat[] = ['json', 'xml'];
const GOLDEN_CASES: ReadonlyArray<readonly [string, readonly ExportItem[]]> = [
  ['items', [WIDGET, GADGET]],
  ['item-1', [WIDGET]],
  ['missing', []],
];

async function* fromBatches(
  batches: ReadonlyArray<readonly ExportItem[]>,
): AsyncGenerator<readonly ExportItem[]> {
  for (const batch of batches) yield batch;
}

async function collect(stream: ReadableStream<Uint8Array>): Promise<Buffer> {
  return Buffer.from(await new Response(stream).arrayBuffer());
}

function expectBytes(actual: string | Buffer, expected: Buffer): void {
  const bytes = typeof actual === 'string' ? Buffer.from(actual, 'utf8') : actual;
  // The string comparison gives a readable diff; the byte comparison is the actual contract.
  expect(bytes.toString('utf8')).toBe(expected.toString('utf8'));
  expect(bytes.equals(expected)).toBe(true);
}

const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 10));

// --- Generators ---------------------------------------------------------------------------------

// What the input schema lets through: no XML-1.0-illegal characters, and line breaks as LF.
// eslint-disable-next-line no-control-regex -- these are exactly the characters being excluded
const NOT_STORABLE = /[\u0000-\u0008\u000B-\u001F\uFFFE\uFFFF]|\p{Cs}/u;

const storableText = fc.string({
  unit: fc.oneof(
    fc.constantFrom('&', '<', '>', '"', "'", '\n', '\t', ' ', ']]>', '&amp;', '<!--', '\u2028'),
    fc.constantFrom('é', 'e\u0301', '漢', '😀', '\u007f', '\u0085', '\u00a0', '\ufeff', '\ufffd'),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }).filter((c) => !NOT_STORABLE.test(c)),
  ),
  maxLength: 40,
});

const exportItem: fc.Arbitrary<ExportItem> = fc.record({
  id: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
  userId: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
  name: storableText,
  amount: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  description: storableText,
});

const exportItems = fc.array(exportItem, { maxLength: 8 });

/** The items cut into consecutive batches of arbitrary sizes, empty ones included. */
const batched = exportItems.chain((items) =>
  fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 12 }).map((sizes) => {
    const batches: ExportItem[][] = [];
    let start = 0;
    for (const size of sizes) {
      batches.push(items.slice(start, start + size));
      start += size;
    }
    batches.push(items.slice(start));
    return { items, batches };
  }),
);

function djangoFields(item: ExportItem) {
  return {
    model: 'main.item',
    pk: item.id,
    fields: {
      user: item.userId,
      name: item.name,
      amount: item.amount,
      description: item.description,
    },
  };
}

// --- Tests --------------------------------------------------------------------------------------

describe('export content types', () => {
  it('are the bare media types Django sent, without a charset', () => {
    expect(EXPORT_CONTENT_TYPE).toEqual({ json: 'application/json', xml: 'application/xml' });
  });
});

describe('serializeItems', () => {
  for (const format of FORMATS_UNDER_TEST) {
    for (const [name, items] of GOLDEN_CASES) {
      it(`writes ${name}.${format} byte for byte`, () => {
        expectBytes(serializeItems(format, items), golden(`${name}.${format}`));
      });
    }
  }

  it('writes an empty description as an empty string / an empty, non-self-closing element', () => {
    const item: ExportItem = { ...WIDGET, description: '' };
    expect(serializeItems('json', [item])).toBe(
      '[{"model": "main.item", "pk": 1, "fields": {"user": 1, "name": "Widget", "amount": 3, ' +
        '"description": ""}}]',
    );
    expect(serializeItems('xml', [item])).toContain(
      '<field name="description" type="TextField"></field></object>',
    );
  });

  it('escapes JSON strings exactly as Python json.dumps(..., ensure_ascii=False)', () => {
    const tricky = '\u0000\u0001\u000b\u001b\u001f\u007f\b\f\n\r\t"\\/ \u2028\u2029é😀<>&\'';
    // Python's output, from json.dumps(tricky, ensure_ascii=False): control characters as
    // lowercase \u00xx or their short forms; DEL, U+2028/9, non-ASCII and <>&' left raw.
    const python =
      String.raw`"\u0000\u0001\u000b\u001b\u001f` +
      '\u007f' +
      String.raw`\b\f\n\r\t\"\\/ ` +
      '\u2028\u2029' +
      `é😀<>&'"`;
    expect(serializeItems('json', [{ ...WIDGET, name: tricky, description: tricky }])).toBe(
      '[{"model": "main.item", "pk": 1, "fields": {"user": 1, ' +
        `"name": ${python}, "amount": 3, "description": ${python}}}]`,
    );
  });

  it('escapes only & < > in XML text, leaving quotes, LF and tab as they are', () => {
    const xml = serializeItems('xml', [{ ...WIDGET, name: `a&b<c>d"e'f\ng\th]]>` }]);
    expect(xml).toContain(
      `<field name="name" type="CharField">a&amp;b&lt;c&gt;d"e'f\ng\th]]&gt;</field>`,
    );
  });

  it.each([
    ['a control character', 'bell\u0007'],
    ['a form feed', 'page\u000c'],
    ['U+FFFE', 'x\ufffe'],
    ['a lone surrogate', 'x\ud800y'],
  ])(
    'refuses XML for text with %s, as Django does, instead of writing a broken document',
    (_, text) => {
      expect(() => serializeItems('xml', [{ ...WIDGET, description: text }])).toThrow(RangeError);
      expect(() => serializeItems('xml', [{ ...WIDGET, name: text }])).toThrow(RangeError);
    },
  );

  it('still writes such text to JSON, which can carry it (as Django does)', () => {
    expect(serializeItems('json', [{ ...WIDGET, name: 'bell\u0007' }])).toContain(
      '"name": "bell\\u0007"',
    );
  });

  it.each([1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53])(
    'rejects the non-integer number %s rather than print it unlike Python would',
    (bad) => {
      for (const format of FORMATS_UNDER_TEST) {
        expect(() => serializeItems(format, [{ ...WIDGET, amount: bad }])).toThrow(TypeError);
        expect(() => serializeItems(format, [{ ...WIDGET, id: bad }])).toThrow(TypeError);
      }
    },
  );
});

describe('the XML writer and fast-xml-parser', () => {
  it("cannot use the builder's own entity escaping: it also escapes quotes in text", () => {
    // Django (xml.sax.saxutils) writes `"quoted" 'single'` raw, so processEntities stays off.
    const builder = new XMLBuilder({});
    expect(builder.build({ field: `"quoted" 'single' <&>` })).toBe(
      '<field>&quot;quoted&quot; &apos;single&apos; &lt;&amp;&gt;</field>',
    );
  });

  it('writes what a plain XMLBuilder writes for the whole document', () => {
    const escapeText = (value: unknown): unknown =>
      typeof value === 'string'
        ? value.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;')
        : value;
    const builder = new XMLBuilder({
      ignoreAttributes: false,
      suppressEmptyNode: false,
      processEntities: false,
      tagValueProcessor: (_name, value) => escapeText(value),
    });
    const node = (item: ExportItem) => ({
      '@_model': 'main.item',
      '@_pk': item.id,
      field: [
        { '@_name': 'user', '@_rel': 'ManyToOneRel', '@_to': 'auth.user', '#text': item.userId },
        { '@_name': 'name', '@_type': 'CharField', '#text': item.name },
        { '@_name': 'amount', '@_type': 'IntegerField', '#text': item.amount },
        { '@_name': 'description', '@_type': 'TextField', '#text': item.description },
      ],
    });
    fc.assert(
      fc.property(exportItems, (items) => {
        const whole =
          '<?xml version="1.0" encoding="utf-8"?>\n' +
          builder.build({ 'django-objects': { '@_version': '1.0', object: items.map(node) } });
        expect(serializeItems('xml', items)).toBe(whole);
      }),
    );
  });
});

describe('round trips through strict parsers', () => {
  const parser = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '',
    alwaysCreateTextNode: true,
    isArray: (tagName) => tagName === 'object' || tagName === 'field',
    parseTagValue: false,
    parseAttributeValue: false,
    trimValues: false,
    processEntities: true,
    htmlEntities: false,
  });

  interface ParsedField {
    name: string;
    '#text'?: string;
  }
  interface ParsedObject {
    model: string;
    pk: string;
    field: ParsedField[];
  }
  interface ParsedDocument {
    '?xml': { version: string; encoding: string };
    'django-objects': { version: string; object?: ParsedObject[] };
  }

  it('JSON.parse gives back every field', () => {
    fc.assert(
      fc.property(exportItems, (items) => {
        expect(JSON.parse(serializeItems('json', items))).toEqual(items.map(djangoFields));
      }),
    );
  });

  it('a validating XML parser gives back every field, whitespace and all', () => {
    fc.assert(
      fc.property(exportItems, (items) => {
        const xml = serializeItems('xml', items);
        expect(XMLValidator.validate(xml)).toBe(true);
        const parsed = parser.parse(xml) as ParsedDocument;
        expect(parsed['?xml']).toMatchObject({ version: '1.0', encoding: 'utf-8' });
        const objects = (parsed['django-objects'].object ?? []).map((object) => {
          const text = (name: string): string =>
            object.field.find((field) => field.name === name)?.['#text'] ?? '';
          return {
            model: object.model,
            pk: Number(object.pk),
            fields: {
              user: Number(text('user')),
              name: text('name'),
              amount: Number(text('amount')),
              description: text('description'),
            },
          };
        });
        expect(objects).toEqual(items.map(djangoFields));
      }),
    );
  });
});

describe('exportStream', () => {
  const SPLITS: ReadonlyArray<readonly [string, ReadonlyArray<readonly ExportItem[]>]> = [
    ['one batch', [[WIDGET, GADGET]]],
    ['one item per batch', [[WIDGET], [GADGET]]],
    ['empty batches around and between', [[], [WIDGET], [], [], [GADGET], []]],
  ];

  for (const format of FORMATS_UNDER_TEST) {
    for (const [how, batches] of SPLITS) {
      it(`streams items.${format} byte for byte (${how})`, async () => {
        expectBytes(
          await collect(exportStream(format, fromBatches(batches))),
          golden(`items.${format}`),
        );
      });
    }

    it(`streams missing.${format} for no batches and for only empty batches`, async () => {
      expectBytes(
        await collect(exportStream(format, fromBatches([]))),
        golden(`missing.${format}`),
      );
      expectBytes(
        await collect(exportStream(format, fromBatches([[], []]))),
        golden(`missing.${format}`),
      );
    });

    it(`streams the same bytes as serializeItems for any batching (${format})`, async () => {
      await fc.assert(
        fc.asyncProperty(batched, async ({ items, batches }) => {
          const streamed = await collect(exportStream(format, fromBatches(batches)));
          expect(streamed.equals(Buffer.from(serializeItems(format, items), 'utf8'))).toBe(true);
        }),
      );
    });
  }

  it('writes a large batch in chunks of at most OBJECTS_PER_CHUNK objects, same bytes', async () => {
    const items = Array.from({ length: OBJECTS_PER_CHUNK * 2 + 7 }, (_, index) => ({
      ...WIDGET,
      id: index + 1,
      name: `item ${index + 1}`,
    }));
    for (const format of ['json', 'xml'] as const) {
      const chunks: Uint8Array[] = [];
      const reader = exportStream(format, fromBatches([items, [GADGET]])).getReader();
      for (let read = await reader.read(); !read.done; read = await reader.read()) {
        chunks.push(read.value);
      }
      const text = chunks.map((chunk) => Buffer.from(chunk).toString('utf8'));
      const objectsIn = (chunk: string) =>
        chunk.split(format === 'json' ? '"model": ' : '<object ').length - 1;
      // Three chunks for the large batch, one for the small one, one to close the document.
      expect(text.map(objectsIn), format).toEqual([OBJECTS_PER_CHUNK, OBJECTS_PER_CHUNK, 7, 1, 0]);
      expect(text.join(''), format).toBe(serializeItems(format, [...items, GADGET]));
    }
  });

  /** An endless source that records how far it was pulled and whether it was closed. */
  function endlessSource() {
    const state = { produced: 0, closed: false };
    async function* batches(): AsyncGenerator<readonly ExportItem[]> {
      try {
        for (;;) {
          state.produced += 1;
          yield [{ ...WIDGET, id: state.produced }];
        }
      } finally {
        state.closed = true;
      }
    }
    return { state, batches: batches() };
  }

  it('pulls from the source only as the consumer reads (bounded read-ahead)', async () => {
    const { state, batches } = endlessSource();
    const reader = exportStream('json', batches).getReader();
    await tick();
    expect(state.produced).toBeLessThanOrEqual(1);
    for (let i = 0; i < 5; i++) await reader.read();
    await tick();
    expect(state.produced).toBeLessThanOrEqual(6);
    await reader.cancel();
  });

  it('stops pulling and closes the source when the consumer cancels', async () => {
    const { state, batches } = endlessSource();
    const reader = exportStream('xml', batches).getReader();
    const first = await reader.read();
    expect(Buffer.from(first.value ?? []).toString('utf8')).toMatch(/^<\?xml .*<object /s);
    await reader.read();
    await reader.cancel('client went away');
    expect(state.closed).toBe(true);
    const pulled = state.produced;
    await tick();
    expect(state.produced).toBe(pulled);
  });

  it('errors the stream when the source fails', async () => {
    async function* failing(): AsyncGenerator<readonly ExportItem[]> {
      yield [WIDGET];
      throw new Error('connection lost');
    }
    await expect(collect(exportStream('json', failing()))).rejects.toThrow('connection lost');
  });

  it('errors the stream and closes the source when an item cannot be written', async () => {
    let closed = false;
    async function* poisoned(): AsyncGenerator<readonly ExportItem[]> {
      try {
        yield [WIDGET];
        yield [{ ...GADGET, description: 'bell\u0007' }];
        yield [GADGET];
      } finally {
        closed = true;
      }
    }
    await expect(collect(exportStream('xml', poisoned()))).rejects.toThrow(RangeError);
    expect(closed).toBe(true);
  });
});
