/**
 * Byte-compatible re-implementation of Django's `serializers.serialize('json' | 'xml', items)`
 * for the original `main.Item` model, so clients written against the Django app (including
 * Django's own deserializer) keep working. The worked examples in `shared/formats/` are the
 * reference; this module is the only place that knows the format.
 */
import { XMLBuilder } from 'fast-xml-parser';

export type ExportFormat = 'json' | 'xml';

export interface ExportItem {
  readonly id: number;
  /** Who added it; null once that account is deleted (Django's serializer writes null too). */
  readonly userId: number | null;
  readonly name: string;
  readonly amount: number;
  readonly description: string;
}

// The original views passed these literally to HttpResponse, so no charset parameter
// (shared/formats/README.md); clients may compare the header as a whole string.
export const EXPORT_CONTENT_TYPE: Readonly<Record<ExportFormat, string>> = {
  json: 'application/json',
  xml: 'application/xml',
};

/** The only part that differs between formats; document assembly and streaming are shared. */
interface DocumentWriter {
  readonly open: string;
  readonly separator: string;
  readonly close: string;
  object(item: ExportItem): string;
}

const MODEL_LABEL = 'main.item';

function integerText(value: number, field: string): string {
  // A float, NaN or unsafe integer would print differently from Python's int (or not at all).
  if (!Number.isSafeInteger(value)) {
    throw new TypeError(`export: ${field} must be a safe integer, got ${String(value)}`);
  }
  return String(value);
}

// --- JSON -------------------------------------------------------------------------------------

/*
 * Django: json.dump(..., ensure_ascii=False) with the default ", " / ": " separators, and the
 * serializer itself writes "[", ", " between objects and "]". For well-formed strings,
 * JSON.stringify escapes exactly what Python's encoder does: `"`, `\`, the short forms
 * \b \f \n \r \t, every other U+0000–U+001F as lowercase \u00xx, and nothing else (DEL,
 * U+2028/9 and non-ASCII stay raw). Stored text never holds lone surrogates, the one place the
 * two differ.
 */
const jsonWriter: DocumentWriter = {
  open: '[',
  separator: ', ',
  close: ']',
  object: (item) =>
    `{"model": "${MODEL_LABEL}", "pk": ${integerText(item.id, 'id')}, "fields": {` +
    `"user": ${item.userId === null ? 'null' : integerText(item.userId, 'userId')}, ` +
    `"name": ${JSON.stringify(item.name)}, ` +
    `"amount": ${integerText(item.amount, 'amount')}, ` +
    `"description": ${JSON.stringify(item.description)}}}`,
};

// --- XML --------------------------------------------------------------------------------------

/*
 * Django writes XML with xml.sax.saxutils.XMLGenerator, which escapes only & < > in text. The
 * builder's own entity table (processEntities: true) would also turn ' and " in text into
 * &apos; / &quot;, so it is switched off and text goes through escapeXmlText instead.
 * Attribute values here are ASCII constants and integers, which need no escaping under either
 * Python's quoteattr or the builder. suppressEmptyNode: false gives `<field ...></field>` for
 * an empty description, as XMLGenerator (short_empty_elements=False) does.
 */
const xmlBuilder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  format: false,
  suppressEmptyNode: false,
  suppressBooleanAttributes: false,
  processEntities: false,
  tagValueProcessor: (_name, value) => (typeof value === 'string' ? escapeXmlText(value) : value),
});

const XML_TEXT_SPECIAL = /[&<>]/;

function escapeXmlText(text: string): string {
  // Most values need no escaping; testing first skips three string copies for them.
  if (!XML_TEXT_SPECIAL.test(text)) return text;
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

// Django refuses (ValueError) rather than write a document no XML parser accepts; the input
// schema already rejects these, so reaching this means corrupt data, which must fail loudly.
// Lone surrogates are found by isWellFormed(): a `\p{Cs}` class needs a Unicode-mode pattern,
// which took about twice as long over every name and description of a large export.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const XML_UNCARRIABLE = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/;

function xmlText(text: string, field: string, id: number): string {
  if (!text.isWellFormed() || XML_UNCARRIABLE.test(text)) {
    throw new RangeError(`export: item ${id} ${field} holds a character XML 1.0 cannot carry`);
  }
  return escapeXmlText(text);
}

/*
 * Running the builder for every object costs about 15 µs each (≈1.5 s per 100,000 items, most
 * of it the builder's per-attribute escaping and path matching), so the builder renders each
 * piece of markup once, with a placeholder in every value slot, and per object the escaped
 * values are spliced between those fixed pieces. The result is what the builder would produce
 * for the full object (a unit test checks this against a plain XMLBuilder).
 */
// A private-use character: it occurs in none of the fixed markup, so splitting on it is exact.
const SLOT = '\uE000';

/** The markup around `slots` placeholders: always `slots + 1` pieces. */
function markupAround<T extends readonly string[]>(markup: string, slots: number): T {
  const pieces = markup.split(SLOT);
  if (pieces.length !== slots + 1) {
    throw new Error(`export: unexpected XMLBuilder output ${JSON.stringify(markup)}`);
  }
  return pieces as readonly string[] as T;
}

const [documentOpen, documentClose] = markupAround<readonly [string, string]>(
  // XMLGenerator.startDocument ends the declaration with a newline; the builder does not.
  `${xmlBuilder.build({ '?xml': { '@_version': '1.0', '@_encoding': 'utf-8' } })}\n` +
    xmlBuilder.build({ 'django-objects': { '@_version': '1.0', '#text': SLOT } }),
  1,
);

const [objectOpen, pkToUser, userToName, nameToAmount, amountToDescription, objectClose] =
  markupAround<readonly [string, string, string, string, string, string]>(
    xmlBuilder.build({
      object: {
        '@_model': MODEL_LABEL,
        '@_pk': SLOT,
        field: [
          { '@_name': 'user', '@_rel': 'ManyToOneRel', '@_to': 'auth.user', '#text': SLOT },
          { '@_name': 'name', '@_type': 'CharField', '#text': SLOT },
          { '@_name': 'amount', '@_type': 'IntegerField', '#text': SLOT },
          { '@_name': 'description', '@_type': 'TextField', '#text': SLOT },
        ],
      },
    }),
    5,
  );

const xmlWriter: DocumentWriter = {
  open: documentOpen,
  separator: '',
  close: documentClose,
  object: (item) =>
    objectOpen +
    integerText(item.id, 'id') +
    pkToUser +
    // Django's XMLSerializer writes a null foreign key as an empty <None> element.
    (item.userId === null ? '<None></None>' : integerText(item.userId, 'userId')) +
    userToName +
    xmlText(item.name, 'name', item.id) +
    nameToAmount +
    integerText(item.amount, 'amount') +
    amountToDescription +
    xmlText(item.description, 'description', item.id) +
    objectClose,
};

// --- Shared document assembly -----------------------------------------------------------------

const WRITERS: Readonly<Record<ExportFormat, DocumentWriter>> = {
  json: jsonWriter,
  xml: xmlWriter,
};

/** One run of objects; `continues` when objects were already written before it. */
function objectsText(
  writer: DocumentWriter,
  items: readonly ExportItem[],
  continues: boolean,
): string {
  const body = items.map((item) => writer.object(item)).join(writer.separator);
  return continues ? writer.separator + body : body;
}

/** The whole document, as `serializers.serialize(format, items)` returns it. */
export function serializeItems(format: ExportFormat, items: readonly ExportItem[]): string {
  const writer = WRITERS[format];
  return writer.open + objectsText(writer, items, false) + writer.close;
}

/**
 * Objects per encoded chunk. A batch's text in one piece (300–500 KB) would be allocated in
 * V8's large-object space, which only a full collection frees: over a large export that
 * garbage piled up by tens of megabytes. Chunks this size die young, in the cheap scavenges.
 */
export const OBJECTS_PER_CHUNK = 100;

/**
 * The same bytes as `serializeItems` over the concatenated batches, UTF-8 encoded one batch at
 * a time as the consumer asks for them, so memory stays bounded by the batch size however many
 * items there are. Cancelling the stream (e.g. the client disconnects) returns the iterator so
 * the source can release its cursor; so does a failure while writing.
 */
export function exportStream(
  format: ExportFormat,
  batches: AsyncIterable<readonly ExportItem[]>,
  onError?: (error: unknown) => void,
): ReadableStream<Uint8Array> {
  const writer = WRITERS[format];
  const encoder = new TextEncoder();
  let iterator: AsyncIterator<readonly ExportItem[]> | undefined;
  let wroteObject = false;
  let finished = false;

  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let opening = '';
        if (iterator === undefined) {
          iterator = batches[Symbol.asyncIterator]();
          opening = writer.open;
        }
        try {
          // Loop only past empty batches: every pull enqueues a batch or ends the stream.
          for (;;) {
            const step = await iterator.next();
            if (finished) return; // cancelled while waiting for the source
            if (step.done === true) {
              finished = true;
              controller.enqueue(encoder.encode(opening + writer.close));
              controller.close();
              return;
            }
            const batch = step.value;
            for (let start = 0; start < batch.length; start += OBJECTS_PER_CHUNK) {
              const run = batch.slice(start, start + OBJECTS_PER_CHUNK);
              controller.enqueue(encoder.encode(opening + objectsText(writer, run, wroteObject)));
              opening = '';
              wroteObject = true;
            }
            if (batch.length > 0) return;
          }
        } catch (error) {
          onError?.(error);
          if (!finished) {
            finished = true;
            // The original error is what matters; a failing cleanup must not mask it.
            await iterator.return?.().catch(() => undefined);
          }
          throw error;
        }
      },
      async cancel(reason) {
        if (finished) return;
        finished = true;
        await iterator?.return?.(reason);
      },
    },
    // The next batch is asked for once the reader has taken the last chunk, so its query
    // overlaps the socket write and at most one batch is read ahead.
    { highWaterMark: 1 },
  );
}
