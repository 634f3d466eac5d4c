import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIENT_DIR } from '../../scripts/build-if-stale.ts';
import { BODY_LIMIT_BYTES } from '../../src/lib/server/request-body.ts';
import type { Backend } from '../../src/lib/server/db/connect.ts';
import { BACKENDS } from '../helpers/database.ts';
import {
  nextAddress,
  PASSWORD,
  signIn,
  signUp,
  startSite,
  type Site,
  type SiteClient,
} from '../helpers/site.ts';
import {
  createItem,
  EVIL_ORIGIN,
  expectNoInternals,
  expectUnchanged,
  FORM_TYPE,
  isSignedIn,
  SECURITY_HEADERS,
  snapshot,
  wireRequest,
  type WireAnswer,
  type WireRequest,
} from './kit.ts';

/**
 * Issue #13, item 6: nothing a client sends yields a 500. Every route of src/pages, and the
 * static files and unknown paths the Node front answers, is sent every method (TRACE,
 * CONNECT and lower-case ones included) by every kind of caller (anonymous, a session with
 * and without same-origin headers, read and read-write tokens, garbage credentials), then
 * odd headers, odd framings, odd bodies and odd values for every field a route reads, one
 * at a time and (fast-check, fixed seed) in combination, on both backends. Requests are
 * written byte for byte on a socket, so nothing is held back by a client library.
 *
 * Every request must be answered (within 10 s), below 500, with the security headers, and
 * an error body must show no internals. Problems are collected, not thrown, and reported
 * once per distinct cause with a request that reproduces it and the server's log of it.
 *
 * The fuzz signs in as users of its own and changes their data as it likes, through valid
 * requests; a victim user with items and a token, whose ids the fuzz aims at, must keep
 * every item, its token and its session.
 */

const SEED = 13;
/** Requests in random combinations of everything below. */
const RANDOM_RUNS = 1000;
/** Tokens of each scope per fuzz user: requests rotate through them (600 a minute each). */
const TOKENS_PER_SCOPE = 3;

/** A value of a request part, fixed or made from the state (an id, a fresh name). */
type Value = string | ((w: World) => string);
const valueOf = (value: Value, w: World): string =>
  typeof value === 'function' ? value(w) : value;

/** The bytes of `text` in UTF-8, one Latin-1 character per byte (how WireRequest writes). */
const utf8Bytes = (text: string): string => Buffer.from(text, 'utf8').toString('latin1');

// ---------------------------------------------------------------------------------------
// The route table: every route of src/pages and what each reads.

interface Endpoint {
  name: string;
  /** `{id}` stands for an item id. */
  path: string;
  /** What a browser or program sends here to get something done. */
  method: string;
  /** Pages are asked for HTML, like a browser does. */
  page?: boolean;
  query?: Record<string, Value>;
  /** A valid form for `method`, field by field. */
  form?: Record<string, Value>;
  /** A valid JSON object for `method`, field by field, as JSON text. */
  json?: Record<string, Value>;
  /** The fields the odd values are tried on, when not all (each try costs a password hash). */
  fuzzed?: readonly string[];
  /** Values worth trying for a field besides the odd ones every field gets. */
  extra?: Record<string, (w: World) => string[]>;
  /** A POST or DELETE here may sign the fuzz user out or delete its item or tokens. */
  risky?: boolean;
  /** Another entry is the same route (another form of /settings/, another static file). */
  sameRoute?: boolean;
}

const fresh = (prefix: string) => (w: World) => `${prefix}_${w.serial}`;
const own = (w: World) => String(w.fuzzer.itemId);
const theirs = (w: World) => String(w.victim.itemId);
const ownToken = (w: World) => String(w.fuzzer.tokenIds[0] ?? 1);
const theirToken = (w: World) => String(w.victim.tokenIds[0] ?? 1);

const LIST_QUERY = { q: 'item', sort: 'name', page: '1', limit: '10' };
const ITEM_FORM = { name: 'Fuzzed item', amount: '3', description: 'fuzz' };
const ITEM_JSON = { name: '"Fuzzed item"', amount: '3', description: '"fuzz"' };

const ENDPOINTS: readonly Endpoint[] = [
  { name: 'main page', path: '/', method: 'GET', page: true, query: LIST_QUERY },
  // Signed in, the sign-in page sends the browser on to `next`.
  { name: 'sign-in page', path: '/login/', method: 'GET', page: true, query: { next: '/' } },
  {
    name: 'sign-in (wrong password)',
    path: '/login/',
    method: 'POST',
    page: true,
    query: { next: '/settings/' },
    form: { username: fresh('nobody'), password: 'Wrong-Horse-Battery-1' },
    // Any other password is just as wrong, and `next` is tried with the right password.
    fuzzed: ['username'],
    risky: true,
  },
  {
    name: 'sign-in (right password)',
    path: '/login/',
    method: 'POST',
    page: true,
    query: { next: '/settings/' },
    form: { username: (w) => w.signInTargets.get(w.phase) ?? '', password: PASSWORD },
    risky: true,
  },
  {
    name: 'registration',
    path: '/register/',
    method: 'POST',
    page: true,
    query: { next: '/' },
    form: { username: fresh('fuzz_new'), password1: PASSWORD, password2: PASSWORD },
  },
  { name: 'sign-out', path: '/logout/', method: 'POST', page: true, form: {}, risky: true },
  {
    name: 'settings: create token',
    path: '/settings/',
    method: 'POST',
    page: true,
    form: { action: 'create-token', name: 'fuzz', scope: 'read', expires_in_days: '7' },
    risky: true,
  },
  {
    name: 'settings: revoke token',
    path: '/settings/',
    method: 'POST',
    page: true,
    form: { action: 'revoke-token', token_id: '1234567' },
    extra: {
      token_id: (w) => [ownToken(w), theirToken(w), '1e15', '-2147483649', '4294967296'],
    },
    risky: true,
    sameRoute: true,
  },
  {
    name: 'settings: change password',
    path: '/settings/',
    method: 'POST',
    page: true,
    // No old password (a password check costs a hash): refused, and never changed.
    form: {
      action: 'change-password',
      old_password: '',
      new_password1: 'Another-Horse-Battery-8',
      new_password2: 'Mismatch-Horse-Battery-7',
    },
    extra: { old_password: () => [PASSWORD] },
    risky: true,
    sameRoute: true,
  },
  {
    name: 'settings: delete account',
    path: '/settings/',
    method: 'POST',
    page: true,
    // No password (a password check costs a hash): refused, and never deleted.
    form: { action: 'delete-account', confirmation: 'not-my-name', password: '' },
    extra: {
      confirmation: (w) => [w.fuzzer.username, w.victim.username],
      password: () => [PASSWORD],
    },
    risky: true,
    sameRoute: true,
  },
  {
    name: 'settings: sign out everywhere',
    path: '/settings/',
    method: 'POST',
    page: true,
    form: { action: 'sign-out-everywhere' },
    extra: { action: () => ['', 'frobnicate', 'CREATE-TOKEN', 'revoke-token '] },
    risky: true,
  },
  {
    name: 'add item',
    path: '/create-item',
    method: 'POST',
    page: true,
    query: { return_to: '/?page=1' },
    form: { ...ITEM_FORM, idempotency_key: fresh('form-key') },
  },
  {
    name: 'edit item',
    path: '/items/{id}/edit',
    method: 'POST',
    page: true,
    query: { return_to: '/' },
    form: ITEM_FORM,
  },
  {
    name: 'delete item',
    path: '/items/{id}/delete',
    method: 'POST',
    page: true,
    query: { return_to: '/' },
    form: {},
    risky: true,
  },
  {
    name: 'adjust item (form)',
    path: '/items/{id}/adjust',
    method: 'POST',
    page: true,
    query: { return_to: '/' },
    form: { delta: '1' },
  },
  {
    name: 'API: items',
    path: '/api/items',
    method: 'POST',
    query: LIST_QUERY,
    json: ITEM_JSON,
  },
  {
    name: 'API: item',
    path: '/api/items/{id}',
    method: 'PATCH',
    json: ITEM_JSON,
    risky: true,
  },
  { name: 'API: adjust', path: '/api/items/{id}/adjust', method: 'POST', json: { delta: '1' } },
  // `{id}` is an inventory's id here: the item ids the fuzz tries name no inventory of the
  // fuzz user's, or another's, or none; all must be answered as missing, never half-done.
  {
    name: 'new inventory',
    path: '/inventories/',
    method: 'POST',
    page: true,
    form: { name: fresh('Fuzzed inventory') },
  },
  {
    name: 'inventory page',
    path: '/inventories/{id}/',
    method: 'GET',
    page: true,
    query: LIST_QUERY,
  },
  {
    name: 'members',
    path: '/inventories/{id}/members',
    method: 'POST',
    page: true,
    // Not the victim: an owner may add anyone, which rightly puts the owner's items in the
    // victim's export, and the fuzz checks that export for changes.
    form: { action: 'set-role', username: fresh('member'), role: 'viewer' },
    extra: { action: () => ['create-invite', 'revoke-invite', 'remove', '', 'SET-ROLE'] },
    risky: true,
  },
  {
    name: 'inventory settings',
    path: '/inventories/{id}/settings',
    method: 'POST',
    page: true,
    form: { action: 'rename', name: 'Renamed', confirmation: '' },
    extra: { action: () => ['delete', '', 'rename '] },
    risky: true,
  },
  { name: 'join by invite', path: '/invite/{id}', method: 'POST', page: true, form: {} },
  {
    name: 'API: inventories',
    path: '/api/inventories',
    method: 'POST',
    json: { name: '"Fuzzed"' },
  },
  {
    name: 'API: inventory',
    path: '/api/inventories/{id}',
    method: 'PATCH',
    json: { name: '"Renamed"' },
    risky: true,
  },
  { name: 'API: members', path: '/api/inventories/{id}/members', method: 'GET' },
  {
    name: 'API: member',
    path: '/api/inventories/{id}/members/nobody_here',
    method: 'PUT',
    json: { role: '"viewer"' },
    risky: true,
  },
  {
    name: 'API: item (place fields)',
    path: '/api/items/{id}',
    method: 'PATCH',
    json: { location_id: 'null', tags: '["fuzz", "Fuzz"]', min_amount: '2' },
    extra: {
      location_id: (w) => [own(w), theirs(w), '0', '"1"'],
      tags: () => ['[]', '"red"', `[${Array.from({ length: 21 }, (_, i) => `"t${i}"`)}]`],
      min_amount: () => ['-1', '1.5', '"3"'],
    },
    risky: true,
    sameRoute: true,
  },
  {
    name: 'API: items (filters)',
    path: '/api/items',
    method: 'GET',
    query: { location: '1', tag: 'fuzz', low: 'true', sort: 'amount', page: '1', limit: '5' },
    sameRoute: true,
  },
  // `{id}` is an inventory's id, or a location's: as above, an item id names none of the
  // fuzz user's, or another's, or none.
  {
    name: 'API: locations',
    path: '/api/inventories/{id}/locations',
    method: 'POST',
    json: { name: '"Fuzzed shelf"', parent_id: 'null' },
    extra: { parent_id: (w) => [own(w), theirs(w), '0'] },
  },
  { name: 'API: tags', path: '/api/inventories/{id}/tags', method: 'GET' },
  {
    name: 'API: location',
    path: '/api/locations/{id}',
    method: 'PATCH',
    json: { name: '"Renamed shelf"', parent_id: 'null' },
    extra: { parent_id: (w) => [own(w), theirs(w), '0'] },
    risky: true,
  },
  {
    name: 'API: delete location',
    path: '/api/locations/{id}',
    method: 'DELETE',
    query: { move_to: 'none' },
    extra: { move_to: (w) => [own(w), theirs(w), '0', 'NONE', ''] },
    risky: true,
    sameRoute: true,
  },
  // `{id}` is an item's id, a change's (undo) or an inventory's (activity, trash): as above,
  // an item id names none of the fuzz user's, or another's, or none.
  {
    name: 'API: item history',
    path: '/api/items/{id}/history',
    method: 'GET',
    query: { before: '100', limit: '10' },
  },
  { name: 'API: restore', path: '/api/items/{id}/restore', method: 'POST' },
  // Undoing the fuzz user's own add puts its item in the trash.
  { name: 'API: undo', path: '/api/changes/{id}/undo', method: 'POST', risky: true },
  {
    name: 'API: activity',
    path: '/api/inventories/{id}/activity',
    method: 'GET',
    query: { before: '100', member: '1', item: '1', limit: '10' },
  },
  { name: 'API: trash', path: '/api/inventories/{id}/trash', method: 'GET', query: { page: '1' } },
  {
    name: 'activity page',
    path: '/inventories/{id}/activity',
    method: 'GET',
    page: true,
    query: { before: '100', member: '1', item: '1', limit: '10' },
  },
  {
    name: 'trash page',
    path: '/inventories/{id}/trash',
    method: 'POST',
    page: true,
    form: { action: 'restore', item: '1' },
    extra: { action: () => ['empty', '', 'RESTORE'], item: (w) => [own(w), theirs(w), '0'] },
    risky: true,
  },
  // The import page's forms (an upload without a file, a confirmation of no preview) and the
  // API's import: a body that is not text/csv is refused before anything is read.
  {
    name: 'import page',
    path: '/inventories/{id}/import',
    method: 'POST',
    page: true,
    form: { action: 'apply', preview: 'nonsense', digest: 'x' },
    extra: { action: () => ['upload', 'discard', ''] },
  },
  {
    name: 'import preview',
    path: '/inventories/{id}/import',
    method: 'GET',
    page: true,
    query: { preview: 'nonsense' },
    sameRoute: true,
  },
  {
    name: 'API: import',
    path: '/api/inventories/{id}/imports',
    method: 'POST',
    query: { dry_run: 'true' },
    extra: { dry_run: () => ['false', 'TRUE', ''] },
  },
  {
    name: 'undo (form)',
    path: '/changes/{id}/undo',
    method: 'POST',
    page: true,
    form: { return_to: '/' },
    risky: true,
  },
  // Bulk changes: ids are a list here, with the caller's own item, another user's, both.
  {
    name: 'API: bulk',
    path: '/api/items/bulk',
    method: 'POST',
    json: { ids: (w) => `[${own(w)}]`, action: '"set_min"', min_amount: '2' },
    extra: {
      ids: (w) => [
        `[${theirs(w)}]`,
        `[${own(w)}, ${theirs(w)}]`,
        '[]',
        `[${Array.from({ length: 5001 }, (_, i) => i + 1).join(',')}]`,
      ],
      action: () => ['"delete"', '"move"', '"tag"', '"untag"', '"DELETE"'],
      min_amount: () => ['null', '-1', '"3"'],
    },
    risky: true,
  },
  {
    name: 'bulk (form)',
    path: '/inventories/{id}/bulk',
    method: 'POST',
    page: true,
    query: { return_to: '/' },
    form: { ids: own, action: 'set_min', min_amount: '2', all: '', query: 'q=item' },
    extra: {
      ids: (w) => [theirs(w), '0', '1e3'],
      action: () => ['delete', 'move', 'tag', 'untag', ''],
      all: () => ['1'],
      query: () => ['tag=a&tag=b&low=true', 'location=abc', '%ff'],
    },
    risky: true,
  },
  { name: 'item page', path: '/items/{id}/', method: 'GET', page: true },
  { name: 'locations page', path: '/inventories/{id}/locations', method: 'GET', page: true },
  { name: 'location page', path: '/locations/{id}/', method: 'GET', page: true },
  { name: 'tags page', path: '/inventories/{id}/tags', method: 'GET', page: true },
  { name: 'API: description', path: '/api/openapi.json', method: 'GET' },
  { name: 'JSON export', path: '/json/', method: 'GET' },
  { name: 'XML export', path: '/xml/', method: 'GET' },
  { name: 'JSON export of one', path: '/json/{id}/', method: 'GET' },
  { name: 'XML export of one', path: '/xml/{id}/', method: 'GET' },
  { name: 'health check', path: '/healthz', method: 'GET' },
  { name: 'stylesheet', path: '/site.css', method: 'GET' },
  { name: 'icon', path: '/favicon.svg', method: 'GET', sameRoute: true },
  { name: 'built script', path: '{asset}', method: 'GET', sameRoute: true },
  { name: 'unknown page', path: '/no-such-page', method: 'GET', page: true },
  { name: 'unknown API path', path: '/api/nothing', method: 'GET' },
  { name: '404 page', path: '/404', method: 'GET', page: true },
  { name: '500 page', path: '/500', method: 'GET', page: true },
  { name: 'Astro actions', path: '/_actions/anything', method: 'POST', json: { a: '1' } },
  {
    name: 'server islands',
    path: '/_server-islands/Anything',
    method: 'GET',
    query: { e: 'default', p: 'garbage', s: '{}' },
  },
  {
    name: 'image service',
    path: '/_image',
    method: 'GET',
    query: { href: '/favicon.svg', w: '16' },
    extra: { href: (w) => ['/site.css', w.asset, '/no-such.png', '//evil.example/x.png'] },
  },
  {
    name: 'image service (format)',
    path: '/_image',
    method: 'GET',
    query: { href: '/favicon.svg', f: 'svg', q: '80' },
    extra: { f: () => ['png', 'webp', 'avif', 'jpeg', 'gif'] },
    sameRoute: true,
  },
];

const hasBody = (e: Endpoint) => e.form !== undefined || e.json !== undefined;

/** Item ids: the caller's, another user's, and everything that is not one. */
const IDS: ReadonlyArray<{ label: string; value: Value }> = [
  { label: 'own item', value: own },
  { label: "another user's item", value: theirs },
  { label: '0', value: '0' },
  { label: '-1', value: '-1' },
  { label: '99999999999', value: '99999999999' },
  { label: '2147483648', value: '2147483648' },
  { label: '2147483647', value: '2147483647' },
  { label: '1e3', value: '1e3' },
  { label: '0x10', value: '0x10' },
  { label: 'leading zeros', value: (w) => `000${own(w)}` },
  { label: '%00', value: '%00' },
  { label: '%2F', value: '%2F' },
  { label: '300 characters', value: 'x'.repeat(300) },
  { label: 'unicode (escaped)', value: encodeURIComponent('日本') },
  { label: 'unicode (raw UTF-8)', value: utf8Bytes('日本') },
  { label: 'dot-dot', value: '..' },
  { label: 'empty', value: '' },
];

// ---------------------------------------------------------------------------------------
// Callers.

type Header = [string, string];

interface Caller {
  name: string;
  headers(w: World, unsafe: boolean): Header[];
}

const rotate = <T>(list: readonly T[], w: World): T => list[w.serial % list.length]!;
const cookieOf = (w: World) => w.fuzzer.client.cookie ?? 'sessionid=';

const CALLERS: readonly Caller[] = [
  // A browser without a session sends Origin with every form it posts; a program need not.
  { name: 'anonymous', headers: (w, unsafe) => (unsafe ? [origin(w)] : []) },
  { name: 'anonymous (no Origin)', headers: () => [] },
  {
    name: 'session (same origin)',
    headers: (w, unsafe) => [['Cookie', cookieOf(w)], ...(unsafe ? [origin(w)] : [])],
  },
  { name: 'session (no Origin)', headers: (w) => [['Cookie', cookieOf(w)]] },
  {
    name: 'session (Sec-Fetch-Site)',
    headers: (w) => [
      ['Cookie', cookieOf(w)],
      ['Sec-Fetch-Site', 'same-origin'],
    ],
  },
  {
    name: 'read token',
    headers: (w) => [['Authorization', `Bearer ${rotate(w.fuzzer.readTokens, w)}`]],
  },
  {
    name: 'read-write token',
    headers: (w) => [['Authorization', `Bearer ${rotate(w.fuzzer.writeTokens, w)}`]],
  },
  {
    name: 'session and token',
    headers: (w) => [
      ['Cookie', cookieOf(w)],
      origin(w),
      ['Authorization', `Bearer ${rotate(w.fuzzer.writeTokens, w)}`],
    ],
  },
  { name: 'garbage bearer', headers: () => [['Authorization', 'Bearer not/a*token!']] },
  {
    name: 'unknown token',
    headers: () => [['Authorization', `Bearer pi_${randomBytes(32).toString('base64url')}`]],
  },
  {
    name: 'stale session',
    headers: () => [['Cookie', `sessionid=${randomBytes(25).toString('base64url')}`]],
  },
  {
    name: 'garbage session cookie',
    headers: () => [['Cookie', 'sessionid=%ff%00x; last_login=yesterday; notice=__proto__']],
  },
];

const callerNamed = (name: string) => CALLERS.find((caller) => caller.name === name)!;
const origin = (w: World): Header => ['Origin', w.site.url];

const METHODS = [
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'PATCH',
  'DELETE',
  'OPTIONS',
  'TRACE',
  'TRACK',
  'CONNECT',
  'PROPFIND',
  'get',
] as const;
/** Methods that carry a body here. */
const WITH_BODY = new Set(['POST', 'PUT', 'PATCH', 'DELETE', 'PROPFIND']);

// ---------------------------------------------------------------------------------------
// Odd headers, request lines and framings: each variant changes a request before it is
// framed and sent.

interface Draft {
  method: string;
  target: string;
  version: string;
  headers: Header[];
  body: Buffer | undefined;
  /** `length`: a Content-Length is added; `chunked`: the body is sent in chunks; `none`: as is. */
  framing: 'length' | 'chunked' | 'none';
  halfClose: boolean;
  leaveAfterMs?: number;
}

const named = (name: string) => (header: Header) => header[0].toLowerCase() === name.toLowerCase();

function setHeader(draft: Draft, name: string, value: string): void {
  draft.headers = draft.headers.filter((header) => !named(name)(header));
  draft.headers.push([name, value]);
}
function dropHeader(draft: Draft, name: string): void {
  draft.headers = draft.headers.filter((header) => !named(name)(header));
}
const getHeader = (draft: Draft, name: string) => draft.headers.find(named(name))?.[1];
/** Adds to the Cookie header the caller sent, or sends one. */
function addCookie(draft: Draft, cookie: string): void {
  const existing = getHeader(draft, 'Cookie');
  setHeader(draft, 'Cookie', existing ? `${existing}; ${cookie}` : cookie);
}
const withQuery = (target: string, query: string) =>
  `${target}${target.includes('?') ? '&' : '?'}${query}`;

interface Variant {
  label: string;
  /**
   * Where the header matrix tries it: `body` on requests that change something (they carry a
   * body, the same-origin guard reads their Origin, the forms their address); `read` on GET
   * (ranges and conditions, for static files and exports); `any` everywhere.
   */
  scope: 'any' | 'body' | 'read';
  apply(draft: Draft, w: World): void;
}

/** A variant that sets one header (replacing the one the request had). */
const header = (
  label: string,
  name: string,
  value: Value,
  scope: Variant['scope'] = 'any',
): Variant => ({ label, scope, apply: (draft, w) => setHeader(draft, name, valueOf(value, w)) });
const variant = (label: string, apply: Variant['apply'], scope: Variant['scope'] = 'any') => ({
  label,
  scope,
  apply,
});

/** 2,700 characters that do not compress (an index row this long must be stored as it is). */
const LONG_ADDRESS = randomish(1350).toString('hex');

const HEADER_VARIANTS: readonly Variant[] = [
  // Host
  header('Host with credentials', 'Host', (w) => `a@${w.host}`),
  header('empty Host', 'Host', ''),
  variant('no Host', (d) => dropHeader(d, 'Host')),
  header('Host with a path', 'Host', (w) => `${w.host}/x`),
  header('Host of 4,000 characters', 'Host', 'a'.repeat(4000)),
  header('Host in UTF-8', 'Host', utf8Bytes('日本.example')),
  header('Host with a Latin-1 byte', 'Host', '\xff'),
  header('IPv6 Host', 'Host', (w) => `[::1]:${w.host.split(':')[1]}`),
  header('Host with an unclosed bracket', 'Host', '[::1'),
  header('Host with a port out of range', 'Host', '127.0.0.1:99999'),
  header('foreign Host', 'Host', 'evil.example'),
  header('Host with a space', 'Host', 'a b'),
  variant('two Host headers', (d) => d.headers.push(['Host', 'evil.example'])),
  // The request line
  variant('absolute-form target', (d, w) => (d.target = `http://${w.host}${d.target}`)),
  variant('absolute-form target of another host', (d) => {
    d.target = `http://evil.example${d.target}`;
  }),
  variant('absolute-form target with credentials', (d, w) => {
    d.target = `http://a@${w.host}${d.target}`;
  }),
  variant('asterisk target', (d) => (d.target = '*')),
  variant('target without its slash', (d) => (d.target = d.target.slice(1) || 'x')),
  variant('double-slash target', (d) => (d.target = `/${d.target}`)),
  variant('backslash target', (d) => (d.target = `/\\${d.target.slice(1)}`)),
  variant('dot segments', (d) => (d.target = `/x/..${d.target}`)),
  variant('escaped dot segments', (d) => (d.target = `/%2e%2e${d.target}`)),
  variant('fragment in the target', (d) => (d.target = `${d.target}#fragment`)),
  variant(
    'query of 8,000 characters',
    (d) => (d.target = withQuery(d.target, `x=${'a'.repeat(8000)}`)),
  ),
  variant(
    'raw UTF-8 in the query',
    (d) => (d.target = withQuery(d.target, `q=${utf8Bytes('日本')}`)),
  ),
  variant('raw UTF-8 in the path', (d) => (d.target = `${d.target}${utf8Bytes('日本')}`)),
  variant('escaped NUL in the query', (d) => (d.target = withQuery(d.target, 'q=%00&next=%00'))),
  variant('broken escape in the query', (d) => (d.target = withQuery(d.target, 'q=%E0%A4'))),
  variant('undecodable escape in the query', (d) => (d.target = withQuery(d.target, 'q=%zz'))),
  variant('repeated query parameters', (d) => {
    d.target = withQuery(d.target, 'q=a&q=b&limit=1&limit=500&page=0&page=2');
  }),
  variant('HTTP/1.0', (d) => (d.version = 'HTTP/1.0')),
  variant('HTTP/1.0 without Host', (d) => {
    d.version = 'HTTP/1.0';
    dropHeader(d, 'Host');
  }),
  variant('HTTP/2.0 on the request line', (d) => (d.version = 'HTTP/2.0')),
  // Accept
  header('Accept: text/html', 'Accept', 'text/html'),
  header('Accept: application/json', 'Accept', 'application/json'),
  header('Accept: application/xml', 'Accept', 'application/xml'),
  header('Accept: */*', 'Accept', '*/*'),
  header('garbage Accept', 'Accept', 'text/html;q=0, application/json;q=garbage, ;;;'),
  header('empty Accept', 'Accept', ''),
  header('Accept: JSON before HTML', 'Accept', 'application/json, text/html'),
  header('Accept of 5,000 characters', 'Accept', `text/html, ${'x/y, '.repeat(1000)}`),
  header('Accept with Latin-1 bytes', 'Accept', '\xff\xfe'),
  header('garbage Accept-Language', 'Accept-Language', '*;q=2, en-US-x-verylongsubtag, ;;;'),
  header('garbage Accept-Encoding', 'Accept-Encoding', 'gzip;q=garbage, br;q=-1'),
  // Origin and Sec-Fetch-Site (what the same-origin guard of state changes reads)
  header('Origin: null', 'Origin', 'null', 'body'),
  header('foreign Origin', 'Origin', EVIL_ORIGIN, 'body'),
  header('our Origin', 'Origin', (w) => w.site.url, 'body'),
  header('our Origin with a slash', 'Origin', (w) => `${w.site.url}/`, 'body'),
  header('our host over https as Origin', 'Origin', (w) => `https://${w.host}`, 'body'),
  header('empty Origin', 'Origin', '', 'body'),
  header('Origin with credentials', 'Origin', (w) => `http://a@${w.host}`, 'body'),
  header('Origin with a Latin-1 byte', 'Origin', '\xff', 'body'),
  variant('no Origin', (d) => dropHeader(d, 'Origin'), 'body'),
  variant(
    'two Origin headers',
    (d, w) => d.headers.push(['Origin', w.site.url], ['Origin', EVIL_ORIGIN]),
    'body',
  ),
  ...['same-origin', 'cross-site', 'same-site', 'none', 'garbage\xff'].map((site) =>
    variant(
      `Sec-Fetch-Site: ${site} without Origin`,
      (d) => {
        dropHeader(d, 'Origin');
        setHeader(d, 'Sec-Fetch-Site', site);
      },
      'body',
    ),
  ),
  // Cookies
  ...(
    [
      ['cookie with Latin-1 bytes', 'x=\xff\xfe'],
      ['sessionid with a broken escape', 'sessionid=%'],
      ['sessionid of %ff', 'sessionid=%ff'],
      ['quoted sessionid', 'sessionid="abc"'],
      ['200 cookies', Array.from({ length: 200 }, (_, i) => `c${i}=v`).join('; ')],
      ['empty cookie pieces', ';;; ;=; ='],
      ['cookie without a value', 'sessionid'],
      ['sessionid of 6,000 characters', `sessionid=${'a'.repeat(6000)}`],
      ['last_login that is no date', 'last_login=yesterday'],
      ['last_login out of range', 'last_login=275760-09-13T00:00:00.001Z'],
      ['last_login of 20 digits', 'last_login=99999999999999999999'],
      ['last_login at the end of time', 'last_login=%2B275760-09-13T00:00:00.000Z'],
      ['last_login at the start of time', 'last_login=-271821-04-20T00:00:00.000Z'],
      ['notice __proto__', 'notice=__proto__'],
      ['notice constructor', 'notice=constructor'],
      ['new_token with markup', 'new_token=%3Cscript%3Ealert(1)%3C%2Fscript%3E'],
      ['new_token of 3,000 characters', `new_token=${'x'.repeat(3000)}`],
    ] as const
  ).map(([label, cookie]) => variant(label, (d) => addCookie(d, cookie))),
  variant('a garbage sessionid before the real one', (d) => {
    const existing = getHeader(d, 'Cookie');
    setHeader(d, 'Cookie', `sessionid=${'b'.repeat(40)}${existing ? `; ${existing}` : ''}`);
  }),
  variant('two Cookie headers', (d) => d.headers.push(['Cookie', 'a=b'])),
  // Forwarded headers (the server trusts them: TRUST_PROXY); the address counts for form posts
  ...(
    [
      ['X-Forwarded-For of 2,700 characters', LONG_ADDRESS],
      ['X-Forwarded-For with a last entry of 2,700 characters', `198.51.100.7, ${LONG_ADDRESS}`],
      ['X-Forwarded-For with a first entry of 2,700 characters', `${LONG_ADDRESS}, 198.51.100.8`],
      ['X-Forwarded-For of 500 entries', Array(500).fill('198.51.100.1').join(', ')],
      ['X-Forwarded-For that is no address', 'not an address'],
      ['X-Forwarded-For with Latin-1 bytes', '\xff\xfe'],
      ['X-Forwarded-For IPv6', '2001:db8::1'],
      ['X-Forwarded-For IPv6 with a port', '[2001:db8::1]:443'],
      ['X-Forwarded-For IPv4-mapped', '::ffff:198.51.100.9'],
      ['X-Forwarded-For of commas', ', ,'],
      ['empty X-Forwarded-For', ''],
      ['X-Forwarded-For with a port', '198.51.100.9:8080'],
      ['X-Forwarded-For with an escape', '%00'],
    ] as const
  ).map(([label, value]) => header(label, 'X-Forwarded-For', value, 'body')),
  variant(
    'two X-Forwarded-For headers',
    (d) => d.headers.push(['X-Forwarded-For', '203.0.113.1']),
    'body',
  ),
  header('X-Forwarded-Proto: https', 'X-Forwarded-Proto', 'https'),
  header('X-Forwarded-Proto: HTTPS', 'X-Forwarded-Proto', 'HTTPS'),
  header('X-Forwarded-Proto: gopher', 'X-Forwarded-Proto', 'gopher'),
  header('X-Forwarded-Proto: https, http', 'X-Forwarded-Proto', 'https, http'),
  header('empty X-Forwarded-Proto', 'X-Forwarded-Proto', ''),
  variant('X-Forwarded-Proto https and an https Origin', (d, w) => {
    setHeader(d, 'X-Forwarded-Proto', 'https');
    setHeader(d, 'Origin', `https://${w.host}`);
  }),
  header('X-Forwarded-Host', 'X-Forwarded-Host', 'evil.example'),
  header('Forwarded', 'Forwarded', 'for=evil;proto=https;host=evil.example'),
  // Idempotency keys
  ...(
    [
      ['empty Idempotency-Key', ''],
      ['Idempotency-Key of spaces', '   '],
      ['Idempotency-Key of 100 characters', 'k'.repeat(100)],
      ['Idempotency-Key of 101 characters', 'k'.repeat(101)],
      ['Idempotency-Key with Latin-1 bytes', '\xff\xfe'],
      ['Idempotency-Key in UTF-8', utf8Bytes('日本')],
      ['the same Idempotency-Key again and again', 'fuzz-fixed-key'],
    ] as const
  ).map(([label, value]) => header(label, 'Idempotency-Key', value, 'body')),
  // Authorization
  ...(
    [
      ['Authorization: Bearer', 'Bearer'],
      ['Authorization: Bearer and a space', 'Bearer '],
      ['bearer token of 6,000 characters', `Bearer ${'x'.repeat(6000)}`],
      ['Basic authorization', 'Basic Zm9vOmJhcg=='],
      ['bearer token with a space', 'Bearer a b'],
      ['bearer token with a Latin-1 byte', 'Bearer \xff'],
      ['empty Authorization', ''],
      ['Negotiate authorization', 'Negotiate'],
    ] as const
  ).map(([label, value]) => header(label, 'Authorization', value)),
  header(
    'lower-case bearer scheme',
    'Authorization',
    (w) => `bearer ${rotate(w.fuzzer.writeTokens, w)}`,
  ),
  header(
    'bearer token with two spaces and a comma',
    'Authorization',
    (w) => `Bearer  ${rotate(w.fuzzer.writeTokens, w)},`,
  ),
  variant('two Authorization headers', (d, w) => {
    d.headers.push(['Authorization', `Bearer ${rotate(w.fuzzer.readTokens, w)}`]);
    d.headers.push(['Authorization', 'Bearer garbage']);
  }),
  // Conditional requests and ranges
  header('If-Match: *', 'If-Match', '*'),
  header('garbage If-Match', 'If-Match', '"x\xff'),
  header('If-None-Match: *', 'If-None-Match', '*'),
  header('odd If-None-Match', 'If-None-Match', 'W/"x", "y", garbage'),
  header('garbage If-Modified-Since', 'If-Modified-Since', 'garbage'),
  header('If-Modified-Since in the future', 'If-Modified-Since', 'Fri, 01 Jan 2100 00:00:00 GMT'),
  header('If-Unmodified-Since 1970', 'If-Unmodified-Since', 'Thu, 01 Jan 1970 00:00:00 GMT'),
  variant(
    'garbage If-Range',
    (d) => {
      setHeader(d, 'If-Range', 'garbage');
      setHeader(d, 'Range', 'bytes=0-1');
    },
    'read',
  ),
  ...(
    [
      'bytes=0-0',
      'bytes=abc',
      'bytes=99999999999999999999-',
      `bytes=${'0-0,'.repeat(500)}0-0`,
      'bytes=-0',
      'bytes=5-1',
      'items=0-1',
    ] as const
  ).map((range) => header(`Range: ${range.slice(0, 30)}`, 'Range', range, 'read')),
  // Everything else
  header('Expect: 100-continue', 'Expect', '100-continue'),
  header('garbage Expect', 'Expect', 'garbage'),
  variant('Upgrade: websocket', (d) => {
    setHeader(d, 'Connection', 'Upgrade');
    setHeader(d, 'Upgrade', 'websocket');
    setHeader(d, 'Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ==');
    setHeader(d, 'Sec-WebSocket-Version', '13');
  }),
  variant('Upgrade: h2c', (d) => {
    setHeader(d, 'Connection', 'Upgrade, HTTP2-Settings');
    setHeader(d, 'Upgrade', 'h2c');
    setHeader(d, 'HTTP2-Settings', 'AAMAAABkAAQCAAAAAAIAAAAA');
  }),
  header('Connection: keep-alive', 'Connection', 'keep-alive'),
  header('X-HTTP-Method-Override', 'X-HTTP-Method-Override', 'DELETE'),
  header('garbage X-Request-Id', 'X-Request-Id', '\xff'.repeat(100)),
  header('Max-Forwards: 0', 'Max-Forwards', '0'),
  header('odd TE', 'TE', 'trailers, deflate;q=garbage'),
  variant('100 more headers', (d) => {
    for (let i = 0; i < 100; i += 1) d.headers.push([`X-Extra-${i}`, `value ${i}`]);
  }),
  header('a header of 15,000 characters', 'X-Large', 'x'.repeat(15_000)),
  header('a header of 20,000 characters', 'X-Larger', 'x'.repeat(20_000)),
  header('a header name with a Latin-1 byte', 'X-Caf\xe9', 'x'),
  header('a header value with a NUL', 'X-Nul', 'a\0b'),
  variant('an obs-fold continuation line', (d) => d.headers.push(['X-Folded', 'a\r\n b'])),
  variant('a header line without a colon', (d) => d.headers.push(['X-No-Colon\r\nBroken', 'x'])),
  header('a space before the colon', 'X-Space ', 'x'),
  // Content types (requests with a body)
  variant('no Content-Type', (d) => dropHeader(d, 'Content-Type'), 'body'),
  header('Content-Type: text/plain', 'Content-Type', 'text/plain', 'body'),
  header('form type, unknown charset', 'Content-Type', `${FORM_TYPE}; charset=nope`, 'body'),
  header('form type, charset=utf-16', 'Content-Type', `${FORM_TYPE}; charset=utf-16`, 'body'),
  header('JSON type, broken parameter', 'Content-Type', 'application/json; charset="', 'body'),
  header('multipart without a boundary', 'Content-Type', 'multipart/form-data', 'body'),
  header('multipart, empty boundary', 'Content-Type', 'multipart/form-data; boundary=', 'body'),
  header(
    'multipart, boundary of 200 characters',
    'Content-Type',
    `multipart/form-data; boundary=${'b'.repeat(200)}`,
    'body',
  ),
  header('Content-Type: ;', 'Content-Type', ';', 'body'),
  header('Content-Type: a Latin-1 byte', 'Content-Type', '\xff', 'body'),
  variant(
    'the other body type',
    (d) => {
      const json = getHeader(d, 'Content-Type') === 'application/json';
      setHeader(d, 'Content-Type', json ? FORM_TYPE : 'application/json');
    },
    'body',
  ),
  variant(
    'upper-case Content-Type',
    (d) => setHeader(d, 'Content-Type', (getHeader(d, 'Content-Type') ?? '').toUpperCase()),
    'body',
  ),
  variant(
    'two Content-Type headers',
    (d) => d.headers.push(['Content-Type', 'text/plain']),
    'body',
  ),
  header('Content-Encoding: gzip, not gzipped', 'Content-Encoding', 'gzip', 'body'),
  // Framing
  variant(
    'Content-Length shorter than the body',
    (d) => {
      d.framing = 'none';
      setHeader(d, 'Content-Length', String(Math.max(0, (d.body?.length ?? 0) - 3)));
    },
    'body',
  ),
  variant(
    'Content-Length longer than the body, then the input ends',
    (d) => {
      d.framing = 'none';
      setHeader(d, 'Content-Length', String((d.body?.length ?? 0) + 10));
      d.halfClose = true;
    },
    'body',
  ),
  variant(
    'Content-Length 0 and a body',
    (d) => {
      d.framing = 'none';
      setHeader(d, 'Content-Length', '0');
    },
    'body',
  ),
  ...(['abc', '-1', '99999999999999999999', '1e3', ' 5 '] as const).map((length) =>
    variant(
      `Content-Length: ${JSON.stringify(length)}`,
      (d) => {
        d.framing = 'none';
        setHeader(d, 'Content-Length', length);
        d.halfClose = true;
      },
      'body',
    ),
  ),
  variant(
    'two different Content-Lengths',
    (d) => {
      d.framing = 'none';
      const length = d.body?.length ?? 0;
      d.headers.push(['Content-Length', String(length)], ['Content-Length', String(length + 1)]);
    },
    'body',
  ),
  variant('chunked', (d) => (d.framing = 'chunked'), 'body'),
  variant(
    'chunked with extensions and a trailer',
    (d) => {
      d.framing = 'none';
      setHeader(d, 'Transfer-Encoding', 'chunked');
      const body = d.body ?? Buffer.alloc(0);
      d.body = Buffer.concat([
        Buffer.from(`${body.length.toString(16)};ext="a b";x\r\n`),
        body,
        Buffer.from('\r\n0\r\nX-Trailer: t\r\n\r\n'),
      ]);
    },
    'body',
  ),
  variant(
    'chunked with a size that is no number',
    (d) => {
      d.framing = 'none';
      setHeader(d, 'Transfer-Encoding', 'chunked');
      d.body = Buffer.from('zz\r\nabc\r\n0\r\n\r\n');
      d.halfClose = true;
    },
    'body',
  ),
  variant(
    'chunked with a size of 16 hex digits',
    (d) => {
      d.framing = 'none';
      setHeader(d, 'Transfer-Encoding', 'chunked');
      d.body = Buffer.from('ffffffffffffffff\r\nabc');
      d.halfClose = true;
    },
    'body',
  ),
  variant(
    'chunked, ending mid-chunk',
    (d) => {
      d.framing = 'none';
      setHeader(d, 'Transfer-Encoding', 'chunked');
      d.body = Buffer.from('100\r\nname=a');
      d.halfClose = true;
    },
    'body',
  ),
  variant(
    'chunked and a Content-Length',
    (d) => {
      d.framing = 'chunked';
      setHeader(d, 'Content-Length', String(d.body?.length ?? 0));
    },
    'body',
  ),
  variant(
    'Transfer-Encoding: gzip, chunked',
    (d) => {
      d.framing = 'chunked';
      setHeader(d, 'Transfer-Encoding', 'gzip, chunked');
    },
    'body',
  ),
  variant(
    'Transfer-Encoding: identity',
    (d) => {
      d.framing = 'none';
      setHeader(d, 'Transfer-Encoding', 'identity');
      d.halfClose = true;
    },
    'body',
  ),
  variant('no framing headers at all', (d) => (d.framing = 'none'), 'body'),
  variant(
    'two Transfer-Encoding headers',
    (d) => {
      d.framing = 'chunked';
      d.headers.push(['Transfer-Encoding', 'chunked'], ['Transfer-Encoding', 'chunked']);
    },
    'body',
  ),
];

// ---------------------------------------------------------------------------------------
// Bodies: whole odd bodies, and odd values for each field a route reads.

interface BodyVariant {
  label: string;
  make(fields: Array<[string, string]>): {
    type: string | undefined;
    bytes: Buffer;
    framing?: Draft['framing'];
  };
}

const MULTIPART_TYPE = 'multipart/form-data; boundary=XyZ';
const bytesOf = (data: string | Buffer) => (typeof data === 'string' ? Buffer.from(data) : data);
const form = (data: string | Buffer) => ({ type: FORM_TYPE, bytes: bytesOf(data) });
const json = (data: string | Buffer) => ({ type: 'application/json', bytes: bytesOf(data) });
function multipart(parts: ReadonlyArray<readonly [string, string | Buffer]>, closed = true) {
  const pieces = parts.map(([head, value]) =>
    Buffer.concat([Buffer.from(`--XyZ\r\n${head}\r\n\r\n`), bytesOf(value), Buffer.from('\r\n')]),
  );
  return {
    type: MULTIPART_TYPE,
    bytes: Buffer.concat([...pieces, Buffer.from(closed ? '--XyZ--\r\n' : '')]),
  };
}
const disposition = (name: string) => `Content-Disposition: form-data; name="${name}"`;
const nested = (depth: number, open: string, close: string, inner = '1') =>
  `${open.repeat(depth)}${inner}${close.repeat(depth)}`;

const BODY_VARIANTS: readonly BodyVariant[] = [
  { label: 'empty body', make: () => form('') },
  { label: 'no body, no type', make: () => ({ type: undefined, bytes: Buffer.alloc(0) }) },
  { label: 'form of 70 KiB', make: () => form(`name=${'x'.repeat(70 * 1024)}`) },
  {
    label: 'form of 70 KiB, chunked',
    make: () => ({ ...form(`name=${'x'.repeat(70 * 1024)}`), framing: 'chunked' }),
  },
  { label: 'form of exactly 64 KiB', make: () => form(`a=${'x'.repeat(BODY_LIMIT_BYTES - 2)}`) },
  { label: 'JSON of 70 KiB', make: () => json(`{"name":"${'x'.repeat(70 * 1024)}"}`) },
  {
    label: 'form with invalid UTF-8',
    make: (f) =>
      form(
        Buffer.concat([Buffer.from(`${f[0]?.[0] ?? 'name'}=`), Buffer.from([0xff, 0xfe, 0xc3])]),
      ),
  },
  { label: 'form with overlong UTF-8', make: () => form(Buffer.from([0x6e, 0x3d, 0xc0, 0xaf])) },
  { label: 'broken percent-encoding', make: () => form('name=%zz&amount=%') },
  { label: 'percent-encoded surrogate', make: () => form('name=%ED%A0%80&amount=1') },
  { label: 'truncated percent-encoding', make: () => form('name=%E6%97&amount=1') },
  { label: 'form of separators', make: () => form('&&&==&=&') },
  { label: 'escaped NUL names and values', make: () => form('%00=%00&name=%00&amount=%00') },
  {
    label: 'form of 10,000 fields',
    make: () => form(Array.from({ length: 10_000 }, (_, i) => `f${i}=1`).join('&')),
  },
  {
    label: 'prototype field names',
    make: (f) =>
      form(
        `__proto__=x&constructor=x&hasOwnProperty=x&toString=x&${new URLSearchParams(f).toString()}`,
      ),
  },
  {
    label: 'every field twice',
    make: (f) => form(`${new URLSearchParams(f).toString()}&${new URLSearchParams(f).toString()}x`),
  },
  { label: 'the fields as JSON', make: (f) => json(JSON.stringify(Object.fromEntries(f))) },
  { label: 'the fields as a form', make: (f) => form(new URLSearchParams(f).toString()) },
  {
    label: 'the fields as multipart',
    make: (f) => multipart(f.map(([name, value]) => [disposition(name), value] as const)),
  },
  {
    label: 'the fields as multipart files',
    make: (f) =>
      multipart(
        f.map(
          ([name, value]) =>
            [`${disposition(name)}; filename="a.txt"\r\nContent-Type: text/plain`, value] as const,
        ),
      ),
  },
  {
    label: 'multipart with another boundary',
    make: (f) => ({
      ...multipart(f.map(([n, v]) => [disposition(n), v] as const)),
      type: 'multipart/form-data; boundary=Other',
    }),
  },
  {
    label: 'multipart without its closing line',
    make: (f) =>
      multipart(
        f.map(([n, v]) => [disposition(n), v] as const),
        false,
      ),
  },
  {
    label: 'multipart of 1,000 parts',
    make: () =>
      multipart(Array.from({ length: 1000 }, (_, i) => [disposition(`f${i}`), '1'] as const)),
  },
  {
    label: 'multipart with invalid UTF-8',
    make: (f) => multipart([[disposition(f[0]?.[0] ?? 'name'), Buffer.from([0xff, 0xfe])]]),
  },
  {
    label: 'multipart with odd part headers',
    make: () =>
      multipart([
        ['Content-Disposition: form-data; name="na\\"me"; filename*=UTF-8\'\'%E6%97%A5', 'x'],
        [
          'Content-Disposition: form-data; name="amount"\r\nContent-Transfer-Encoding: base64',
          'MQ==',
        ],
        ['Content-Disposition: form-data', 'no name'],
        ['Content-Type: text/plain', 'no disposition'],
      ]),
  },
  { label: 'multipart of garbage', make: () => ({ type: MULTIPART_TYPE, bytes: randomish(300) }) },
  { label: 'JSON array', make: () => json('[]') },
  { label: 'JSON array of numbers', make: () => json('[1,2,3]') },
  { label: 'empty JSON object', make: () => json('{}') },
  { label: 'JSON null', make: () => json('null') },
  { label: 'JSON true', make: () => json('true') },
  { label: 'JSON string', make: () => json('"text"') },
  { label: 'JSON 1e309', make: () => json('1e309') },
  { label: 'JSON -0', make: () => json('-0') },
  { label: 'JSON integer of 30 digits', make: () => json('123456789012345678901234567890') },
  { label: '10,000 nested arrays', make: () => json(nested(10_000, '[', ']')) },
  { label: '10,000 nested objects', make: () => json(nested(10_000, '{"a":', '}')) },
  {
    label: 'JSON strings with NUL',
    make: () => json('{"name":"a\\u0000b","amount":1,"description":"\\u0000","delta":1}'),
  },
  {
    label: 'JSON strings with lone surrogates',
    make: () => json('{"name":"\\ud800","amount":1,"description":"\\udc00x","delta":1}'),
  },
  {
    label: 'JSON __proto__ keys',
    make: () => json('{"__proto__":{"amount":5,"admin":true},"name":"p","amount":1,"delta":1}'),
  },
  {
    label: 'JSON constructor.prototype',
    make: () => json('{"constructor":{"prototype":{"x":1}},"name":"c","amount":1}'),
  },
  {
    label: 'JSON duplicate keys',
    make: () => json('{"name":"a","name":"b","amount":1,"amount":-1}'),
  },
  { label: 'JSON with a BOM', make: (f) => json(`\ufeff${JSON.stringify(Object.fromEntries(f))}`) },
  { label: 'JSON with trailing garbage', make: () => json('{"name":"a","amount":1}garbage') },
  { label: 'JSON NaN', make: () => json('{"name":"a","amount":NaN,"delta":NaN}') },
  { label: 'JSON with single quotes', make: () => json("{'name':'a'}") },
  { label: 'JSON with comments', make: () => json('{"name":"a" /* c */,"amount":1}') },
  {
    label: 'JSON in UTF-16',
    make: () => json(Buffer.from('{"name":"a","amount":1}', 'utf16le')),
  },
  { label: 'JSON with invalid UTF-8', make: () => json(Buffer.from([0x22, 0xff, 0xfe, 0x22])) },
  {
    label: 'body of 2 MiB',
    make: () => form(`name=${'x'.repeat(2 * 1024 * 1024)}`),
  },
  {
    label: 'body of 2 MiB, chunked',
    make: () => ({ ...form(`name=${'x'.repeat(2 * 1024 * 1024)}`), framing: 'chunked' }),
  },
  {
    label: 'JSON with a string of 60 KiB',
    make: () => json(`{"description":"${'d'.repeat(60 * 1024)}"}`),
  },
  {
    label: 'JSON numbers at the edges',
    make: () => json('{"name":"n","amount":1e309,"delta":-1e309,"page":9007199254740993}'),
  },
  { label: 'random bytes as a form', make: () => ({ type: FORM_TYPE, bytes: randomish(200) }) },
  {
    label: 'random bytes as JSON',
    make: () => ({ type: 'application/json', bytes: randomish(200) }),
  },
];

/** Bytes that look random but are the same on every run. */
function randomish(length: number): Buffer {
  const bytes = Buffer.alloc(length);
  let state = 0x2545f491;
  for (let i = 0; i < length; i += 1) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    bytes[i] = state & 0xff;
  }
  return bytes;
}

/** What the query parameters and form fields that hold a number get, besides ODD_TEXT. */
const ODD_NUMBERS: readonly string[] = [
  '-0',
  '1.5',
  '1e3',
  '0x10',
  '99999999999',
  '2147483648',
  '-2147483649',
  '9007199254740993',
  '1e309',
  'NaN',
  'Infinity',
  '+1',
  ' 1 ',
];
const NUMERIC_FIELDS = new Set([
  ...['page', 'limit', 'amount', 'delta', 'token_id', 'expires_in_days'],
  ...['w', 'h', 'q'],
]);

/** What the fields that name a place to go (`next`, `return_to`, `href`) get, besides ODD_TEXT. */
const ODD_PLACES: readonly string[] = [
  '/⁄x',
  '//evil.example',
  '/\\evil.example',
  '/%2F/evil.example',
  'https://evil.example/',
  'javascript:alert(1)',
  `/${'a'.repeat(3000)}`,
  '/\t/evil.example',
];
const PLACE_FIELDS = new Set(['next', 'return_to', 'href']);

/** What every query parameter and form field gets. */
const ODD_TEXT: readonly string[] = [
  '',
  ' ',
  '0',
  '-1',
  '\0',
  '%00',
  '\ud800',
  'x'.repeat(300),
  'x'.repeat(3000),
  'x'.repeat(BODY_LIMIT_BYTES + 10),
  '日本',
  '/日本',
  '__proto__',
  'constructor',
  '<script>alert(1)</script>',
  "' or 1=1 --",
  '\r\n',
  '\u202e',
  '😀'.repeat(100),
  // Lower-cased, each becomes two code points: a name of 150 has a key of 300.
  'İ'.repeat(150),
];

/** What every JSON field gets, as JSON text. */
const ODD_JSON: readonly string[] = [
  '""',
  '" "',
  '0',
  '-1',
  '-0',
  '1.5',
  '1e3',
  '1e309',
  '-1e309',
  '2147483647',
  '2147483648',
  '-2147483648',
  '99999999999',
  '9007199254740993',
  `1${'0'.repeat(400)}`,
  '"1"',
  '"0x10"',
  'null',
  'true',
  '[]',
  '{}',
  '[1]',
  '{"__proto__":1}',
  '"\\u0000"',
  '"\\ud800"',
  '"\\udc00x"',
  `"${'x'.repeat(300)}"`,
  `"${'x'.repeat(BODY_LIMIT_BYTES)}"`,
  '"日本"',
  '"\\u202e"',
  '"%00"',
  `"${'😀'.repeat(10_000)}"`,
];

/** A form value for the wire: percent-encoded UTF-8, a lone surrogate as its WTF-8 bytes. */
function encodeFormValue(value: string): string {
  let out = '';
  for (const char of value) {
    const code = char.codePointAt(0)!;
    if (code >= 0xd800 && code <= 0xdfff) {
      out += Buffer.from([0xe0 | (code >> 12), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f)])
        .toString('hex')
        .replace(/(..)/g, '%$1')
        .toUpperCase();
    } else out += encodeURIComponent(char);
  }
  return out;
}
const encodeFields = (fields: ReadonlyArray<[string, string]>) =>
  fields.map(([name, value]) => `${encodeFormValue(name)}=${encodeFormValue(value)}`).join('&');

// ---------------------------------------------------------------------------------------
// A request: its specification (route, id, method, caller, variants, body, field), and the
// bytes made of it.

interface Spec {
  phase: string;
  endpoint: Endpoint;
  id: (typeof IDS)[number];
  method: string;
  caller: Caller;
  variants: readonly Variant[];
  body?: BodyVariant;
  /** One field of the query, form or JSON with another value; undefined leaves it out. */
  field?: { name: string; value: string | undefined };
  /** The client goes away after this many milliseconds, whether answered or not. */
  leaveAfterMs?: number;
}

const OWN_ID = IDS[0]!;

function fieldsOf(
  values: Record<string, Value> | undefined,
  w: World,
  field: Spec['field'],
): Array<[string, string]> | undefined {
  if (!values) return undefined;
  const fields = Object.entries(values).map(([name, value]): [string, string] => [
    name,
    valueOf(value, w),
  ]);
  if (!field || !(field.name in values)) return fields;
  return fields.flatMap(([name, value]): Array<[string, string]> =>
    name !== field.name ? [[name, value]] : field.value === undefined ? [] : [[name, field.value]],
  );
}

/**
 * A caller keeps its address, so the sign-in and registration limits trip as they would for
 * a real client (and keep the fuzz from hashing a password per request); the phases that
 * look into the forms, and the sign-in the right password is sent to, get a fresh one.
 */
function addressFor(spec: Spec, w: World): string {
  const deep = ['bodies', 'fields'].includes(spec.phase);
  if (deep || spec.endpoint.name === 'sign-in (right password)') return nextAddress();
  let address = w.addresses.get(spec.caller.name);
  if (!address) w.addresses.set(spec.caller.name, (address = nextAddress()));
  return address;
}

function materialize(spec: Spec, w: World): WireRequest {
  const { endpoint, method } = spec;
  const path = endpoint.path.replace('{id}', valueOf(spec.id.value, w)).replace('{asset}', w.asset);
  const query = fieldsOf(endpoint.query, w, spec.field);
  const draft: Draft = {
    method,
    target: query ? `${path}?${encodeFields(query)}` : path,
    version: 'HTTP/1.1',
    headers: [
      ['Host', w.host],
      ['X-Forwarded-For', addressFor(spec, w)],
    ],
    body: undefined,
    framing: 'length',
    halfClose: false,
    leaveAfterMs: spec.leaveAfterMs,
  };
  const unsafe = WITH_BODY.has(method);
  draft.headers.push(...spec.caller.headers(w, unsafe));
  if (endpoint.page) draft.headers.push(['Accept', 'text/html,application/xhtml+xml']);
  const formFields = fieldsOf(endpoint.form, w, spec.field);
  const jsonFields = fieldsOf(endpoint.json, w, spec.field);
  if (spec.body) {
    const made = spec.body.make(formFields ?? jsonFields?.map(([n, v]) => [n, jsonText(v)]) ?? []);
    draft.body = made.bytes;
    if (made.type !== undefined) draft.headers.push(['Content-Type', made.type]);
    if (made.framing) draft.framing = made.framing;
  } else if (unsafe && formFields) {
    draft.body = Buffer.from(encodeFields(formFields));
    draft.headers.push(['Content-Type', FORM_TYPE]);
  } else if (unsafe && jsonFields) {
    draft.body = Buffer.from(
      `{${jsonFields.map(([n, v]) => `${JSON.stringify(n)}:${v}`).join(',')}}`,
    );
    draft.headers.push(['Content-Type', 'application/json']);
  }
  for (const change of spec.variants) change.apply(draft, w);
  return frame(draft);
}

/** The value a JSON field's text stands for, as a form would carry it. */
function jsonText(text: string): string {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'string' ? value : text;
  } catch {
    return text;
  }
}

function frame(draft: Draft): WireRequest {
  const headers = [...draft.headers];
  let body = draft.body;
  if (body !== undefined && draft.framing === 'length' && !headers.some(named('Content-Length'))) {
    headers.push(['Content-Length', String(body.length)]);
  }
  if (body !== undefined && draft.framing === 'chunked') {
    if (!headers.some(named('Transfer-Encoding'))) headers.push(['Transfer-Encoding', 'chunked']);
    const chunks: Buffer[] = [];
    for (let offset = 0; offset < body.length; offset += 8192) {
      const chunk = body.subarray(offset, offset + 8192);
      chunks.push(Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n'));
    }
    body = Buffer.concat([...chunks, Buffer.from('0\r\n\r\n')]);
  }
  if (!headers.some(named('Connection'))) headers.push(['Connection', 'close']);
  return {
    method: draft.method,
    target: draft.target,
    version: draft.version,
    headers,
    body,
    halfClose: draft.halfClose,
    timeoutMs: draft.leaveAfterMs,
  };
}

// ---------------------------------------------------------------------------------------
// The phases: generators of what is sent, and the one loop (in the test) that sends it.

const spec = (
  endpoint: Endpoint,
  method: string,
  caller: Caller,
  more: Partial<Spec> = {},
): Spec => ({ phase: '', endpoint, id: OWN_ID, method, caller, variants: [], ...more });

/** Methods Node or undici refuse before any route: three callers are enough for them. */
const BEFORE_ROUTING = new Set(['TRACE', 'TRACK', 'CONNECT', 'get']);

/** Methods that change nothing: a caller's Origin (sent only with the others) makes no difference. */
const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Every route × every method × every caller, with the route's own valid body. Callers that
 * differ only in Origin are one caller for safe methods; another form of the same route
 * (`sameRoute`) differs only in what it posts.
 */
function* everyRouteMethodAndCaller(): Generator<Spec> {
  const few = ['anonymous', 'session (same origin)', 'read-write token'].map(callerNamed);
  const withOrigin = CALLERS.filter(
    (c) => !['anonymous (no Origin)', 'session (no Origin)'].includes(c.name),
  );
  for (const endpoint of ENDPOINTS) {
    for (const method of METHODS) {
      if (endpoint.sameRoute && method !== endpoint.method) continue;
      const callers = BEFORE_ROUTING.has(method) ? few : SAFE.has(method) ? withOrigin : CALLERS;
      for (const caller of callers) yield spec(endpoint, method, caller);
    }
  }
}

/** Every item route × every kind of id × the methods it answers, from a session and a token. */
function* everyId(): Generator<Spec> {
  // Anonymous callers never get as far as the id.
  const callers = ['session (same origin)', 'read-write token'].map(callerNamed);
  for (const endpoint of ENDPOINTS.filter((e) => e.path.includes('{id}'))) {
    for (const id of IDS) {
      for (const method of ['GET', 'POST', 'PATCH', 'DELETE']) {
        for (const caller of callers) yield spec(endpoint, method, caller, { id });
      }
    }
  }
}

/**
 * Every odd header on every route, by the method the route is for, callers in turn. Of the
 * entries that are one route with another body (the settings forms, the static files), two
 * settings forms stand for the others, and the stylesheet for the static files except where
 * the header is about reading (ranges, conditions).
 */
function* everyHeader(): Generator<Spec> {
  const callers = [
    'session (same origin)',
    'anonymous',
    'read-write token',
    'session (Sec-Fetch-Site)',
  ].map(callerNamed);
  let turn = 0;
  for (const change of HEADER_VARIANTS) {
    for (const endpoint of ENDPOINTS) {
      const method = change.scope === 'read' ? 'GET' : endpoint.method;
      if (change.scope === 'body' && !WITH_BODY.has(method)) continue;
      if (change.scope === 'read' && hasBody(endpoint)) continue;
      if (endpoint.sameRoute && change.scope !== 'read') continue;
      turn += 1;
      // A sign-in ends the session it came with: the fuzz user's would need one anew.
      const caller =
        endpoint.name === 'sign-in (right password)'
          ? callers[1]!
          : callers[turn % callers.length]!;
      yield spec(endpoint, method, caller, { variants: [change] });
    }
  }
}

/**
 * Who uses a route: a browser without a session signs in and registers, a signed-in one
 * uses the pages, a program with a token the API (the callers × routes phase tries the rest).
 */
function naturalCaller(endpoint: Endpoint): Caller {
  if (['/login/', '/register/'].includes(endpoint.path) && endpoint.method === 'POST') {
    return callerNamed('anonymous');
  }
  const program = /^\/(json|xml|api)(\/|$)/.test(endpoint.path);
  return callerNamed(program ? 'read-write token' : 'session (same origin)');
}

/** Every odd body on every route that reads one, from its natural caller. */
function* everyBody(): Generator<Spec> {
  for (const endpoint of ENDPOINTS.filter(hasBody)) {
    for (const body of BODY_VARIANTS) {
      yield spec(endpoint, endpoint.method, naturalCaller(endpoint), { body });
    }
  }
}

/** Every field a route reads, left out and with every odd value. */
function* everyField(w: World): Generator<Spec> {
  for (const endpoint of ENDPOINTS) {
    const caller = naturalCaller(endpoint);
    for (const [part, odd] of [
      [endpoint.query, ODD_TEXT],
      [endpoint.form, ODD_TEXT],
      [endpoint.json, ODD_JSON],
    ] as const) {
      for (const name of Object.keys(part ?? {})) {
        if (endpoint.fuzzed && !endpoint.fuzzed.includes(name)) continue;
        const text = odd === ODD_TEXT;
        const values = [
          undefined,
          ...odd,
          ...(text && NUMERIC_FIELDS.has(name) ? ODD_NUMBERS : []),
          ...(text && PLACE_FIELDS.has(name) ? ODD_PLACES : []),
          ...(endpoint.extra?.[name]?.(w) ?? []),
        ];
        for (const value of values) {
          yield spec(endpoint, endpoint.method, caller, { field: { name, value } });
        }
      }
    }
  }
}

/** Random combinations (fixed seed) of a route, id, method, caller, up to three odd headers, a body and a field. */
function randomCombinations(): Spec[] {
  const fieldNames = (e: Endpoint) => [
    ...Object.keys(e.query ?? {}),
    ...Object.keys(e.form ?? {}),
    ...Object.keys(e.json ?? {}),
  ];
  const arbitrary = fc.constantFrom(...ENDPOINTS).chain((endpoint) =>
    fc.record({
      endpoint: fc.constant(endpoint),
      id: fc.constantFrom(...IDS),
      method: fc.oneof(
        { weight: 3, arbitrary: fc.constant(endpoint.method) },
        { weight: 1, arbitrary: fc.constantFrom(...METHODS) },
      ),
      caller: fc.constantFrom(...CALLERS),
      variants: fc.subarray([...HEADER_VARIANTS], { maxLength: 3 }),
      body: fc.option(fc.constantFrom(...BODY_VARIANTS), { freq: 3, nil: undefined }),
      field: fc.option(
        fc.record({
          name: fc.constantFrom('-', ...fieldNames(endpoint)),
          value: fc.option(
            fc.constantFrom(...ODD_TEXT, ...ODD_NUMBERS, ...ODD_PLACES, ...ODD_JSON),
            {
              nil: undefined,
            },
          ),
        }),
        { freq: 2, nil: undefined },
      ),
    }),
  );
  return fc
    .sample(arbitrary, { seed: SEED, numRuns: RANDOM_RUNS })
    .map((drawn) => ({ phase: '', ...drawn }));
}

/**
 * The races a client can start, each request sent several times at once: one idempotency
 * key, one item adjusted, one name registered, and an item deleted while its key is sent
 * again.
 */
function* races(): Generator<Spec[]> {
  const at = (name: string) => ENDPOINTS.find((e) => e.name === name)!;
  const session = callerNamed('session (same origin)');
  const token = callerNamed('read-write token');
  const times = (n: number, make: () => Spec) => Array.from({ length: n }, make);
  for (let round = 0; round < 5; round += 1) {
    const key = header('one Idempotency-Key, at once', 'Idempotency-Key', `race-${round}`);
    yield times(6, () => spec(at('API: items'), 'POST', token, { variants: [key] }));
    const formKey = { name: 'idempotency_key', value: `race-form-${round}` };
    yield times(6, () => spec(at('add item'), 'POST', session, { field: formKey }));
    yield times(6, () => spec(at('API: adjust'), 'POST', token));
    const name = { name: 'username', value: `race_${round}` };
    yield times(4, () =>
      spec(at('registration'), 'POST', callerNamed('anonymous'), { field: name }),
    );
  }
  // Whether a retry finds the item its key stored depends on timing: try it often.
  const created = { label: 'the item just created', value: (v: World) => v.lastCreated };
  for (let round = 0; round < 20; round += 1) {
    const again = header('a key, then a delete', 'Idempotency-Key', `race-delete-${round}`);
    const retry = () => spec(at('API: items'), 'POST', token, { variants: [again] });
    yield [retry()];
    yield [...times(4, retry), spec(at('API: item'), 'DELETE', token, { id: created }), retry()];
  }
}

/** Every route, from its natural caller, by a client that leaves before it has the answer. */
function* everyRouteLeftEarly(): Generator<Spec> {
  for (const leaveAfterMs of [1, 20]) {
    for (const endpoint of ENDPOINTS) {
      yield spec(endpoint, endpoint.method, naturalCaller(endpoint), { leaveAfterMs });
    }
  }
}

/** The phases, in order; a step that is a list is sent all at once. */
const PHASES: ReadonlyArray<readonly [string, (w: World) => Iterable<Spec | Spec[]>]> = [
  ['routes × methods × callers', everyRouteMethodAndCaller],
  ['ids', everyId],
  ['headers', everyHeader],
  ['bodies', everyBody],
  ['fields', everyField],
  ['random combinations', randomCombinations],
  ['races', races],
  ['clients that leave early', everyRouteLeftEarly],
];

// ---------------------------------------------------------------------------------------
// Checking answers and collecting what is wrong with them.

interface Finding {
  kind: string;
  signature: string;
  count: number;
  example: string;
  /** How many odd parts the example has (variants, body, field). */
  simplest: number;
  log: string;
  endpoints: Set<string>;
  methods: Set<string>;
  setCookies: Set<string>;
}

/** A value for a report: escaped, and cut short when long. */
function show(text: string, max = 100): string {
  const shown = JSON.stringify(text.length > max ? text.slice(0, max) : text).slice(1, -1);
  return text.length > max ? `${shown}…(${text.length} characters)` : shown;
}

function describeRequest(spec: Spec, request: WireRequest): string {
  const lines = [
    `${show(request.method)} ${show(request.target, 160)} ${request.version ?? 'HTTP/1.1'}`,
    ...request.headers.map(([name, value]) => `  ${show(name)}: ${show(value)}`),
  ];
  const body = request.body;
  lines.push(
    body === undefined || body.length === 0
      ? '  (no body)'
      : `  body, ${body.length} bytes${request.halfClose ? ', then the input ends' : ''}: ${show(Buffer.from(body).toString('latin1'), 160)}`,
  );
  const parts = [
    `route "${spec.endpoint.name}"`,
    `caller "${spec.caller.name}"`,
    spec.endpoint.path.includes('{id}') ? `id "${spec.id.label}"` : '',
    ...spec.variants.map((v) => `"${v.label}"`),
    spec.body ? `body "${spec.body.label}"` : '',
    spec.field
      ? `field ${spec.field.name}=${spec.field.value === undefined ? '(left out)' : `"${show(spec.field.value, 40)}"`}`
      : '',
    spec.leaveAfterMs === undefined ? '' : `the client leaves after ${spec.leaveAfterMs} ms`,
  ].filter(Boolean);
  return `[${spec.phase}: ${parts.join(', ')}]\n${lines.join('\n')}`;
}

/** The first error line of a request's log: what the server said went wrong. */
function errorOfLog(log: string): string | undefined {
  for (const text of log.split('\n')) {
    if (!text.startsWith('{')) continue;
    try {
      const entry = JSON.parse(text) as { level?: string; msg?: string; err?: string };
      if (entry.level !== 'error' && entry.level !== 'fatal') continue;
      return (entry.err ?? '').split('\n')[0] || entry.msg || text;
    } catch {
      // Not a log entry of ours.
    }
  }
  // Astro's own lines: `12:00:00 [ERROR] [@astrojs/node] Could not render /`, then the error.
  const lines = log
    .split('\n')
    .map((line) => line.replace(/^\d\d:\d\d:\d\d \[ERROR\] (\[[^\]]+\] )?/, '').trim());
  return (
    lines.find((line) => /^[A-Z]\w*(Error|Exception)\b|^error: /i.test(line)) ??
    lines.find(
      (line) => line !== '' && !line.startsWith('at ') && !line.startsWith('Could not render'),
    )
  );
}

const normalize = (text: string) =>
  text
    .replace(/`[^`]*`|"\/[^"]*"/g, '…')
    .replace(/\b[a-z]+:\/\/\S*/gi, '<url>')
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '<uuid>')
    .replace(/-?\d+/g, 'N')
    .slice(0, 200);

function missingSecurityHeaders(headers: Record<string, string>): string[] {
  return Object.entries(SECURITY_HEADERS)
    .filter(([name, value]) => headers[name] !== value)
    .map(([name]) => name);
}

class Findings {
  readonly byKey = new Map<string, Finding>();

  add(
    kind: string,
    signature: string,
    spec: Spec,
    request: WireRequest,
    log = '',
    setCookies: readonly string[] = [],
  ): void {
    const key = `${kind}: ${signature}`;
    let finding = this.byKey.get(key);
    if (!finding) {
      finding = {
        kind,
        signature,
        count: 0,
        example: '',
        simplest: Infinity,
        log: '',
        endpoints: new Set(),
        methods: new Set(),
        setCookies: new Set(),
      };
      this.byKey.set(key, finding);
    }
    // The example is the plainest request of the kind: the easiest to reproduce.
    const oddities = spec.variants.length + Number(!!spec.body) + Number(!!spec.field);
    if (oddities < finding.simplest) {
      finding.simplest = oddities;
      finding.example = describeRequest(spec, request);
      finding.log = log.trim().split('\n').slice(0, 12).join('\n');
    }
    finding.count += 1;
    finding.endpoints.add(spec.endpoint.name);
    finding.methods.add(spec.method);
    for (const cookie of setCookies) finding.setCookies.add(cookie.split('=', 1)[0]!);
  }

  report(): string[] {
    return [...this.byKey.values()].map((f) => {
      const list = (set: Set<string>, max = 6) =>
        [...set].slice(0, max).join(', ') + (set.size > max ? ` and ${set.size - max} more` : '');
      const lines = [
        `${f.kind}: ${f.signature}`,
        `  ${f.count} request(s); routes: ${list(f.endpoints)}; methods: ${list(f.methods)}`,
      ];
      if (f.setCookies.size > 0)
        lines.push(`  and yet the answer set cookies: ${list(f.setCookies)}`);
      lines.push(`  for example:\n${f.example.replace(/^/gm, '    ')}`);
      if (f.log) lines.push(`  server log:\n${f.log.replace(/^/gm, '    ')}`);
      return lines.join('\n');
    });
  }
}

/** A request answered 5xx or not at all, kept until its log can be read. */
interface Failure {
  spec: Spec;
  request: WireRequest;
  answer: WireAnswer;
  /** Where the server's output stood when the request was sent, and when the next one was. */
  from: number;
  to?: number;
}

/**
 * Files a failure under its cause, read from the server's log of it: the output between
 * the request and the next one (the server writes its log before the answer, and pipes are
 * synchronous, so it is there by then).
 */
function fileFailure(failure: Failure, output: string, findings: Findings): void {
  const { spec, request, answer } = failure;
  const log = logOf(failure, output);
  if (spec.leaveAfterMs !== undefined) {
    // Nobody saw an answer; an error logged for the request would have been a 500.
    const error = errorOfLog(log);
    if (error) {
      const where = ` (route "${spec.endpoint.name}")`;
      findings.add(
        'error after the client left',
        `${normalize(error)}${where}`,
        spec,
        request,
        log,
      );
    }
    return;
  }
  // A body past the adapter's limit (1 MiB) is refused while it is still being sent; the
  // refusal can then be lost to the reset of the connection, which is TCP's doing.
  if (!answer.answered && (request.body?.length ?? 0) > 1024 * 1024) return;
  if (!answer.answered) {
    // Closed or reset, the connection ended without an answer: one cause, whichever it was.
    const how = /timeout/.test(answer.reason) ? 'no answer within 10 s' : 'connection ended';
    const seen = `the client saw: ${answer.reason}${answer.received ? `, after ${JSON.stringify(answer.received)}` : ''}`;
    findings.add('no answer', `${how} (method ${spec.method})`, spec, request, `${seen}\n${log}`);
    return;
  }
  const error = errorOfLog(log);
  // Errors of the adapter happen before any route; the others are the route's.
  const where = log.includes('Could not render') ? '' : ` (route "${spec.endpoint.name}")`;
  const signature = error
    ? `${normalize(error)}${where}`
    : `nothing in the log (route "${spec.endpoint.name}")`;
  findings.add(String(answer.status), signature, spec, request, log, answer.setCookies);
}

/**
 * The server's log of a failed request: the lines naming its request id (which the 500 page
 * and the API's 500 show), and the output written between it and the next request.
 */
function logOf(failure: Failure, output: string): string {
  const window = output.slice(failure.from, failure.to ?? output.length);
  const id = failure.answer.answered
    ? /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/.exec(failure.answer.body)?.[0]
    : undefined;
  if (id === undefined) return window;
  const lines = output.split('\n').filter((line) => line.includes(id));
  return [...lines, ...window.split('\n').filter((line) => !line.includes(id))].join('\n');
}

/** Sends one request and files everything wrong with its answer. */
async function run(spec: Spec, w: World, findings: Findings): Promise<WireAnswer> {
  const previous = w.failures.at(-1);
  if (previous && previous.to === undefined) {
    // Let the output of the failed request (written before its answer) be read first.
    for (let i = 0; i < 3; i += 1) await new Promise((resolve) => setImmediate(resolve));
    previous.to = w.site.server.output().length;
  }
  w.serial += 1;
  const request = materialize(spec, w);
  const from = w.site.server.output().length;
  const answer = await wireRequest(w.site.url, request);
  const stopped =
    !answer.answered && (await restartIfStopped(w, findings, spec, request, answer.reason));
  w.previous = { spec, request };
  if (stopped) return answer;
  if (spec.leaveAfterMs !== undefined) {
    // The server goes on without the client: give it the time to finish and log.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const to = w.site.server.output().length;
    w.failures.push({ spec, request, answer, from, to });
    if (spec.endpoint.risky) await repairFuzzer(w, spec.endpoint.name === 'settings: revoke token');
    return answer;
  }
  if (!answer.answered || answer.status >= 500) w.failures.push({ spec, request, answer, from });
  if (!answer.answered) return answer;
  if (answer.status === 201) w.lastCreated = /"id":(\d+)/.exec(answer.body)?.[1] ?? '';
  const missing = missingSecurityHeaders(answer.headers);
  if (missing.length > 0) {
    findings.add(
      'missing security headers',
      `${answer.status} answer without ${missing.join(', ')} (body ${JSON.stringify(answer.body.slice(0, 40))})`,
      spec,
      request,
    );
  }
  if (answer.status >= 400 && answer.body) {
    try {
      expectNoInternals(answer.body, 'error body');
    } catch (error) {
      findings.add(
        'internals in an error body',
        `${answer.status}: ${(error as Error).message.split('\n')[0]}`,
        spec,
        request,
      );
    }
  }
  if (mayHaveHarmedFuzzer(w, spec, request, answer)) {
    await repairFuzzer(w, spec.endpoint.name === 'settings: revoke token');
  }
  return answer;
}

// ---------------------------------------------------------------------------------------
// The state the requests are made from: the site, the fuzz's own user, the victim, and
// how the fuzz user is kept whole.

interface Identity {
  username: string;
  /** Holds the session cookie. */
  client: SiteClient;
  readTokens: string[];
  writeTokens: string[];
  tokenIds: number[];
  itemId: number;
}

interface World {
  backend: Backend;
  site: Site;
  /** `127.0.0.1:<port>`, what a browser sends as Host. */
  host: string;
  /** Replaced when the fuzz signs it out for good (deleted, locked out). */
  fuzzer: Identity;
  victim: Identity;
  /**
   * Users the sign-in form is sent the right password of, one per phase: the wrong
   * passwords of one phase lock its user out, and the next phase still signs in.
   */
  signInTargets: Map<string, string>;
  /** A built script under /_astro/. */
  asset: string;
  /** Each caller's own client address, as a browser or program has one. */
  addresses: Map<string, string>;
  /** The phase being run. */
  phase: string;
  /** How often the fuzz user was checked (and made whole) after a request that could harm it. */
  repairs: number;
  /** The id of the item the API stored last. */
  lastCreated: string;
  /** Counts requests: fresh names and token rotation. */
  serial: number;
  identities: number;
  /** Requests answered 5xx or not at all, in the order they were sent. */
  failures: Failure[];
  /** The request sent before the current one (the suspect when the server stops). */
  previous?: { spec: Spec; request: WireRequest };
  /** The victim's export and token ids before the fuzz. */
  victimExport: string[];
  victimTokens: number[];
  /** Servers that stopped during the fuzz (their sites are closed at the end). */
  stoppedSites: Site[];
}

/** The part of the state a user is made in. */
type Base = Pick<World, 'backend' | 'site' | 'identities'>;

const TOKEN_SHAPE = /^pi_[A-Za-z0-9_-]{43}$/;

async function createToken(client: SiteClient, scope: 'read' | 'read-write'): Promise<string> {
  const posted = await client.request('/settings/', {
    method: 'POST',
    headers: { 'Content-Type': FORM_TYPE },
    body: new URLSearchParams({
      action: 'create-token',
      name: `fuzz ${scope}`,
      scope,
      expires_in_days: '',
    }).toString(),
  });
  expect(posted.status).toBe(303);
  const carried = posted.headers
    .getSetCookie()
    .map((cookie) => cookie.split(';', 1)[0]!)
    .find((cookie) => cookie.startsWith('new_token='));
  expect(carried).toBeDefined();
  const shown = await client.request('/settings/', {
    headers: { Cookie: `${client.cookie}; ${carried}` },
  });
  const token = /data-testid="new-token"[^>]*>\s*([^<\s]+)\s*</.exec(await shown.text())?.[1];
  expect(token).toMatch(TOKEN_SHAPE);
  return token!;
}

/** The ids of the user's tokens, as the settings page lists them. */
async function tokenIdsOf(client: SiteClient): Promise<number[]> {
  const html = await (await client.request('/settings/')).text();
  return [...html.matchAll(/data-token-id="(\d+)"/g)].map((match) => Number(match[1]));
}

async function tokenWorks(w: Pick<World, 'site'>, token: string): Promise<boolean> {
  const response = await fetch(`${w.site.url}/api/items?limit=1`, {
    headers: { Authorization: `Bearer ${token}`, 'X-Forwarded-For': nextAddress() },
  });
  await response.arrayBuffer();
  return response.status === 200;
}

/** A user registered and signed in through the forms, with tokens and an item. */
async function newIdentity(w: Base, role: string): Promise<Identity> {
  w.identities += 1;
  const username = `${role}_${w.backend}_${w.identities}`;
  const client = await signUp(w.site.url, username);
  const readTokens: string[] = [];
  const writeTokens: string[] = [];
  for (let i = 0; i < TOKENS_PER_SCOPE; i += 1) {
    readTokens.push(await createToken(client, 'read'));
    writeTokens.push(await createToken(client, 'read-write'));
  }
  const { id: itemId } = await createItem(client, { name: `${role} item`, amount: 5 });
  return { username, client, readTokens, writeTokens, tokenIds: await tokenIdsOf(client), itemId };
}

/**
 * After a request that may have signed the fuzz user out, deleted its item, revoked its
 * tokens or deleted the account (valid requests the fuzz makes on purpose), makes it whole
 * again: signs in anew, or starts over as a new user when that is not possible.
 */
async function repairFuzzer(w: World, tokensMayBeGone: boolean): Promise<void> {
  w.repairs += 1;
  const me = w.fuzzer;
  const probe = await me.client.request(`/api/items/${me.itemId}`);
  await probe.arrayBuffer();
  if (probe.status === 401) {
    try {
      me.client = await signIn(w.site.url, me.username);
    } catch {
      // Deleted, or locked out by the wrong passwords the fuzz sent: a new user.
      w.fuzzer = await newIdentity(w, 'fuzzer');
      return;
    }
    return repairFuzzer(w, tokensMayBeGone);
  }
  if (probe.status === 404) {
    me.itemId = (await createItem(me.client, { name: 'fuzzer item', amount: 5 })).id;
  }
  if (!tokensMayBeGone) return;
  const ids = await tokenIdsOf(me.client);
  if (ids.length === me.tokenIds.length) return;
  for (const [list, scope] of [
    [me.readTokens, 'read'],
    [me.writeTokens, 'read-write'],
  ] as const) {
    for (let i = 0; i < list.length; i += 1) {
      if (!(await tokenWorks(w, list[i]!))) list[i] = await createToken(me.client, scope);
    }
  }
  me.tokenIds = await tokenIdsOf(me.client);
}

/** Whether a request may have signed the fuzz user out, or deleted its item or tokens. */
function mayHaveHarmedFuzzer(
  w: World,
  spec: Spec,
  request: WireRequest,
  answer: WireAnswer,
): boolean {
  // A refused request (4xx) changed nothing; anything else may have.
  if (answer.answered && answer.status >= 400 && answer.status < 500) return false;
  if (!spec.endpoint.risky || !['POST', 'DELETE'].includes(spec.method)) return false;
  // Deleting an item (or undoing its add, or a bulk delete) through the API needs no
  // session; everything else here does.
  if (['API: item', 'API: undo', 'API: bulk'].includes(spec.endpoint.name)) return true;
  const session = w.fuzzer.client.cookie;
  return request.headers.some(
    ([name, value]) => named('Cookie')([name, value]) && !!session && value.includes(session),
  );
}

/** A fresh server on a fresh database, with the victim and the fuzz user signed up. */
async function startWorld(backend: Backend, serial = 0): Promise<World> {
  const site = await startSite(backend);
  const asset = readdirSync(path.join(CLIENT_DIR, '_astro')).find((file) => file.endsWith('.js'));
  const base = { backend, site, identities: 0 };
  const signInTargets = new Map<string, string>();
  for (const [index, [phase]] of PHASES.entries()) {
    signInTargets.set(phase, `signin_target_${backend}_${index}`);
    await signUp(site.url, signInTargets.get(phase)!);
  }
  const victim = await newIdentity(base, 'victim');
  await createItem(victim.client, { name: 'Victim secret', amount: 7, description: 'private' });
  await createItem(victim.client, { name: 'Victim zero', amount: 0 });
  const fuzzer = await newIdentity(base, 'fuzzer');
  return {
    ...base,
    host: new URL(site.url).host,
    asset: `/_astro/${asset}`,
    signInTargets,
    phase: PHASES[0]![0],
    repairs: 0,
    lastCreated: '',
    victim,
    fuzzer,
    addresses: new Map(),
    failures: [],
    serial,
    victimExport: await snapshot([victim.client]),
    victimTokens: await tokenIdsOf(victim.client),
    stoppedSites: [],
  };
}

const hasStopped = ({ server }: Site) =>
  server.process.exitCode !== null || server.process.signalCode !== null;

/**
 * When the server has stopped: files that as a finding (with the request it stopped on and
 * the one before it), files its failures, and starts over on a new server and database.
 */
async function restartIfStopped(
  w: World,
  findings: Findings,
  spec: Spec,
  request: WireRequest,
  reason: string,
): Promise<boolean> {
  // A refused connection: the exit may be seen a moment after it.
  const refused = /ECONNREFUSED|ECONNRESET/.test(reason);
  for (let i = 0; refused && i < 20 && !hasStopped(w.site); i += 1) {
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  if (!hasStopped(w.site)) return false;
  const output = w.site.server.output();
  const error = errorOfLog(output.slice(-5000));
  const before = w.previous
    ? `\nthe request before it:\n${describeRequest(w.previous.spec, w.previous.request)}`
    : '';
  findings.add(
    'the server stopped',
    error ? normalize(error) : `exit code ${w.site.server.process.exitCode}`,
    spec,
    request,
    `${output.slice(-3000)}${before}`,
  );
  for (const failure of w.failures) fileFailure(failure, output, findings);
  const stoppedSites = [...w.stoppedSites, w.site];
  Object.assign(w, await startWorld(w.backend, w.serial), { stoppedSites });
  return true;
}

// ---------------------------------------------------------------------------------------

describe.each(BACKENDS)('every request to every route on %s', (backend) => {
  let w: World;
  const findings = new Findings();

  beforeAll(async () => {
    w = await startWorld(backend);
  });

  afterAll(async () => {
    for (const site of w?.stoppedSites ?? []) await site.close();
    await w?.site.close();
  });

  it('answers each below 500, with the security headers and no internals', async () => {
    const started = Date.now();
    const timing: string[] = [];
    for (const [phase, steps] of PHASES) {
      const phaseStarted = Date.now();
      const before = w.serial;
      w.phase = phase;
      for (const step of steps(w)) {
        const specs = Array.isArray(step) ? step : [step];
        await Promise.all(specs.map((s) => run({ ...s, phase }, w, findings)));
      }
      const seconds = ((Date.now() - phaseStarted) / 1000).toFixed(1);
      timing.push(`${phase}: ${w.serial - before} requests in ${seconds} s`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    for (const failure of w.failures) fileFailure(failure, w.site.server.output(), findings);
    console.info(
      `route fuzz on ${backend}: ${w.serial} requests in ${((Date.now() - started) / 1000).toFixed(1)} s ` +
        `(${timing.join('; ')}); ${w.repairs} checks of the fuzz user, ${w.identities} users; ${findings.byKey.size} distinct problems`,
    );
    expect(findings.report(), `${findings.byKey.size} distinct problems`).toEqual([]);
  }, 600_000);

  it("leaves the victim's items, token and session as they were", async () => {
    await expectUnchanged([w.victim.client], w.victimExport);
    expect(await tokenIdsOf(w.victim.client)).toEqual(w.victimTokens);
    for (const token of [...w.victim.readTokens, ...w.victim.writeTokens]) {
      expect(await tokenWorks(w, token)).toBe(true);
    }
    expect(await isSignedIn(w.victim.client)).toBe(true);
  });
});
