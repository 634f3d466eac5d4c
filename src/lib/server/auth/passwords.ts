import { Argon2id } from 'oslo/password';
import { logger } from '../logger.ts';
import { classifyPasswordHash, verifyDjangoArgon2, verifyDjangoPbkdf2 } from './django-hashers.ts';

/**
 * Password hashing with oslo's Argon2id at its defaults (19 MiB, 2 iterations,
 * parallelism 1: OWASP's minimum recommendation).
 */
const argon2id = new Argon2id();

export function hashPassword(password: string): Promise<string> {
  return argon2id.hash(password);
}

/**
 * A real hash of a random password, made once. Sign-in verifies against it when the
 * username is unknown, so an unknown name costs the same time as a wrong password.
 */
let dummyHash: Promise<string> | undefined;
function getDummyHash(): Promise<string> {
  dummyHash ??= argon2id.hash(crypto.randomUUID());
  return dummyHash;
}

/** Formats of stored hashes that could not be checked, each logged once per process. */
const reportedFormats = new Set<string>();

/**
 * True when `password` matches `storedHash`: oslo's Argon2id, or a Django hash kept from an
 * import (`pbkdf2_sha256`, `pbkdf2_sha1`, `argon2`). With no stored hash (unknown user), an
 * unusable one or one in an unknown format, it still does a full verification, against the
 * dummy hash, and answers false; an unknown format is logged once (its name, never the hash).
 */
export async function verifyPassword(
  storedHash: string | null,
  password: string,
): Promise<boolean> {
  if (storedHash !== null) {
    const format = classifyPasswordHash(storedHash);
    try {
      switch (format.kind) {
        case 'argon2id':
          return await argon2id.verify(storedHash, password);
        case 'pbkdf2_sha256':
        case 'pbkdf2_sha1':
          return await verifyDjangoPbkdf2(storedHash, password);
        case 'django-argon2': {
          // Django hashes the password as typed; a hash this site exported was made from its
          // NFKC form (oslo normalizes), so that form is tried too when it differs.
          if (await verifyDjangoArgon2(storedHash, password)) return true;
          const normalized = password.normalize('NFKC');
          return normalized !== password && (await verifyDjangoArgon2(storedHash, normalized));
        }
      }
    } catch {
      return false;
    }
    if (format.kind === 'unsupported' && !reportedFormats.has(format.label)) {
      reportedFormats.add(format.label);
      logger.warn(
        { format: format.label },
        'a stored password hash is in a format that cannot be checked; sign-in fails for it',
      );
    }
  }
  await argon2id.verify(await getDummyHash(), password);
  return false;
}

/** True when a hash that just matched should be replaced by a fresh Argon2id one. */
export function needsRehash(storedHash: string): boolean {
  return classifyPasswordHash(storedHash).kind !== 'argon2id';
}
