/**
 * Reading request bodies within limits. Forms and JSON are capped at 64 KiB: a declared
 * length over the cap is refused before a byte is read, and a body without one is read
 * only up to the cap. Bytes that are not UTF-8, broken percent-encoding and malformed
 * multipart or JSON are the client's mistakes (400), never a 500.
 */
import type { Problem } from './http/problems.ts';

export const BODY_LIMIT_BYTES = 64 * 1024;

export class BodyError extends Error {
  override name = 'BodyError';
  readonly problem: Problem;
  constructor(problem: Problem) {
    super(problem.message);
    this.problem = { title: 'The request could not be read', ...problem };
  }
}

const tooLarge = (limit: number): BodyError =>
  new BodyError({
    status: 413,
    code: 'payload_too_large',
    message:
      limit === BODY_LIMIT_BYTES
        ? `The request body is larger than ${BODY_LIMIT_BYTES / 1024} KiB.`
        : `The file is larger than ${Math.floor(limit / 1024 / 1024)} MB.`,
  });
const badRequest = (message: string): BodyError =>
  new BodyError({ status: 400, code: 'bad_request', message });

/** The media type without parameters, lower-cased (`Text/Plain; charset=x` → `text/plain`). */
function mediaTypeOf(request: Request): string {
  return (request.headers.get('content-type') ?? '').split(';', 1)[0]!.trim().toLowerCase();
}

/** The body's bytes, refusing more than `limit` whether or not a length was declared. */
async function readBodyBytes(
  request: Request,
  limit = BODY_LIMIT_BYTES,
): Promise<Uint8Array<ArrayBuffer>> {
  const declared = request.headers.get('content-length');
  if (declared !== null && Number(declared) > limit) throw tooLarge(limit);
  if (!request.body) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = request.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > limit) throw tooLarge(limit);
      chunks.push(value);
    }
  } catch (error) {
    if (error instanceof BodyError) throw error;
    // The adapter's own cap, or a client that went away mid-body.
    throw tooLarge(limit);
  } finally {
    reader.releaseLock();
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function decodeUtf8(bytes: Uint8Array, what: string): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw badRequest(`The ${what} is not valid UTF-8.`);
  }
}

/** Decodes `application/x-www-form-urlencoded` strictly: bad escapes or UTF-8 are a 400. */
function parseUrlEncoded(text: string): FormValues {
  const fields: FormValues = [];
  if (text === '') return fields;
  for (const pair of text.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const [rawName, rawValue] = eq === -1 ? [pair, ''] : [pair.slice(0, eq), pair.slice(eq + 1)];
    try {
      const name = decodeURIComponent(rawName.replaceAll('+', ' '));
      const value = decodeURIComponent(rawValue.replaceAll('+', ' '));
      fields.push([name, value]);
    } catch {
      throw badRequest('The form data has broken percent-encoding.');
    }
  }
  return fields;
}

/** A form's text fields in the order sent, a repeated name once per value. */
type FormValues = [name: string, value: string][];

/**
 * A form post's text fields: the last value of each (like Django's QueryDict.get: the last
 * value of a repeated field wins), and every value a name was sent with (`getlist`: the
 * checkboxes of a list).
 */
export interface FormBody {
  fields: Record<string, string>;
  all: (name: string) => string[];
}

function formBody(values: FormValues): FormBody {
  // Maps, so that a field named `__proto__` is a field like any other.
  const lists = new Map<string, string[]>();
  for (const [name, value] of values) {
    const list = lists.get(name);
    if (list) list.push(value);
    else lists.set(name, [value]);
  }
  return {
    fields: Object.fromEntries(new Map(values)),
    all: (name) => [...(lists.get(name) ?? [])],
  };
}

/**
 * The text fields of a form post (urlencoded or multipart). Anything else is a 415; files
 * in a multipart form are ignored, so a file where text was expected reads as missing.
 */
export async function readForm(request: Request): Promise<FormBody> {
  const type = mediaTypeOf(request);
  if (type !== 'application/x-www-form-urlencoded' && type !== 'multipart/form-data') {
    // A post with no body at all (a bare button, `curl -X POST`) is an empty form.
    if (type === '' && (await readBodyBytes(request)).byteLength === 0) return formBody([]);
    throw new BodyError({
      status: 415,
      code: 'unsupported_media_type',
      message: 'Send the form as application/x-www-form-urlencoded or multipart/form-data.',
    });
  }
  const bytes = await readBodyBytes(request);
  if (type === 'application/x-www-form-urlencoded') {
    return formBody(parseUrlEncoded(decodeUtf8(bytes, 'form data')));
  }
  return readMultipart(request, bytes);
}

/** A multipart body's text fields (checked to be UTF-8) and its first non-empty file. */
async function readMultipart(
  request: Request,
  bytes: Uint8Array<ArrayBuffer>,
): Promise<FormBody & { file: UploadedFile | undefined }> {
  let form: FormData;
  try {
    form = await new Response(bytes, {
      headers: { 'content-type': request.headers.get('content-type') ?? '' },
    }).formData();
  } catch {
    throw badRequest('The multipart form data is malformed.');
  }
  const fields: FormValues = [];
  let file: UploadedFile | undefined;
  for (const [name, value] of form) {
    if (typeof value !== 'string') {
      if (file === undefined && value.size > 0) {
        file = { name: value.name, bytes: new Uint8Array(await value.arrayBuffer()) };
      }
      continue;
    }
    if (value.includes('\uFFFD') && !isWellFormedUtf8Field(bytes)) {
      throw badRequest('The form data is not valid UTF-8.');
    }
    fields.push([name, value]);
  }
  return { ...formBody(fields), file };
}

/** A file sent in a multipart form. */
export interface UploadedFile {
  name: string;
  bytes: Uint8Array;
}

/**
 * A multipart form that carries a file of up to `fileLimit` bytes (with its text fields, as
 * `readForm` reads them): the body may be that much larger than the usual cap. Any
 * other form is read as usual, without a file.
 */
export async function readUploadForm(
  request: Request,
  fileLimit: number,
): Promise<FormBody & { file: UploadedFile | undefined }> {
  if (mediaTypeOf(request) !== 'multipart/form-data') {
    return { ...(await readForm(request)), file: undefined };
  }
  return readMultipart(request, await readBodyBytes(request, fileLimit + BODY_LIMIT_BYTES));
}

/** Multipart parsing replaces bad bytes with U+FFFD; tell a real U+FFFD from a bad byte. */
function isWellFormedUtf8Field(bytes: Uint8Array): boolean {
  try {
    strictUtf8.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** A JSON request body: the right media type, within the cap, valid UTF-8 and valid JSON. */
export async function readJsonBody(request: Request): Promise<unknown> {
  if (mediaTypeOf(request) !== 'application/json') {
    throw new BodyError({
      status: 415,
      code: 'unsupported_media_type',
      message: 'Send the body as application/json.',
    });
  }
  const text = decodeUtf8(await readBodyBytes(request), 'request body');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw badRequest('The request body is not valid JSON.');
  }
}

/** The last value of each text field of a form post (see `readForm`). */
export async function readFormFields(request: Request): Promise<Record<string, string>> {
  return (await readForm(request)).fields;
}

/** A request body that is a file of this media type (`text/csv`), of up to `limit` bytes. */
export async function readFileBody(
  request: Request,
  mediaType: string,
  limit: number,
): Promise<Uint8Array> {
  if (mediaTypeOf(request) !== mediaType) {
    throw new BodyError({
      status: 415,
      code: 'unsupported_media_type',
      message: `Send the file as ${mediaType}.`,
    });
  }
  return readBodyBytes(request, limit);
}
