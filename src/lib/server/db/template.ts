import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
} from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';

/**
 * The embedded database's template: an empty, initialized data directory that a first start
 * copies instead of making one. PGlite makes one by running initdb in a second PGlite instance
 * and copying its result across, which peaks at ~550 MB resident; a copy of files costs no
 * memory. The build makes the template (`scripts/embedded-template.ts`), with the PGlite the
 * site runs; without it, PGlite makes the data directory itself, as before.
 */
export function embeddedTemplateDir(): string {
  // This module runs from src/ (tests, scripts) and from a chunk under dist/server/: the
  // project's root is the nearest folder with a package.json either way.
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) {
    dir = path.dirname(dir);
  }
  return path.join(dir, 'dist/embedded-template');
}

/** PostgreSQL's mark of a made data directory: PGlite runs initdb where it is missing. */
const MADE_MARK = 'PG_VERSION';

/** Whether the build has made the template (and no build since has emptied `dist/`). */
export function hasEmbeddedTemplate(): boolean {
  return existsSync(path.join(embeddedTemplateDir(), MADE_MARK));
}

/** Fills a data directory that has no database yet from the template, if there is one. */
export function copyEmbeddedTemplate(dataDir: string): void {
  const template = embeddedTemplateDir();
  if (dataDir.includes('://') || existsSync(path.join(dataDir, MADE_MARK))) return;
  if (!hasEmbeddedTemplate()) return;
  mkdirSync(dataDir, { recursive: true });
  // The mark goes last, so a copy cut short is simply made again at the next start.
  for (const entry of readdirSync(template)) {
    if (entry === MADE_MARK) continue;
    cpSync(path.join(template, entry), path.join(dataDir, entry), { recursive: true, force: true });
  }
  copyFileSync(path.join(template, MADE_MARK), path.join(dataDir, MADE_MARK));
}

/** Makes the template anew: in a folder of its own first, so a build cut short leaves none. */
export async function makeEmbeddedTemplate(): Promise<string> {
  const template = embeddedTemplateDir();
  const staging = `${template}.making-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  const pglite = await PGlite.create(staging);
  await pglite.close();
  rmSync(template, { recursive: true, force: true });
  renameSync(staging, template);
  return template;
}
