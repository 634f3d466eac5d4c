import { once } from 'node:events';
import { createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import type { Writable } from 'node:stream';
import { openConfiguredDatabase } from './configured-database.ts';
import { exportDjangoDump, formatExportSummary } from '../src/lib/server/migration/export.ts';

const USAGE = `Usage: npm run export:django -- <file>

Writes every user and item of the configured database (DATABASE_URL, else the embedded one
in DATA_DIR) as "python manage.py dumpdata auth.user main.item --indent 2" would, for
"python manage.py loaddata <file>". The file is replaced only once it is complete. "-"
writes to standard output.

Exit status: 0 written, 1 a database or write error, 2 usage error.`;

/** Writes text to a stream, waiting whenever the stream asks to. */
function writerFor(stream: Writable): (text: string) => Promise<void> {
  let failure: Error | undefined;
  stream.on('error', (error) => (failure = error));
  return async (text) => {
    if (failure) throw failure;
    if (!stream.write(text)) await once(stream, 'drain');
  };
}

/** Runs the command; resolves with the exit status. */
export async function main(argv: string[]): Promise<number> {
  let target: string;
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { help: { type: 'boolean', short: 'h', default: false } },
    });
    if (values.help) {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    if (positionals.length !== 1) {
      throw new Error(positionals.length === 0 ? 'No file given.' : 'Give one file.');
    }
    target = positionals[0]!;
    if (target !== '-') {
      const directory = await fs.stat(path.dirname(path.resolve(target))).catch(() => null);
      if (!directory?.isDirectory()) {
        throw new Error(`Cannot write ${target}: its directory does not exist.`);
      }
    }
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${USAGE}\n`);
    return 2;
  }

  const handle = openConfiguredDatabase();
  if (!handle) return 2;
  const partial = `${target}.partial-${process.pid}`;
  try {
    const toStdout = target === '-';
    const stream = toStdout ? process.stdout : createWriteStream(partial, { flags: 'wx' });
    const summary = await exportDjangoDump(handle.db, writerFor(stream), {
      onProgress: (records) =>
        process.stderr.write(`… ${records.toLocaleString('en-US')} records written\n`),
    });
    if (!toStdout) {
      stream.end();
      await finished(stream);
      await fs.rename(partial, target);
    }
    const report = formatExportSummary(summary, toStdout ? 'standard output' : target);
    (toStdout ? process.stderr : process.stdout).write(`${report}\n`);
    return 0;
  } catch (error) {
    await fs.rm(partial, { force: true });
    process.stderr.write(`The export failed: ${String(error)}\n`);
    return 1;
  } finally {
    await handle.close();
  }
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
