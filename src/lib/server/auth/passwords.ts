import { Argon2id } from 'oslo/password';

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

/**
 * True when `password` matches `storedHash`. With no stored hash (unknown user) it still
 * does a full verification, against the dummy hash, and answers false.
 */
export async function verifyPassword(
  storedHash: string | null,
  password: string,
): Promise<boolean> {
  if (storedHash === null) {
    await argon2id.verify(await getDummyHash(), password);
    return false;
  }
  if (!storedHash.startsWith('$argon2id$')) return false;
  try {
    return await argon2id.verify(storedHash, password);
  } catch {
    return false;
  }
}
