import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { openConfiguredDatabase } from './configured-database.ts';
import { migrateToLatest } from '../src/lib/server/db/migrate.ts';
import {
  formatImportResult,
  importDjangoDump,
  type ImportProgress,
} from '../src/lib/server/migration/import.ts';

const USAGE = `Usage: npm run import:django -- [--dry-run] <file>

Imports what "python manage.py dumpdata auth.user main.item" writes (with or without
--indent) into the configured database (DATABASE_URL, else the embedded one in DATA_DIR),
in one transaction: any problem, and nothing is written. "-" reads the dump from standard
input.

  --dry-run   check everything and report what would be imported, write nothing
  -h, --help  show this help

Exit status: 0 imported (or a clean dry run), 1 problems (listed) or a database error,
2 usage error.`;

class UsageError extends Error {
  override name = 'UsageError';
}

function megabytes(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}

/** Runs the command; resolves with the exit status. */
export async function main(argv: string[]): Promise<number> {
  let dryRun: boolean;
  let file: string;
  let size: number | undefined;
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        'dry-run': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
    if (values.help) {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    if (positionals.length !== 1) {
      throw new UsageError(positionals.length === 0 ? 'No file given.' : 'Give one file.');
    }
    dryRun = values['dry-run'];
    file = positionals[0]!;
    if (file !== '-') {
      const stat = await fs.stat(file).catch((error: NodeJS.ErrnoException) => {
        throw new UsageError(
          `Cannot read ${file}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`,
        );
      });
      if (!stat.isFile()) throw new UsageError(`Cannot read ${file}: not a file.`);
      size = stat.size;
    }
  } catch (error) {
    if (!(
      error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
    )) {
      throw error;
    }
    process.stderr.write(`${(error as Error).message}\n\n${USAGE}\n`);
    return 2;
  }

  const handle = openConfiguredDatabase();
  if (!handle) return 2;
  try {
    const applied = await migrateToLatest(handle.db);
    if (applied.length > 0) {
      process.stderr.write(`Applied ${applied.length} pending migration(s) first.\n`);
    }
    const source =
      file === '-' ? process.stdin : createReadStream(file, { highWaterMark: 1 << 20 });
    const onProgress = ({ phase, records, bytes }: ImportProgress) => {
      const read =
        size === undefined ? megabytes(bytes) : `${megabytes(bytes)} of ${megabytes(size)}`;
      const what = { reading: 'read', checking: 'read; checking', writing: 'checked; writing' }[
        phase
      ];
      // Only large files get progress lines: a small one is done before anyone would look.
      if (phase === 'reading' || records >= 10_000) {
        process.stderr.write(
          `… ${records.toLocaleString('en-US')} records ${what} (${read} MiB)\n`,
        );
      }
    };
    const result = await importDjangoDump(handle.db, source, {
      dryRun,
      fileName: file === '-' ? 'standard input' : path.basename(file),
      onProgress,
    });
    process.stdout.write(`${formatImportResult(result)}\n`);
    return result.status === 'refused' ? 1 : 0;
  } catch (error) {
    process.stderr.write(`The import failed, nothing was written: ${String(error)}\n`);
    return 1;
  } finally {
    await handle.close();
  }
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
