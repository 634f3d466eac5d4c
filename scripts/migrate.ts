import { migrateConfiguredDatabase } from './configured-database.ts';

/** `npm run migrate`: applies pending migrations without starting the server. */
try {
  const applied = await migrateConfiguredDatabase();
  if (applied === undefined) process.exitCode = 1;
  else {
    process.stdout.write(
      applied.length === 0
        ? 'The database is up to date.\n'
        : `Applied ${applied.length} migration(s): ${applied.join(', ')}\n`,
    );
  }
} catch (error) {
  process.stderr.write(`${String(error)}\n`);
  process.exitCode = 1;
}
