/**
 * Username rules, matching Django's `User.username` as edited through `UserCreationForm`:
 * `UsernameField` (a stripped `CharField(max_length=150)` that NFKC-normalizes) plus the model
 * field's `UnicodeUsernameValidator`. Messages are Django's, word for word.
 */

export const USERNAME_MAX_LENGTH = 150;

export const REQUIRED_MESSAGE = 'This field is required.';
export const NULL_CHARACTERS_MESSAGE = 'Null characters are not allowed.';
export const INVALID_USERNAME_MESSAGE =
  'Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters.';
/** Shown when the database's unique index on `usernameKey` rejects a new account. */
export const USERNAME_TAKEN_MESSAGE = 'A user with that username already exists.';

/** Django's `MaxLengthValidator` message; `ngettext` picks the form by the limit, not the count. */
export function maxLengthMessage(limit: number, actual: number): string {
  const unit = limit === 1 ? 'character' : 'characters';
  return `Ensure this value has at most ${limit} ${unit} (it has ${actual}).`;
}

/** Python's `len()`: code points, so an emoji counts once, not as two UTF-16 units. */
export function codePointLength(value: string): number {
  let n = 0;
  for (let i = 0; i < value.length; i += 1) {
    const unit = value.charCodeAt(i);
    const next = value.charCodeAt(i + 1);
    // A high surrogate followed by a low one is one code point; a lone surrogate counts alone.
    if (unit >= 0xd800 && unit <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) i += 1;
    n += 1;
  }
  return n;
}

/**
 * Characters for which Python's `str.isspace()` is true, i.e. what `str.strip()` removes.
 * JavaScript's `trim()` differs: it also removes U+FEFF and keeps U+001C–U+001F and U+0085.
 */
const PY_WHITESPACE = new Set(
  [
    0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x2001,
    0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f,
    0x205f, 0x3000,
  ].map((cp) => String.fromCodePoint(cp)),
);

/** Python's `str.strip()` with no argument. All those characters are single UTF-16 units. */
export function pyStrip(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && PY_WHITESPACE.has(value.charAt(start))) start += 1;
  while (end > start && PY_WHITESPACE.has(value.charAt(end - 1))) end -= 1;
  return value.slice(start, end);
}

/** Django's `AbstractBaseUser.normalize_username`: Unicode NFKC, so `ｆｕｌｌ` becomes `full`. */
export function normalizeUsername(raw: string): string {
  return raw.normalize('NFKC');
}

/**
 * The value a unique index compares, so `Alice`, `alice` and `ＡＬＩＣＥ` are one account
 * (Django 4.2's `UserCreationForm.clean_username` rejects case-only duplicates the same way).
 *
 * `toLowerCase()` applies Unicode's full lower-case mapping, which is what Python's `str.lower()`
 * does; Python's `str.casefold()` goes further (full case folding): it maps `ß` to `ss`, final
 * `ς` to `σ` and Cherokee lower case to upper case, none of which `toLowerCase()` does. So `STRASSE`
 * and `straße` are two different keys here, as they are for `lower()` in Python and PostgreSQL.
 * The result is normalized again because lower-casing can leave a non-NFKC sequence behind; that
 * keeps the key idempotent (`usernameKey(usernameKey(x)) === usernameKey(x)`).
 */
export function usernameKey(name: string): string {
  return normalizeUsername(normalizeUsername(name).toLowerCase());
}

/**
 * Django's `UnicodeUsernameValidator` is `^[\w.@+-]+\Z` on a `str`, where Python's `\w` is
 * "alphanumeric or underscore": `str.isalnum()`, i.e. Unicode categories L* (letters) and N*
 * (Nd, Nl, No: every character with a numeric value). Combining marks (M*) are not in Python's
 * `\w`, so they are left out here too: after NFKC most accents are precomposed letters anyway.
 * Checked against CPython 3.11 over every code point: `\w` == `[\p{L}\p{N}_]`.
 * `$` without the `m` flag matches only at the very end, like Python's `\Z` (unlike Python's `$`,
 * which would also accept a trailing newline).
 */
const USERNAME_PATTERN = /^[\p{L}\p{N}_.@+-]+$/u;

export function isValidUsernameSyntax(name: string): boolean {
  return USERNAME_PATTERN.test(name);
}

/** Outcome of `checkUsername`; see there for what `username` holds on failure. */
export type UsernameCheck =
  { ok: true; username: string } | { ok: false; errors: string[]; username: string | null };

/**
 * Runs Django's username checks in Django's order and returns every message that applies.
 *
 * 1. Form field (`UsernameField`): strip, required, NFKC, then all of its validators at once:
 *    max length 150 (code points) and no NUL characters. Like Django's hardened `to_python`,
 *    a value already over the limit is not normalized, so huge input costs nothing to reject.
 * 2. Only when the form field accepted it, the model validator (the character pattern).
 *
 * `username` is the stripped, normalized value whenever the form field accepted it (even if the
 * pattern then failed): Django copies it onto the user before the password validators compare
 * against it. It is `null` when the form field rejected it.
 */
export function checkUsername(raw: string): UsernameCheck {
  const stripped = pyStrip(raw);
  if (stripped === '') return { ok: false, errors: [REQUIRED_MESSAGE], username: null };

  const strippedLength = codePointLength(stripped);
  const value = strippedLength > USERNAME_MAX_LENGTH ? stripped : normalizeUsername(stripped);
  const length = strippedLength > USERNAME_MAX_LENGTH ? strippedLength : codePointLength(value);

  const fieldErrors: string[] = [];
  if (length > USERNAME_MAX_LENGTH) fieldErrors.push(maxLengthMessage(USERNAME_MAX_LENGTH, length));
  if (value.includes('\0')) fieldErrors.push(NULL_CHARACTERS_MESSAGE);
  if (fieldErrors.length > 0) return { ok: false, errors: fieldErrors, username: null };

  if (!isValidUsernameSyntax(value)) {
    return { ok: false, errors: [INVALID_USERNAME_MESSAGE], username: value };
  }
  return { ok: true, username: value };
}
