import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { hasEmbeddedTemplate } from '../src/lib/server/db/template.ts';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const SERVER_ENTRY = path.join(ROOT, 'dist/server/entry.mjs');
/** The files the built site serves as they are (stylesheet, icon, the islands' scripts). */
export const CLIENT_DIR = path.join(ROOT, 'dist/client');

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

const LOCK = path.join(ROOT, 'node_modules/.cache/pacil-build.lock');
const STALE_LOCK_MS = 5 * 60_000;

/**
 * Holds a lock directory (mkdir is atomic) while building, so that a test run and a
 * server starting at the same time do not both write `dist/`; the second waits, then
 * finds the build current.
 */
function withBuildLock(build: () => void): void {
  mkdirSync(path.dirname(LOCK), { recursive: true });
  for (;;) {
    try {
      mkdirSync(LOCK);
      break;
    } catch {
      const held = statSync(LOCK, { throwIfNoEntry: false });
      if (held && Date.now() - held.mtimeMs > STALE_LOCK_MS) {
        rmSync(LOCK, { recursive: true, force: true });
      } else if (held) {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 250);
      }
    }
  }
  try {
    build();
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

/** The template is made in a process of its own, under the flag `npm start` gives PGlite. */
const TEMPLATE_COMMAND = ['--liftoff-only', path.join(ROOT, 'scripts/embedded-template.ts')];

function run(args: string[], what: string, env?: NodeJS.ProcessEnv): void {
  const result = spawnSync(process.execPath, args, { cwd: ROOT, stdio: 'inherit', env });
  if (result.status !== 0) {
    throw new Error(`${what} failed with status ${result.status ?? result.signal}`);
  }
}

/**
 * Runs `astro build` when `dist/` is missing or older than its sources (or `always`), and
 * makes the embedded template when it is missing. `astro build` empties `dist/`, so after one
 * run on its own (`npx astro build`), a first start used to run initdb in the server itself,
 * which then peaked at ~600 MB instead of ~190 MB.
 */
export function buildIfStale({ always = false } = {}): void {
  const siteStale = () => always || buildIsStale();
  if (!siteStale() && hasEmbeddedTemplate()) return;
  withBuildLock(() => {
    if (siteStale()) {
      const astro = path.join(ROOT, 'node_modules/astro/bin/astro.mjs');
      // Always a production build: a test runner's NODE_ENV=test would otherwise give a
      // development build of Svelte, larger and slower, that the server would then serve.
      run([astro, 'build'], 'astro build', { ...process.env, NODE_ENV: 'production' });
    }
    if (!hasEmbeddedTemplate()) run(TEMPLATE_COMMAND, 'the embedded template');
  });
}

// `npm run build` passes --always.
if (import.meta.main) buildIfStale({ always: process.argv.includes('--always') });
