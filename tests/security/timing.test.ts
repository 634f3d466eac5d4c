import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/database.ts';
import { registerInDatabase, SiteClient, startSite, type Site } from '../helpers/site.ts';
import { postForm } from './kit.ts';

/**
 * Who came from the Django import, and has not signed in since? Their hash is still
 * Django's PBKDF2 (1,000,000 iterations in Django 5.2: four times the cost of an Argon2id
 * check), so a failed sign-in took longer for them than for an unknown name or a user of
 * this site. The time of a failed sign-in must not tell the three apart.
 */

const SAMPLES = 15;
const IMPORTED_ITERATIONS = 1_000_000;

const imported = (i: number) => `imported_${i}`;
const native = (i: number) => `native_${i}`;
const unknown = (i: number) => `unknown_${i}`;

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
};

describe.each(BACKENDS)('sign-in timing on %s', (backend) => {
  let site: Site;

  beforeAll(async () => {
    site = await startSite(backend, async (db) => {
      await db
        .insertInto('users')
        .values(
          Array.from({ length: SAMPLES + 1 }, (_, i) => ({
            username: imported(i),
            username_key: imported(i),
            // A real Django hash's shape and cost; no password matches it.
            password_hash: `pbkdf2_sha256$${IMPORTED_ITERATIONS}$${randomBytes(9).toString('base64url')}$${randomBytes(32).toString('base64')}`,
          })),
        )
        .execute();
      for (let i = 0; i <= SAMPLES; i += 1) await registerInDatabase(db, native(i));
    });
  });

  afterAll(async () => {
    await site?.close();
  });

  async function failedSignIn(username: string): Promise<number> {
    // Each name once, each from an address of its own: no limit is reached.
    const started = performance.now();
    const response = await postForm(new SiteClient(site.url), '/login/', {
      username,
      password: 'Wrong-Password-1',
    });
    await response.arrayBuffer();
    expect(response.status).toBe(200);
    return performance.now() - started;
  }

  it('takes as long for an imported user as for a user of this site or an unknown name (medians within 20 %)', async () => {
    // The last of each kind warms the server up.
    for (const name of [imported(SAMPLES), native(SAMPLES), unknown(SAMPLES)]) {
      await failedSignIn(name);
    }
    const times = { imported: [] as number[], native: [] as number[], unknown: [] as number[] };
    for (let i = 0; i < SAMPLES; i += 1) {
      // Rotate which kind goes first, so that drift in the machine's load hits all three.
      const round = [
        async () => times.imported.push(await failedSignIn(imported(i))),
        async () => times.native.push(await failedSignIn(native(i))),
        async () => times.unknown.push(await failedSignIn(unknown(i))),
      ];
      for (let j = 0; j < round.length; j += 1) await round[(i + j) % round.length]!();
    }
    const medians = Object.fromEntries(
      Object.entries(times).map(([kind, values]) => [kind, median(values)]),
    );
    const values = Object.values(medians);
    const label = Object.entries(medians)
      .map(([kind, ms]) => `${kind} ${ms.toFixed(0)} ms`)
      .join(', ');
    expect(Math.max(...values) / Math.min(...values), label).toBeLessThanOrEqual(1.2);
  });
});
