/**
 * The two servers under load, each a Node process of its own (so neither shares an event
 * loop with the bench), and their memory as /proc reports it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { freePort } from '../scripts/free-port.ts';
import { ROOT } from '../scripts/build-if-stale.ts';

export interface ServerProcess {
  name: string;
  url: string;
  /** The node process serving (spawned directly: no npm or shell in between). */
  pid: number;
  /** The last lines of what it printed (stdout and stderr go to `logFile`). */
  logTail(lines?: number): string;
  /** SIGTERM, then SIGKILL after 15 s; resolves with the exit code. Safe to call twice. */
  stop(): Promise<number | null>;
}

export interface SpawnOptions {
  name: string;
  script: string;
  env: Record<string, string>;
  /** Options for node itself, such as --cpu-prof. */
  nodeArgs?: string[];
  logFile: string;
}

/** Starts `node <script>` with HOST/PORT set and waits until GET /healthz answers 200. */
export async function startServerProcess(options: SpawnOptions): Promise<ServerProcess> {
  const port = await freePort();
  const fd = openSync(options.logFile, 'a');
  const child: ChildProcess = spawn(
    process.execPath,
    [...(options.nodeArgs ?? []), path.resolve(ROOT, options.script)],
    {
      cwd: ROOT,
      env: { ...process.env, ...options.env, HOST: '127.0.0.1', PORT: String(port) },
      stdio: ['ignore', fd, fd],
    },
  );
  closeSync(fd);
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  const url = `http://127.0.0.1:${port}`;
  const logTail = (lines = 30) => {
    try {
      return readFileSync(options.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  };

  let stopping: Promise<number | null> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    })());

  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${options.name} exited early:\n${logTail()}`);
    }
    try {
      const response = await fetch(`${url}/healthz`);
      await response.arrayBuffer();
      if (response.status === 200) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${options.name} did not become healthy:\n${logTail()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { name: options.name, url, pid: child.pid!, logTail, stop };
}

export interface Memory {
  /** Resident now. */
  rssKb: number;
  /** The most resident over the process's life (VmHWM). */
  peakKb: number;
}

export async function readMemory(pid: number): Promise<Memory> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssKb: field('VmRSS'), peakKb: field('VmHWM') };
}

/** CPU time the process has used so far, user plus system (ms; Linux clock ticks are 10 ms). */
export async function readCpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/**
 * `pid` and the processes it started: the site's server processes when it runs with
 * WEB_CONCURRENCY > 1 (the primary and its node:cluster workers), else `pid` alone.
 */
export async function processGroup(pid: number): Promise<number[]> {
  try {
    const children = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8');
    return [pid, ...children.split(' ').filter(Boolean).map(Number)];
  } catch {
    return [pid];
  }
}

/** The CPU time of several processes together (ms); one that is gone counts 0. */
export async function readGroupCpuMs(pids: number[]): Promise<number> {
  const each = await Promise.all(pids.map((pid) => readCpuMs(pid).catch(() => 0)));
  return each.reduce((sum, ms) => sum + ms, 0);
}

/**
 * Reads VmRSS (summed over `pids`) every `intervalMs` until stopped; resolves with the most
 * seen (kB).
 */
export function sampleRss(
  pids: number | number[],
  intervalMs: number,
): { stop(): Promise<number> } {
  const all = typeof pids === 'number' ? [pids] : pids;
  const total = async () => {
    const each = await Promise.all(all.map(async (pid) => (await readMemory(pid)).rssKb));
    return each.reduce((sum, kb) => sum + kb, 0);
  };
  let running = true;
  let most = 0;
  const loop = (async () => {
    while (running) {
      try {
        most = Math.max(most, await total());
      } catch {
        return; // a process is gone
      }
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      try {
        most = Math.max(most, await total());
      } catch {
        // gone
      }
      return most;
    },
  };
}

export const mb = (kb: number): string => `${(kb / 1024).toFixed(1)} MB`;
