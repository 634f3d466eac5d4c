import { argon2Sync, pbkdf2Sync } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  classifyPasswordHash,
  djangoArgon2ToPhc,
  djangoHashCostProblem,
  makeUnusablePassword,
  MAX_PBKDF2_ITERATIONS,
  parseDjangoPbkdf2,
  phcArgon2ToDjango,
  verifyDjangoArgon2,
  verifyDjangoPbkdf2,
} from '../../src/lib/server/auth/django-hashers.ts';
import { hashPassword, needsRehash, verifyPassword } from '../../src/lib/server/auth/passwords.ts';
import { logger } from '../../src/lib/server/logger.ts';

// From shared/formats/django-dumpdata.json (Django 3.2, 260,000 iterations).
const ALICE_HASH =
  'pbkdf2_sha256$260000$IkckfrW7yaAsq39IHCEKJU$potfg9yio2M+i90JDC3+VpSaVSWABSJ0aXEPGAMrU7Q=';
const BOB_HASH =
  'pbkdf2_sha256$260000$4iLhwMEzRZx6JHSffj2KZB$agGSe/0KDcqgt8rhNajBZ1mpwYLndnZu0dJzVhH1MNo=';

/** What Django's PBKDF2PasswordHasher / PBKDF2SHA1PasswordHasher write, made with Node's crypto. */
function djangoPbkdf2(
  algorithm: 'pbkdf2_sha256' | 'pbkdf2_sha1',
  password: string,
  salt: string,
  iterations: number,
): string {
  const [digest, length] = algorithm === 'pbkdf2_sha256' ? ['sha256', 32] : ['sha1', 20];
  const hash = pbkdf2Sync(password, salt, iterations, length, digest).toString('base64');
  return `${algorithm}$${iterations}$${salt}$${hash}`;
}

const unpadded = (bytes: Buffer) => bytes.toString('base64').replace(/=+$/, '');

/** What Django's Argon2PasswordHasher writes (argon2-cffi's PHC string after `argon2`). */
function djangoArgon2(
  password: string,
  salt: string,
  variant: 'argon2id' | 'argon2i' = 'argon2id',
) {
  const [m, t, p] = [1024, 2, 2];
  const hash = argon2Sync(variant, {
    message: password,
    nonce: Buffer.from(salt),
    memory: m,
    passes: t,
    parallelism: p,
    tagLength: 32,
  });
  return `argon2$${variant}$v=19$m=${m},t=${t},p=${p}$${unpadded(Buffer.from(salt))}$${unpadded(hash)}`;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('Django PBKDF2 hashes', () => {
  it('accepts the example dump’s hashes with their passwords only', async () => {
    expect(await verifyDjangoPbkdf2(ALICE_HASH, 'Wonderland#2023')).toBe(true);
    expect(await verifyDjangoPbkdf2(BOB_HASH, 'Builder#2023')).toBe(true);
    expect(await verifyDjangoPbkdf2(ALICE_HASH, 'Builder#2023')).toBe(false);
    expect(await verifyDjangoPbkdf2(ALICE_HASH, 'wonderland#2023')).toBe(false);
    expect(await verifyPassword(ALICE_HASH, 'Wonderland#2023')).toBe(true);
    expect(await verifyPassword(BOB_HASH, 'Wonderland#2023')).toBe(false);
  });

  it('uses the iteration count each hash carries (Django 4.2, 5.x) and pbkdf2_sha1', async () => {
    const cases = [
      djangoPbkdf2('pbkdf2_sha256', 'Correct-Horse-42', 'saltDjango42', 600_000),
      djangoPbkdf2('pbkdf2_sha256', 'Correct-Horse-50', 'saltDjango50', 1_000_000),
      djangoPbkdf2('pbkdf2_sha1', 'Correct-Horse-sha1', 'saltSha1', 30_000),
      djangoPbkdf2('pbkdf2_sha256', 'tiny', 'salt', 1),
    ];
    const passwords = ['Correct-Horse-42', 'Correct-Horse-50', 'Correct-Horse-sha1', 'tiny'];
    for (const [i, encoded] of cases.entries()) {
      expect(await verifyPassword(encoded, passwords[i]!)).toBe(true);
      expect(await verifyPassword(encoded, `${passwords[i]!}x`)).toBe(false);
      expect(needsRehash(encoded)).toBe(true);
    }
    expect(parseDjangoPbkdf2(cases[0]!)).toMatchObject({
      algorithm: 'pbkdf2_sha256',
      iterations: 600_000,
      salt: 'saltDjango42',
    });
    expect(classifyPasswordHash(cases[2]!)).toEqual({ kind: 'pbkdf2_sha1', label: 'pbkdf2_sha1' });
  });

  it('hashes the password and salt as UTF-8, without normalizing, as Django does', async () => {
    const password = 'ｐäss ﬁsh 漢字 😀';
    const encoded = djangoPbkdf2('pbkdf2_sha256', password, 'sälz', 1000);
    expect(await verifyDjangoPbkdf2(encoded, password)).toBe(true);
    expect(await verifyDjangoPbkdf2(encoded, password.normalize('NFKC'))).toBe(false);
  });

  it('refuses malformed hashes and iteration counts out of range without computing them', async () => {
    const good = djangoPbkdf2('pbkdf2_sha256', 'pw', 'salt', 10);
    const [algorithm, , salt, hash] = good.split('$');
    const malformed = [
      `${algorithm}$0$${salt}$${hash}`,
      `${algorithm}$010$${salt}$${hash}`,
      `${algorithm}$${MAX_PBKDF2_ITERATIONS + 1}$${salt}$${hash}`,
      `${algorithm}$99999999999$${salt}$${hash}`,
      `${algorithm}$10$$${hash}`,
      `${algorithm}$10$${salt}$${hash!.slice(0, -4)}`,
      `${algorithm}$10$${salt}$not*base64`,
      `pbkdf2_sha1$10$${salt}$${hash}`, // a SHA-256 digest is too long for SHA-1
      `pbkdf2_sha512$10$${salt}$${hash}`,
      `${algorithm}$10$${salt}`,
    ];
    for (const encoded of malformed) {
      expect(parseDjangoPbkdf2(encoded), encoded).toBeNull();
      expect(await verifyDjangoPbkdf2(encoded, 'pw'), encoded).toBe(false);
      expect(classifyPasswordHash(encoded).kind, encoded).toBe('unsupported');
    }
    expect(await verifyDjangoPbkdf2(good, 'pw')).toBe(true);
  });
});

describe('Django Argon2 hashes', () => {
  it('checks `argon2$argon2id$…` against the raw password, as argon2-cffi does', async () => {
    const encoded = djangoArgon2('ﬁsh and chips', 'someSaltFromDjango22');
    expect(classifyPasswordHash(encoded)).toEqual({ kind: 'django-argon2', label: 'argon2' });
    expect(await verifyDjangoArgon2(encoded, 'ﬁsh and chips')).toBe(true);
    expect(await verifyDjangoArgon2(encoded, 'fish and chips')).toBe(false);
    expect(await verifyPassword(encoded, 'ﬁsh and chips')).toBe(true);
    expect(needsRehash(encoded)).toBe(true);
    // Django before 3.2 wrote argon2i.
    expect(
      await verifyPassword(djangoArgon2('old', 'someSaltFromDjango22', 'argon2i'), 'old'),
    ).toBe(true);
  });

  it('converts this site’s Argon2id hashes to Django’s form and back', async () => {
    const phc = await hashPassword('Wonderland#2023');
    expect(phc).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    const django = phcArgon2ToDjango(phc);
    expect(django).toBe(`argon2${phc}`);
    expect(django!.length).toBeLessThanOrEqual(128);
    expect(djangoArgon2ToPhc(django!)).toBe(phc);
    // What Django does with it: argon2-cffi verifies the PHC string against the raw password.
    expect(await verifyDjangoArgon2(django!, 'Wonderland#2023')).toBe(true);
    expect(await verifyDjangoArgon2(django!, 'Wonderland#2024')).toBe(false);
    expect(needsRehash(phc)).toBe(false);

    // oslo hashes the NFKC form; sign-in here still accepts such a hash after a round trip.
    const ligature = phcArgon2ToDjango(await hashPassword('ﬁsh-and-chips-1'))!;
    expect(await verifyPassword(ligature, 'ﬁsh-and-chips-1')).toBe(true);
    expect(await verifyPassword(ligature, 'fish-and-chips-1')).toBe(true);
    expect(await verifyPassword(ligature, 'ﬁsh-and-chips-2')).toBe(false);
  });

  it('does not convert what Django could not read', () => {
    const phc = '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA';
    expect(phcArgon2ToDjango(phc)).toBe(`argon2${phc}`);
    const unrepresentable = [
      phc.replace('$argon2id$', '$argon2i$'), // not Argon2id
      phc.replace('v=19', 'v=16'),
      phc.replace('$v=19', ''),
      phc.replace('c2FsdHNhbHRzYWx0', 'c2FsdA'), // 4-byte salt: libargon2 wants 8
      phc.replace('m=19456', 'm=4'), // less than 8 KiB per lane
      phc.replace('aGFzaGhhc2hoYXNoaGFzaA', 'a'.repeat(90)), // longer than 128 characters
      '$2b$12$abcdefghijklmnopqrstuuJ8C3Vq2kS4dU5kS7hq8wr5hK2yZ0eW6',
      'argon2$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaA',
    ];
    for (const hash of unrepresentable) expect(phcArgon2ToDjango(hash), hash).toBeNull();
    expect(djangoArgon2ToPhc(phc)).toBeNull();
    expect(djangoArgon2ToPhc('argon2$argon2id$v=19$m=19456,t=2,p=1$c2Fs$aGFzaA')).toBeNull();
  });
});

describe('hashes that cost more to check than this site spends', () => {
  /** A well-formed hash with any iteration count: its digest is never computed here. */
  const withIterations = (iterations: string) =>
    djangoPbkdf2('pbkdf2_sha256', 'pw', 'salt', 1).replace('$1$', `$${iterations}$`);
  const argon2With = (m: number, t: number, p: number) =>
    `argon2$argon2id$v=19$m=${m},t=${t},p=${p}$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA`;
  const limit = "at most 2,000,000 are accepted (Django's own default is 1,000,000–1,200,000)";

  it('caps PBKDF2 at 2,000,000 iterations, above the default of every Django version', () => {
    expect(MAX_PBKDF2_ITERATIONS).toBe(2_000_000);
    for (const djangoDefault of ['260000', '600000', '720000', '870000', '1000000', '1200000']) {
      expect(djangoHashCostProblem(withIterations(djangoDefault))).toBeNull();
      expect(parseDjangoPbkdf2(withIterations(djangoDefault))).not.toBeNull();
    }
    expect(djangoHashCostProblem(withIterations('2000000'))).toBeNull();
    expect(djangoHashCostProblem(withIterations('20000000'))).toBe(
      `uses 20,000,000 PBKDF2 iterations; ${limit}`,
    );
    expect(djangoHashCostProblem(withIterations(`1${'0'.repeat(30)}`))).toBe(
      `uses more than 9,007,199,254,740,991 PBKDF2 iterations; ${limit}`,
    );
    // Over the cap, sign-in does not compute it: it is a format this site cannot check.
    expect(parseDjangoPbkdf2(withIterations('2000001'))).toBeNull();
    expect(classifyPasswordHash(withIterations('2000001')).kind).toBe('unsupported');
  });

  it('names each Argon2 parameter over its cap', () => {
    expect(djangoHashCostProblem(argon2With(102_400, 2, 8))).toBeNull();
    expect(djangoHashCostProblem(argon2With(1024 * 1024 + 1, 65, 8))).toBe(
      "uses Argon2 with 1,048,577 KiB of memory (at most 1,048,576; Django's own default is " +
        "102,400) and 65 passes (at most 64; Django's own default is 2)",
    );
    expect(classifyPasswordHash(argon2With(102_400, 2, 65)).kind).toBe('unsupported');
  });

  it('says nothing of other hashes, checkable or not', () => {
    for (const encoded of [
      ALICE_HASH,
      withIterations('010'),
      'bcrypt_sha256$$2b$12$WlVqaTlLZWhIRlVxcGlQSe6vKDmuKiYAuwIQ66O4Lmf6Tk9Ud5QEa',
      argon2With(4, 2, 1), // less than 8 KiB per lane: libargon2 refuses it, malformed
      makeUnusablePassword(),
      '',
    ]) {
      expect(djangoHashCostProblem(encoded), encoded).toBeNull();
    }
  });
});

describe('unusable passwords and unknown formats', () => {
  it('makes Django’s unusable marker: "!" and 40 random letters and digits', async () => {
    const a = makeUnusablePassword();
    const b = makeUnusablePassword();
    expect(a).toMatch(/^![A-Za-z0-9]{40}$/);
    expect(a).not.toBe(b);
    expect(classifyPasswordHash(a).kind).toBe('unusable');
    expect(await verifyPassword(a, a)).toBe(false);
    expect(await verifyPassword('!', '')).toBe(false);
  });

  it('fails unknown formats like a wrong password and logs each format once, without the hash', async () => {
    const warn = vi.spyOn(logger, 'warn').mockImplementation(() => undefined);
    const bcrypt = 'bcrypt_sha256$$2b$12$WlVqaTlLZWhIRlVxcGlQSe6vKDmuKiYAuwIQ66O4Lmf6Tk9Ud5QEa';
    const md5 = 'md5$6Ww6pUoZSTrK$92c9a5cfd0f44d3d5cfe8fe4c1a3c0bc';
    expect(await verifyPassword(bcrypt, 'secret')).toBe(false);
    expect(await verifyPassword(bcrypt.replace('WlV', 'XlV'), 'secret')).toBe(false);
    expect(await verifyPassword(md5, 'secret')).toBe(false);
    expect(await verifyPassword('plain text password', 'plain text password')).toBe(false);
    expect(await verifyPassword('', '')).toBe(false);
    expect(await verifyPassword('$2b$12$abcdefghijklmnopqrstuv', 'x')).toBe(false);

    const formats = warn.mock.calls.map(
      (call) => (call[0] as unknown as { format: string }).format,
    );
    expect(formats).toEqual(['bcrypt_sha256', 'md5', 'unrecognized', '$2b']);
    expect(JSON.stringify(warn.mock.calls)).not.toContain('WlVqaTlL');
  });

  it('still checks Argon2id hashes made here, and a null hash costs a full verification', async () => {
    const hash = await hashPassword('Correct-Horse-Battery-9');
    expect(await verifyPassword(hash, 'Correct-Horse-Battery-9')).toBe(true);
    expect(await verifyPassword(hash, 'Correct-Horse-Battery-8')).toBe(false);
    expect(await verifyPassword(null, 'Correct-Horse-Battery-9')).toBe(false);
    expect(classifyPasswordHash(hash)).toEqual({ kind: 'argon2id', label: 'argon2id' });
  });
});
