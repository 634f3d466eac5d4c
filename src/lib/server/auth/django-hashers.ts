/**
 * Django's password hash formats, so that people moving over from the Django app sign in with
 * their old passwords, and so that an export back to Django carries hashes Django can check.
 *
 * - `pbkdf2_sha256$<iterations>$<salt>$<base64 digest>` (Django's default) and `pbkdf2_sha1$…`:
 *   PBKDF2-HMAC over the UTF-8 password and salt, with the iteration count the hash carries.
 * - `argon2$argon2id$v=19$m=…,t=…,p=…$<salt>$<hash>`: Django's Argon2PasswordHasher, which is
 *   the PHC string argon2-cffi writes with `argon2` in front. Django hashes the raw password, so
 *   these are checked with `node:crypto`'s Argon2 (oslo would NFKC-normalize the password first).
 * - `!` followed by 40 random characters: `make_password(None)`, a password that never matches.
 *
 * Digests are compared in constant time; key derivation runs on the libuv thread pool.
 */
import { argon2, pbkdf2, randomInt, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

const pbkdf2Async = promisify(pbkdf2);

function argon2Async(
  algorithm: Argon2Variant,
  parameters: {
    message: string;
    nonce: Buffer;
    parallelism: number;
    tagLength: number;
    memory: number;
    passes: number;
  },
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    argon2(algorithm, parameters, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

// --- PBKDF2 -------------------------------------------------------------------------------

export type DjangoPbkdf2Algorithm = 'pbkdf2_sha256' | 'pbkdf2_sha1';

const PBKDF2_DIGESTS: Record<DjangoPbkdf2Algorithm, { digest: string; length: number }> = {
  pbkdf2_sha256: { digest: 'sha256', length: 32 },
  pbkdf2_sha1: { digest: 'sha1', length: 20 },
};

/**
 * Django's default iteration counts: 260,000 in 3.2, 600,000 in 4.2, 720,000 in 5.0, 870,000
 * in 5.1, 1,000,000 in 5.2 and 1,200,000 in 6.0. A count above this is no Django default;
 * refusing it keeps one sign-in attempt (about 0.25 s per million iterations) from tying up a
 * thread for seconds. Sign-in treats such a hash as a format it cannot check (it never
 * matches), and the import refuses it (see `djangoHashCostProblem`).
 */
export const MAX_PBKDF2_ITERATIONS = 2_000_000;

export interface DjangoPbkdf2Hash {
  algorithm: DjangoPbkdf2Algorithm;
  iterations: number;
  salt: string;
  digest: Buffer;
}

const PBKDF2_PATTERN =
  /^(pbkdf2_sha256|pbkdf2_sha1)\$([1-9][0-9]*)\$([^$]+)\$([A-Za-z0-9+/]+={0,2})$/;

/** The parts of a well-formed Django PBKDF2 hash, whatever its iteration count. */
function parsePbkdf2Structure(encoded: string): DjangoPbkdf2Hash | null {
  const match = PBKDF2_PATTERN.exec(encoded);
  if (!match) return null;
  const algorithm = match[1] as DjangoPbkdf2Algorithm;
  const digest = Buffer.from(match[4]!, 'base64');
  if (digest.length !== PBKDF2_DIGESTS[algorithm].length) return null;
  return { algorithm, iterations: Number(match[2]), salt: match[3]!, digest };
}

/** The parts of a Django PBKDF2 hash, or null when it is not one this module can check. */
export function parseDjangoPbkdf2(encoded: string): DjangoPbkdf2Hash | null {
  const parsed = parsePbkdf2Structure(encoded);
  return parsed && parsed.iterations <= MAX_PBKDF2_ITERATIONS ? parsed : null;
}

/** Django's `PBKDF2PasswordHasher.verify`: false for a wrong password or a malformed hash. */
export async function verifyDjangoPbkdf2(encoded: string, password: string): Promise<boolean> {
  const parsed = parseDjangoPbkdf2(encoded);
  if (!parsed) return false;
  const { digest, length } = PBKDF2_DIGESTS[parsed.algorithm];
  const computed = await pbkdf2Async(password, parsed.salt, parsed.iterations, length, digest);
  return timingSafeEqual(computed, parsed.digest);
}

// --- Argon2 -------------------------------------------------------------------------------

export type Argon2Variant = 'argon2id' | 'argon2i';

export interface Argon2Hash {
  variant: Argon2Variant;
  memory: number;
  passes: number;
  parallelism: number;
  salt: Buffer;
  hash: Buffer;
}

const DJANGO_ARGON2_PREFIX = 'argon2';

/** Django's password field is a `CharField(max_length=128)`. */
export const DJANGO_PASSWORD_MAX_LENGTH = 128;

// Version 19 (0x13) only: it is what argon2-cffi has written since Django first supported
// Argon2, and the only version node:crypto computes. Salt and hash are unpadded base64.
const PHC_ARGON2_PATTERN =
  /^\$(argon2id|argon2i)\$v=19\$m=([1-9][0-9]{0,9}),t=([1-9][0-9]{0,9}),p=([1-9][0-9]{0,7})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;

/**
 * The parts of a PHC Argon2 string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`), or null when it is
 * not one that libargon2 (behind argon2-cffi, behind Django) accepts: at least 8 bytes of salt,
 * 4 of hash, and memory of at least 8 KiB per lane.
 */
function parsePhcArgon2(phc: string): Argon2Hash | null {
  const match = PHC_ARGON2_PATTERN.exec(phc);
  if (!match) return null;
  const [, variant, m, t, p, salt64, hash64] = match;
  if (salt64!.length % 4 === 1 || hash64!.length % 4 === 1) return null;
  const parsed: Argon2Hash = {
    variant: variant as Argon2Variant,
    memory: Number(m),
    passes: Number(t),
    parallelism: Number(p),
    salt: Buffer.from(salt64!, 'base64'),
    hash: Buffer.from(hash64!, 'base64'),
  };
  if (parsed.salt.length < 8 || parsed.hash.length < 4) return null;
  if (parsed.parallelism > 0xffffff || parsed.memory < 8 * parsed.parallelism) return null;
  if (parsed.memory > 0xffffffff || parsed.passes > 0xffffffff) return null;
  return parsed;
}

/** `argon2$argon2id$…` (Django) to `$argon2id$…` (PHC), or null when it is not that format. */
export function djangoArgon2ToPhc(encoded: string): string | null {
  if (!encoded.startsWith(`${DJANGO_ARGON2_PREFIX}$`)) return null;
  const phc = encoded.slice(DJANGO_ARGON2_PREFIX.length);
  return parsePhcArgon2(phc) ? phc : null;
}

/**
 * A PHC Argon2id hash (what oslo writes here) in Django's form, or null when Django could not
 * take it: another variant or version, parameters libargon2 refuses, or longer than Django's
 * 128-character password column.
 */
export function phcArgon2ToDjango(phc: string): string | null {
  const parsed = parsePhcArgon2(phc);
  if (!parsed || parsed.variant !== 'argon2id') return null;
  const encoded = `${DJANGO_ARGON2_PREFIX}${phc}`;
  return encoded.length <= DJANGO_PASSWORD_MAX_LENGTH ? encoded : null;
}

/**
 * Limits for checking a stored Argon2 hash, each with Django's default (the hash length is
 * argon2-cffi's: 32 bytes since its 21.2, 16 before).
 */
const ARGON2_LIMITS = [
  { unit: 'KiB of memory', max: 1024 * 1024, django: 102_400, of: (h: Argon2Hash) => h.memory },
  { unit: 'passes', max: 64, django: 2, of: (h: Argon2Hash) => h.passes },
  { unit: 'lanes', max: 64, django: 8, of: (h: Argon2Hash) => h.parallelism },
  { unit: 'bytes of hash', max: 1024, django: 32, of: (h: Argon2Hash) => h.hash.length },
] as const;

const overArgon2Limits = (parsed: Argon2Hash) =>
  ARGON2_LIMITS.filter((limit) => limit.of(parsed) > limit.max);

function checkableArgon2(parsed: Argon2Hash | null): parsed is Argon2Hash {
  return parsed !== null && overArgon2Limits(parsed).length === 0;
}

/** Django's `Argon2PasswordHasher.verify`: the raw password against `argon2$argon2id$…`. */
export async function verifyDjangoArgon2(encoded: string, password: string): Promise<boolean> {
  const phc = djangoArgon2ToPhc(encoded);
  const parsed = phc === null ? null : parsePhcArgon2(phc);
  if (!checkableArgon2(parsed)) return false;
  try {
    const computed = await argon2Async(parsed.variant, {
      message: password,
      nonce: parsed.salt,
      parallelism: parsed.parallelism,
      tagLength: parsed.hash.length,
      memory: parsed.memory,
      passes: parsed.passes,
    });
    return timingSafeEqual(computed, parsed.hash);
  } catch {
    return false;
  }
}

// --- Unusable passwords -------------------------------------------------------------------

const UNUSABLE_PREFIX = '!';
const UNUSABLE_SUFFIX_LENGTH = 40;
const RANDOM_STRING_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** Django's `make_password(None)`: `!` and 40 random letters and digits; it never matches. */
export function makeUnusablePassword(): string {
  let suffix = '';
  for (let i = 0; i < UNUSABLE_SUFFIX_LENGTH; i += 1) {
    suffix += RANDOM_STRING_CHARS[randomInt(RANDOM_STRING_CHARS.length)];
  }
  return UNUSABLE_PREFIX + suffix;
}

// --- Telling formats apart ----------------------------------------------------------------

export type PasswordHashKind =
  /** oslo's PHC Argon2id, what this site writes. */
  | 'argon2id'
  | DjangoPbkdf2Algorithm
  /** Django's `argon2$…` form. */
  | 'django-argon2'
  /** Django's unusable password marker. */
  | 'unusable'
  /** Anything else: bcrypt, scrypt, md5, a malformed hash… It never matches. */
  | 'unsupported';

export interface PasswordHashFormat {
  kind: PasswordHashKind;
  /** A short name for the format, safe to log: never any part of the salt or digest. */
  label: string;
}

/** The algorithm name Django puts before the first `$`, when it looks like one. */
function algorithmLabel(encoded: string): string {
  const head = encoded.startsWith('$')
    ? `$${encoded.slice(1).split('$', 1)[0]}`
    : encoded.split('$', 1)[0];
  return head !== undefined && /^\$?[A-Za-z0-9_-]{1,32}$/.test(head) && encoded.includes('$', 1)
    ? head
    : 'unrecognized';
}

const count = (value: number) => value.toLocaleString('en-US');

/**
 * Why a well-formed hash in one of Django's formats costs more to check than this site will
 * spend: PBKDF2 iterations, or Argon2 memory, passes or lanes, above the limits here. It
 * follows "password hash", e.g. "uses 20,000,000 PBKDF2 iterations; …". Null for any other
 * hash, checkable or not (bcrypt, a malformed hash…).
 */
export function djangoHashCostProblem(encoded: string): string | null {
  const pbkdf2Hash = parsePbkdf2Structure(encoded);
  if (pbkdf2Hash && pbkdf2Hash.iterations > MAX_PBKDF2_ITERATIONS) {
    const { iterations } = pbkdf2Hash;
    const shown = Number.isSafeInteger(iterations)
      ? count(iterations)
      : `more than ${count(Number.MAX_SAFE_INTEGER)}`;
    return (
      `uses ${shown} PBKDF2 iterations; at most ${count(MAX_PBKDF2_ITERATIONS)} are accepted ` +
      "(Django's own default is 1,000,000–1,200,000)"
    );
  }
  const argon2Hash = encoded.startsWith(`${DJANGO_ARGON2_PREFIX}$`)
    ? parsePhcArgon2(encoded.slice(DJANGO_ARGON2_PREFIX.length))
    : null;
  const over = argon2Hash === null ? [] : overArgon2Limits(argon2Hash);
  if (argon2Hash === null || over.length === 0) return null;
  const parts = over.map(
    (limit) =>
      `${count(limit.of(argon2Hash))} ${limit.unit} ` +
      `(at most ${count(limit.max)}; Django's own default is ${count(limit.django)})`,
  );
  return `uses Argon2 with ${parts.join(' and ')}`;
}

/** Which of the known formats a stored hash is in, checking its structure as well. */
export function classifyPasswordHash(encoded: string): PasswordHashFormat {
  if (encoded.startsWith('$argon2id$')) return { kind: 'argon2id', label: 'argon2id' };
  if (encoded.startsWith(UNUSABLE_PREFIX)) return { kind: 'unusable', label: 'unusable' };
  const pbkdf2Hash = parseDjangoPbkdf2(encoded);
  if (pbkdf2Hash) return { kind: pbkdf2Hash.algorithm, label: pbkdf2Hash.algorithm };
  const phc = djangoArgon2ToPhc(encoded);
  if (phc !== null && checkableArgon2(parsePhcArgon2(phc))) {
    return { kind: 'django-argon2', label: 'argon2' };
  }
  const label = algorithmLabel(encoded);
  const malformed = label === 'pbkdf2_sha256' || label === 'pbkdf2_sha1' || label === 'argon2';
  return { kind: 'unsupported', label: malformed ? `${label} (malformed or out of range)` : label };
}
