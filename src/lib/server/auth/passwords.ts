import { availableParallelism } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Kysely } from 'kysely';
import { Argon2id } from 'oslo/password';
import type { Database } from '../db/types.ts';
import { FairGate } from '../fair-gate.ts';
import { logger } from '../logger.ts';
import { classifyPasswordHash, verifyDjangoArgon2, verifyDjangoPbkdf2 } from './django-hashers.ts';
import { storedDjangoHashClasses } from './users.ts';

/**
 * Password hashing with oslo's Argon2id at its defaults (19 MiB, 2 iterations,
 * parallelism 1: OWASP's minimum recommendation).
 */
const argon2id = new Argon2id();

/**
 * Every hash and verification goes through one gate: one per core at a time, so a burst of
 * sign-ins cannot take every thread of the pool (which file reads and compression share), and
 * served client by client, so one client's burst does not make everyone else wait behind it.
 * `client` is the caller's address; work of the server's own (scripts, tests) shares one turn.
 */
const hashing = new FairGate({ concurrency: availableParallelism(), maxWaiting: 256 });

const SERVER_CLIENT = 'server';

export function hashPassword(password: string, client = SERVER_CLIENT): Promise<string> {
  return hashing.run(client, () => argon2id.hash(password));
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
async function verifyNow(storedHash: string | null, password: string): Promise<boolean> {
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

export interface VerifyOptions {
  /** The caller's address, for the gate's turns. */
  client?: string;
  /**
   * The least time the verification itself takes, waited out after it (see
   * `SignInTiming`). Time spent waiting for the gate is not part of it: it tells nothing
   * about the hash, and a floor that counted it would make the slow hashes slower still.
   */
  atLeastMs?: number;
}

/** Verifies through the gate; see `verifyNow`. */
export async function verifyPassword(
  storedHash: string | null,
  password: string,
  { client = SERVER_CLIENT, atLeastMs = 0 }: VerifyOptions = {},
): Promise<boolean> {
  const { matches, ms } = await hashing.run(client, async () => {
    const started = performance.now();
    const matches = await verifyNow(storedHash, password);
    return { matches, ms: performance.now() - started };
  });
  const legacy = storedHash === null ? undefined : legacyHashClass(storedHash);
  if (legacy !== undefined) signInTiming.observe(legacy, ms);
  if (ms < atLeastMs) await sleep(atLeastMs - ms);
  return matches;
}

/** True when a hash that just matched should be replaced by a fresh Argon2id one. */
export function needsRehash(storedHash: string): boolean {
  return classifyPasswordHash(storedHash).kind !== 'argon2id';
}

/**
 * The cost class of a Django hash kept from an import: its algorithm and work factors
 * (`pbkdf2_sha256$1000000`, `argon2$argon2id$v=19$m=102400,t=2,p=8`), the `$`-separated
 * fields before the salt. Undefined for this site's own Argon2id and for hashes that are
 * never checked (those cost a dummy Argon2id verification).
 */
function legacyHashClass(storedHash: string): string | undefined {
  const kind = classifyPasswordHash(storedHash).kind;
  const fields = kind === 'django-argon2' ? 4 : kind.startsWith('pbkdf2') ? 2 : 0;
  return fields === 0 ? undefined : storedHash.split('$', fields).join('$');
}

/** A hash of the class that never matches: salt and digest of zeros. */
function dummyOfClass(hashClass: string): string {
  if (hashClass.startsWith('pbkdf2_sha1')) return `${hashClass}$AAAAAAAAAAAA$${'A'.repeat(27)}=`;
  if (hashClass.startsWith('pbkdf2')) return `${hashClass}$AAAAAAAAAAAA$${'A'.repeat(43)}=`;
  return `${hashClass}$${'A'.repeat(22)}$${'A'.repeat(43)}`;
}

/**
 * Sign-in must take as long for an unknown name or a user with this site's Argon2id hash as
 * for a user still on a Django hash from the import (a PBKDF2 hash of 1,000,000 iterations
 * costs four times an Argon2id one): otherwise the time tells whom the import brought, and
 * that they have not signed in since. So every sign-in's verification lasts at least as long
 * as the slowest class of Django hash still stored: the site asks which classes remain,
 * times a verification of each (and keeps timing the real ones), and pads the faster ones by
 * waiting, which costs no CPU. Once every imported user has signed in (their hash becomes
 * Argon2id), no class remains and nothing is padded.
 */
class SignInTiming {
  /** Milliseconds per class: measured, then smoothed with every real verification. */
  private readonly costs = new Map<string, number>();
  private pending: string[] = [];
  private refreshedAt = Number.NEGATIVE_INFINITY;
  private refreshing: Promise<void> | undefined;

  /** How often the remaining classes are asked for again. */
  static readonly REFRESH_MS = 5 * 60 * 1000;
  /** A database holds a handful of classes; more than this are not worth timing. */
  static readonly MAX_CLASSES = 20;

  observe(hashClass: string, ms: number): void {
    const known = this.costs.get(hashClass);
    this.costs.set(hashClass, known === undefined ? ms : known * 0.7 + ms * 0.3);
  }

  /** The time a sign-in's verification must take now. */
  async floorMs(db: Kysely<Database>): Promise<number> {
    if (performance.now() - this.refreshedAt > SignInTiming.REFRESH_MS) {
      const first = this.refreshedAt === Number.NEGATIVE_INFINITY;
      this.refreshing ??= this.refresh(db).finally(() => (this.refreshing = undefined));
      // The first time there is nothing to pad with yet, so that one is waited for; later
      // ones run beside the sign-in, and one that fails is tried again at the next.
      if (first) await this.refreshing;
      else this.refreshing.catch(() => undefined);
    }
    return Math.max(0, ...this.pending.map((hashClass) => this.costs.get(hashClass) ?? 0));
  }

  private async refresh(db: Kysely<Database>): Promise<void> {
    const pending = (await storedDjangoHashClasses(db, SignInTiming.MAX_CLASSES))
      .map((hashClass) => legacyHashClass(dummyOfClass(hashClass)))
      .filter((hashClass) => hashClass !== undefined);
    for (const hashClass of pending) {
      if (this.costs.has(hashClass)) continue;
      await verifyPassword(dummyOfClass(hashClass), crypto.randomUUID());
    }
    this.pending = pending;
    this.refreshedAt = performance.now();
  }
}

const signInTiming = new SignInTiming();

/** See `SignInTiming`: the `atLeastMs` for a sign-in's `verifyPassword`. */
export function signInVerificationFloorMs(db: Kysely<Database>): Promise<number> {
  return signInTiming.floorMs(db);
}
