import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

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

/** `npm run build`'s second step, after `astro build` (package.json). */
const TEMPLATE_COMMAND = ['--liftoff-only', path.join(ROOT, 'scripts/embedded-template.ts')];

/** Runs `astro build` and makes the embedded template when `dist/` is missing or older than its sources. */
export function buildIfStale(): void {
  if (!buildIsStale()) return;
  withBuildLock(() => {
    if (!buildIsStale()) return;
    const astro = path.join(ROOT, 'node_modules/astro/bin/astro.mjs');
    // Always a production build: a test runner's NODE_ENV=test would otherwise give a
    // development build of Svelte, larger and slower, that the server would then serve.
    const result = spawnSync(process.execPath, [astro, 'build'], {
      cwd: ROOT,
      stdio: 'inherit',
      env: { ...process.env, NODE_ENV: 'production' },
    });
    if (result.status !== 0) {
      throw new Error(`astro build failed with status ${result.status ?? result.signal}`);
    }
    const template = spawnSync(process.execPath, TEMPLATE_COMMAND, { cwd: ROOT, stdio: 'inherit' });
    if (template.status !== 0) {
      throw new Error(
        `the embedded template failed with status ${template.status ?? template.signal}`,
      );
    }
  });
}

if (import.meta.main) buildIfStale();
