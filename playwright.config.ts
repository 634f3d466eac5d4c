import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { defineConfig, devices } from '@playwright/test';
import { freePort } from './scripts/free-port.ts';
import { serverNodeFlags } from './scripts/server-node-flags.ts';

// One production server for the run, on a free port, with a fresh embedded database. The
// config is evaluated again in each worker; the environment carries the first choice along.
process.env.E2E_PORT ??= String(await freePort());
process.env.E2E_DATA_DIR ??= mkdtempSync(path.join(tmpdir(), 'pacil-e2e-'));
const baseURL = `http://127.0.0.1:${process.env.E2E_PORT}`;

// Debian's Chromium when present (CI installs it); never a downloaded browser in CI.
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const executablePath = existsSync(chromiumPath) ? chromiumPath : undefined;
if (!executablePath && process.env.CI) {
  throw new Error(`No Chromium at ${chromiumPath}; CI installs Debian's chromium package.`);
}

export default defineConfig({
  testDir: 'tests/e2e',
  fullyParallel: false,
  workers: 1,
  forbidOnly: !!process.env.CI,
  retries: 0,
  reporter: process.env.CI ? [['list']] : [['list']],
  timeout: 30_000,
  use: {
    baseURL,
    trace: 'off',
  },
  projects: [
    {
      name: 'chromium',
      use: {
        ...devices['Desktop Chrome'],
        launchOptions: {
          executablePath,
          args: [
            '--no-sandbox',
            '--disable-gpu',
            '--disable-quic',
            '--no-first-run',
            '--disable-background-networking',
            '--disable-component-update',
            '--disable-sync',
          ],
        },
      },
    },
  ],
  webServer: {
    // As `npm start` runs it: the same V8 heap flags, so the browser tests see production.
    command: ['node', ...serverNodeFlags(), 'scripts/start.ts'].join(' '),
    url: `${baseURL}/healthz`,
    reuseExistingServer: false,
    timeout: 180_000,
    stdout: 'ignore',
    stderr: 'pipe',
    env: {
      HOST: '127.0.0.1',
      PORT: process.env.E2E_PORT,
      DATA_DIR: process.env.E2E_DATA_DIR,
      LOG_LEVEL: 'warn',
      // Tests give each case its own client address through X-Forwarded-For, so that the
      // per-address sign-in and registration limits count each case on its own.
      TRUST_PROXY: 'true',
    },
  },
});
