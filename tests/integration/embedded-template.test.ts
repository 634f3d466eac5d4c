import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/lib/server/db/connect.ts';
import { migrateToLatest } from '../../src/lib/server/db/migrate.ts';
import { copyEmbeddedTemplate, embeddedTemplateDir } from '../../src/lib/server/db/template.ts';
import { buildIfStale } from '../../scripts/build-if-stale.ts';

const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'pacil-template-'));
  dirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('the embedded database template', () => {
  it('is made by the build, and a first start copies it and keeps what is stored', async () => {
    buildIfStale();
    expect(existsSync(path.join(embeddedTemplateDir(), 'PG_VERSION'))).toBe(true);
    const dataDir = path.join(tempDir(), 'data');
    copyEmbeddedTemplate(dataDir);
    expect(readdirSync(dataDir).sort()).toEqual(readdirSync(embeddedTemplateDir()).sort());
    const first = openDatabase({ dataDir, poolSize: 1 });
    await migrateToLatest(first.db);
    await first.db
      .insertInto('users')
      .values({ username: 'kept', username_key: 'kept', password_hash: 'x', is_active: true })
      .execute();
    await first.close();
    // A second start finds the database made, copies nothing and reads what was stored.
    copyEmbeddedTemplate(dataDir);
    const second = openDatabase({ dataDir, poolSize: 1 });
    const users = await second.db.selectFrom('users').select('username').execute();
    await second.close();
    expect(users).toEqual([{ username: 'kept' }]);
  });

  it('makes a copy that was cut short again, and leaves a made database alone', async () => {
    const cut = tempDir();
    mkdirSync(path.join(cut, 'base'));
    writeFileSync(path.join(cut, 'postgresql.conf'), 'half written');
    copyEmbeddedTemplate(cut);
    expect(await readFile(path.join(cut, 'postgresql.conf'), 'utf8')).toBe(
      await readFile(path.join(embeddedTemplateDir(), 'postgresql.conf'), 'utf8'),
    );
    expect(existsSync(path.join(cut, 'PG_VERSION'))).toBe(true);

    const made = tempDir();
    writeFileSync(path.join(made, 'PG_VERSION'), '18\n');
    writeFileSync(path.join(made, 'postgresql.conf'), 'the owner’s own');
    copyEmbeddedTemplate(made);
    expect(readdirSync(made).sort()).toEqual(['PG_VERSION', 'postgresql.conf']);
    expect(await readFile(path.join(made, 'postgresql.conf'), 'utf8')).toBe('the owner’s own');
  });
});
