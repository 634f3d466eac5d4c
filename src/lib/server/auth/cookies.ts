import type { AstroCookies } from 'astro';
import { formatNumber } from '../../plural.ts';
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
} as const;

/** Notices about one item: they name it, and give its amount where that changed. */
const ITEM_NOTICES = {
  'item-added': (name: string, amount: number) =>
    `Added “${name}” (amount ${formatNumber(amount)}).`,
  'item-saved': (name: string) => `Saved the changes to “${name}”.`,
  'item-deleted': (name: string) => `Deleted “${name}”.`,
  'item-adjusted': (name: string, amount: number) => `“${name}”: amount ${formatNumber(amount)}.`,
} as const;

type ItemNotice = { about: keyof typeof ITEM_NOTICES; name: string; amount: number };

export type Notice = keyof typeof NOTICES | ItemNotice;

export function setNotice({ cookies, secure }: CookieContext, notice: Notice) {
  const value =
    typeof notice === 'string'
      ? notice
      : JSON.stringify([notice.about, notice.name, notice.amount]);
  cookies.set(NOTICE_COOKIE, value, {
    httpOnly: true,
    sameSite: 'lax',
    path: '/',
    secure,
    maxAge: 60,
  });
}

/** The sentence a notice cookie stands for; anything else (planted, outdated) is nothing. */
function noticeText(value: string): string | undefined {
  if (Object.hasOwn(NOTICES, value)) return NOTICES[value as keyof typeof NOTICES];
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed) || parsed.length !== 3) return undefined;
  const [about, name, amount] = parsed as unknown[];
  if (typeof about !== 'string' || !Object.hasOwn(ITEM_NOTICES, about)) return undefined;
  if (typeof name !== 'string' || name.length > 255) return undefined;
  if (typeof amount !== 'number' || !Number.isSafeInteger(amount)) return undefined;
  return ITEM_NOTICES[about as ItemNotice['about']](name, amount);
}

/** Reads the notice and deletes it, so it shows once; answers its sentence. */
export function takeNotice({ cookies, secure }: CookieContext): string | undefined {
  const value = cookies.get(NOTICE_COOKIE)?.value;
  if (value === undefined) return undefined;
  cookies.delete(NOTICE_COOKIE, { path: '/', httpOnly: true, sameSite: 'lax', secure });
  return noticeText(value);
}

/**
 * A newly created API token, carried across the redirect after its form so it can be shown
 * once: HttpOnly, only sent to the settings page, gone after a minute or the first view.
 */
const NEW_TOKEN_COOKIE = 'new_token';

export function setNewTokenCookie({ cookies, secure }: CookieContext, token: string) {
  cookies.set(NEW_TOKEN_COOKIE, token, {
    httpOnly: true,
    sameSite: 'strict',
    path: '/settings',
    secure,
    maxAge: 60,
  });
}

export function takeNewTokenCookie({ cookies, secure }: CookieContext): string | undefined {
  const value = cookies.get(NEW_TOKEN_COOKIE)?.value;
  if (value === undefined) return undefined;
  cookies.delete(NEW_TOKEN_COOKIE, {
    path: '/settings',
    httpOnly: true,
    sameSite: 'strict',
    secure,
  });
  return value;
}
