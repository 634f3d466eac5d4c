import type { AstroCookies } from 'astro';
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

export const NOTICES = {
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

export type Notice = keyof typeof NOTICES;

export function setNotice({ cookies, secure }: CookieContext, notice: Notice) {
  cookies.set(NOTICE_COOKIE, notice, {
    httpOnly: true,
    sameSite: 'lax',
    path: '/',
    secure,
    maxAge: 60,
  });
}

/** Reads the notice and deletes it, so it shows once. */
export function takeNotice({ cookies, secure }: CookieContext): Notice | undefined {
  const value = cookies.get(NOTICE_COOKIE)?.value;
  if (value === undefined) return undefined;
  cookies.delete(NOTICE_COOKIE, { path: '/', httpOnly: true, sameSite: 'lax', secure });
  return value !== undefined && Object.hasOwn(NOTICES, value) ? (value as Notice) : undefined;
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
