import type { AstroCookies } from 'astro';
import { formatNumber, plural } from '../../plural.ts';
import { SESSION_COOKIE } from './lucia.ts';

/**
 * The cookies of an account: the session token (HttpOnly) and `last_login`, which the
 * original app set at sign-in and its main page reads. Both are Secure over HTTPS.
 */
export const LAST_LOGIN_COOKIE = 'last_login';
/** A one-time notice carried across a redirect (the original used Django's messages). */
const NOTICE_COOKIE = 'notice';

interface CookieContext {
  cookies: AstroCookies;
  secure: boolean;
}

export function setSessionCookie(
  { cookies, secure }: CookieContext,
  token: string,
  expiresAt: Date,
) {
  cookies.set(SESSION_COOKIE, token, {
    httpOnly: true,
    sameSite: 'lax',
    path: '/',
    secure,
    expires: expiresAt,
  });
}

export function setLastLoginCookie({ cookies, secure }: CookieContext, at: Date) {
  cookies.set(LAST_LOGIN_COOKIE, at.toISOString(), { sameSite: 'lax', path: '/', secure });
}

/** Deletes both account cookies (sign-out, or a token that no longer names a session). */
export function clearAccountCookies({ cookies, secure }: CookieContext) {
  cookies.delete(SESSION_COOKIE, { path: '/', httpOnly: true, sameSite: 'lax', secure });
  cookies.delete(LAST_LOGIN_COOKIE, { path: '/', sameSite: 'lax', secure });
}

export function clearSessionCookie({ cookies, secure }: CookieContext) {
  cookies.delete(SESSION_COOKIE, { path: '/', httpOnly: true, sameSite: 'lax', secure });
}

const NOTICES = {
  registered: 'Your account has been successfully created!',
  'signed-out': 'You have been signed out.',
  'signed-out-everywhere':
    'You have been signed out on every device, and your API tokens have been revoked.',
  'account-deleted': 'Your account and all its items have been deleted.',
  'password-changed':
    'Your password has been changed. Other devices have been signed out, and your API tokens have been revoked.',
  'password-changed-tokens-kept':
    'Your password has been changed. Other devices have been signed out; your API tokens still work.',
  'token-revoked': 'The token has been revoked.',
  'invite-revoked': 'The invite link has been revoked: it no longer works.',
  'left-inventory': 'You have left the inventory.',
  'import-discarded': 'The upload was discarded; nothing was imported.',
  'import-plan-changed':
    'The inventory changed since the preview, so nothing was imported. This is what the import would do now.',
} as const;

/**
 * Notices about one thing: they name it (an item, an inventory, a member), and give an
 * item's amount where that changed.
 */
const NAMED_NOTICES = {
  'inventory-created': (name: string) => `Created the inventory “${name}”.`,
  'inventory-renamed': (name: string) => `Renamed the inventory to “${name}”.`,
  'inventory-deleted': (name: string) => `Deleted the inventory “${name}” and everything in it.`,
  'inventory-joined': (name: string) => `You have joined “${name}”.`,
  'member-added': (name: string) => `Added ${name}.`,
  'member-changed': (name: string) => `Changed the role of ${name}.`,
  'member-removed': (name: string) => `Removed ${name}.`,
  'item-added': (name: string, amount: number) =>
    `Added “${name}” (amount ${formatNumber(amount)}).`,
  'item-saved': (name: string) => `Saved the changes to “${name}”.`,
  'item-deleted': (name: string) => `Moved “${name}” to the trash.`,
  'item-adjusted': (name: string, amount: number) => `“${name}”: amount ${formatNumber(amount)}.`,
  'location-created': (name: string) => `Added the location “${name}”.`,
  'location-changed': (name: string) => `Saved the location “${name}”.`,
  'location-deleted': (name: string) => `Deleted the location “${name}”; nothing it held was lost.`,
  'tag-renamed': (name: string) => `Renamed the tag to “${name}”.`,
  'tag-merged': (name: string) => `Merged the tag into “${name}”.`,
  'tag-deleted': (name: string) => `Deleted the tag “${name}”; its items keep everything else.`,
  'item-restored': (name: string) => `Restored “${name}” from the trash.`,
  'change-undone': (name: string) => `Undid the change to ${name}.`,
  'trash-emptied': (name: string) => `Emptied the trash: ${name} deleted for good.`,
  'items-imported': (name: string) => `Imported ${name}.`,
  // Bulk changes: `name` is the place, tag or minimum, `amount` how many items changed.
  'items-moved': (place: string, count: number) =>
    `Moved ${plural(count, 'item')} ${place === '' ? 'out of their locations' : `to “${place}”`}.`,
  'items-tagged': (tag: string, count: number) => `Tagged ${plural(count, 'item')} “${tag}”.`,
  'items-untagged': (tag: string, count: number) =>
    `Took the tag “${tag}” off ${plural(count, 'item')}.`,
  'items-min-set': (min: string, count: number) =>
    min === ''
      ? `Cleared the minimum of ${plural(count, 'item')}.`
      : `Set the minimum of ${plural(count, 'item')} to ${min}.`,
  'items-deleted': (_: string, count: number) => `Moved ${plural(count, 'item')} to the trash.`,
  'items-unchanged': () => 'Nothing changed: the items were already so.',
} as const;

/**
 * `amount` only for the item notices that show one; `change` when the notice offers to undo
 * what it tells of (the change's id).
 */
type NamedNotice = {
  about: keyof typeof NAMED_NOTICES;
  name: string;
  amount?: number;
  change?: number | null;
};

/** A notice as a page shows it: its sentence, and the change its Undo button reverts. */
export interface ShownNotice {
  text: string;
  undo: number | null;
  /** The change undone was itself an undo: the button reads "Redo". */
  redo: boolean;
}

export type Notice = keyof typeof NOTICES | NamedNotice;

export function setNotice({ cookies, secure }: CookieContext, notice: Notice) {
  const value =
    typeof notice === 'string'
      ? notice
      : JSON.stringify([notice.about, notice.name, notice.amount ?? 0, notice.change ?? 0]);
  cookies.set(NOTICE_COOKIE, value, {
    httpOnly: true,
    sameSite: 'lax',
    path: '/',
    secure,
    maxAge: 60,
  });
}

/**
 * What a notice cookie stands for; anything else (planted, outdated) is nothing. A planted
 * change id is harmless: undoing it checks the change and the caller's role like any other.
 */
function readNotice(value: string): ShownNotice | undefined {
  if (Object.hasOwn(NOTICES, value)) {
    return { text: NOTICES[value as keyof typeof NOTICES], undo: null, redo: false };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed) || parsed.length !== 4) return undefined;
  const [about, name, amount, change] = parsed as unknown[];
  if (typeof about !== 'string' || !Object.hasOwn(NAMED_NOTICES, about)) return undefined;
  if (typeof name !== 'string' || name.length > 300) return undefined;
  if (typeof amount !== 'number' || !Number.isSafeInteger(amount)) return undefined;
  if (typeof change !== 'number' || !Number.isSafeInteger(change) || change < 0) return undefined;
  return {
    text: NAMED_NOTICES[about as NamedNotice['about']](name, amount),
    undo: change === 0 ? null : change,
    redo: about === 'change-undone',
  };
}

/** Reads the notice and deletes it, so it shows once; answers it with its Undo, if any. */
export function takeNoticeWithUndo({ cookies, secure }: CookieContext): ShownNotice | undefined {
  const value = cookies.get(NOTICE_COOKIE)?.value;
  if (value === undefined) return undefined;
  cookies.delete(NOTICE_COOKIE, { path: '/', httpOnly: true, sameSite: 'lax', secure });
  return readNotice(value);
}

/** Reads the notice and deletes it, so it shows once; answers its sentence. */
export function takeNotice(context: CookieContext): string | undefined {
  return takeNoticeWithUndo(context)?.text;
}

/**
 * A secret just made (an API token, an invite link), carried across the redirect after its
 * form so it can be shown once: HttpOnly, only sent to the page that shows it, gone after a
 * minute or the first view.
 */
const ONE_TIME_SECRETS = {
  token: { cookie: 'new_token', path: '/settings' },
  invite: { cookie: 'new_invite', path: '/inventories' },
} as const;
export type SecretKind = keyof typeof ONE_TIME_SECRETS;

export function setOneTimeSecret(
  { cookies, secure }: CookieContext,
  kind: SecretKind,
  value: string,
) {
  const { cookie, path } = ONE_TIME_SECRETS[kind];
  cookies.set(cookie, value, { httpOnly: true, sameSite: 'strict', path, secure, maxAge: 60 });
}

export function takeOneTimeSecret(
  { cookies, secure }: CookieContext,
  kind: SecretKind,
): string | undefined {
  const { cookie, path } = ONE_TIME_SECRETS[kind];
  const value = cookies.get(cookie)?.value;
  if (value === undefined) return undefined;
  cookies.delete(cookie, { path, httpOnly: true, sameSite: 'strict', secure });
  return value;
}
