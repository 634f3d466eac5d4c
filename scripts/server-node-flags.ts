import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './build-if-stale.ts';

/**
 * The Node.js flags that `npm start` gives the server (package.json's `start` script). The
 * benchmark and the tests start `scripts/start.ts` with the same flags, so what they measure
 * and check is what production runs. They are V8 heap settings, which can only be given on
 * the command line (NODE_OPTIONS refuses them, and a running process cannot change them).
 */
export function serverNodeFlags(): string[] {
  const manifest = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    scripts?: Record<string, string>;
  };
  const start = manifest.scripts?.start ?? '';
  const match = /^node((?: --[\w-]+(?:=\S+)?)*) scripts\/start\.ts$/.exec(start);
  if (!match) {
    throw new Error(
      `package.json: expected "start" to be "node [--flags] scripts/start.ts", got "${start}"`,
    );
  }
  return match[1]!.trim().split(' ').filter(Boolean);
}
