/**
 * Where to send a visitor after sign-in: the `next` value when it is a path on this site,
 * otherwise `/`. Django's `url_has_allowed_host_and_scheme(next, allowed_hosts=set())` would also
 * accept relative paths such as `view/`; this is stricter and only accepts a path-absolute URL
 * (one `/`, then anything but another `/` or `\`), which a browser always resolves against the
 * current origin. Everything Django rejects is rejected here too.
 */

/** A longer `next` is not something this site produces; refuse rather than echo it back. */
const MAX_NEXT_LENGTH = 2048;

/**
 * Percent-decoding rounds to look through. Each round is checked, so `%252F%252F` (double
 * encoded) is caught; a value still changing after this many rounds is refused outright.
 */
const MAX_DECODE_ROUNDS = 5;

/**
 * Control, format, unassigned, private-use and surrogate code points (category C). Browsers drop
 * tabs and newlines anywhere in a URL and C0 controls or spaces at its ends, so `/\t/evil.com`
 * would become `//evil.com`; Django refuses a URL whose first character is in category C.
 */
const OTHER_CHARACTERS = /\p{C}/u;
const WHITESPACE = /\s/u;

/** One `/` first, and the second character neither `/` nor `\` (browsers read `\` as `/`). */
function isPathAbsolute(value: string): boolean {
  if (value.charAt(0) !== '/') return false;
  const second = value.charAt(1);
  return second !== '/' && second !== '\\';
}

/**
 * One round of percent-decoding that never throws: runs of escapes that are valid UTF-8 are
 * decoded normally; in an invalid run the ASCII bytes (the ones that can form `/`, `\` or a
 * control character) are still decoded, as a lenient decoder further down the line might.
 */
function percentDecodeOnce(value: string): string {
  return value.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
    try {
      return decodeURIComponent(run);
    } catch {
      return run.replace(/%([0-7][0-9A-Fa-f])/g, (_escape, hex: string) =>
        String.fromCharCode(Number.parseInt(hex, 16)),
      );
    }
  });
}

/** True when `next` is a local path that stays local however many times it is decoded. */
export function isSafeNextPath(next: string): boolean {
  if (next.length === 0 || next.length > MAX_NEXT_LENGTH) return false;
  // The raw value must be exactly what a browser would use: no whitespace to trim or ignore.
  if (WHITESPACE.test(next) || OTHER_CHARACTERS.test(next)) return false;

  let current = next;
  for (let round = 0; round <= MAX_DECODE_ROUNDS; round += 1) {
    if (!isPathAbsolute(current) || OTHER_CHARACTERS.test(current)) return false;
    const decoded = percentDecodeOnce(current);
    if (decoded === current) return true;
    current = decoded;
  }
  return false;
}

/**
 * `next` when it is a local path (see `isSafeNextPath`), otherwise `/`; in either case a value
 * a `Location` header can carry. A header holds Latin-1 at most, and a redirect to `/日本`
 * would throw only once the response is built, after the sign-in or the change it follows had
 * been saved. So every other character is percent-encoded as UTF-8, which is how a browser
 * sends that path anyway. (The checks above leave no whitespace, control character or lone
 * surrogate to encode.)
 */
export function safeNextPath(next: string | null | undefined): string {
  if (typeof next !== 'string' || !isSafeNextPath(next)) return '/';
  return next.replace(/[^\x21-\x7e]+/gu, (run) => encodeURIComponent(run));
}
