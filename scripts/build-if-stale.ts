import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const SERVER_ENTRY = path.join(ROOT, 'dist/server/entry.mjs');

/** What goes into the build: a change to any of these makes `dist/` stale. */
const BUILD_INPUTS = ['src', 'public', 'astro.config.mjs', 'package-lock.json', 'tsconfig.json'];

function newestChange(target: string): number {
  const stats = statSync(target);
  if (!stats.isDirectory()) return stats.mtimeMs;
  let newest = stats.mtimeMs;
  for (const entry of readdirSync(target)) {
    newest = Math.max(newest, newestChange(path.join(target, entry)));
  }
  return newest;
}

export function buildIsStale(): boolean {
  if (!existsSync(SERVER_ENTRY)) return true;
  const built = statSync(SERVER_ENTRY).mtimeMs;
  return BUILD_INPUTS.map((input) => path.join(ROOT, input))
    .filter((input) => existsSync(input))
    .some((input) => newestChange(input) > built);
}

/** Runs `astro build` when `dist/` is missing or older than its sources. */
export function buildIfStale(): void {
  if (!buildIsStale()) return;
  const astro = path.join(ROOT, 'node_modules/astro/bin/astro.mjs');
  const result = spawnSync(process.execPath, [astro, 'build'], { cwd: ROOT, stdio: 'inherit' });
  if (result.status !== 0) {
    throw new Error(`astro build failed with status ${result.status ?? result.signal}`);
  }
}

if (import.meta.main) buildIfStale();
