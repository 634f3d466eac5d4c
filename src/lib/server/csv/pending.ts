import { randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { IMPORT_HOLD_MINUTES, type ImportEncoding } from '../../contracts/imports.ts';
import type { Database } from '../db/types.ts';
import { inventoriesFor, type Caller } from '../inventories/access.ts';

/**
 * Uploaded files waiting for their preview's confirmation: only the user who uploaded one
 * sees it, while they are still an editor of its inventory, for `IMPORT_HOLD_MINUTES`.
 * A user holds one file per inventory: uploading another replaces it.
 */
type Db = Kysely<Database>;

export interface PendingImport {
  id: string;
  inventoryId: number;
  fileName: string;
  encoding: ImportEncoding;
  content: string;
  expiresAt: Date;
}

/** What a file name may be on the page: a base name, at most the column's 255 characters. */
function displayName(fileName: string): string {
  const base = fileName.split(/[\\/]/).pop()?.trim() ?? '';
  return Array.from(base === '' ? 'upload.csv' : base)
    .slice(0, 255)
    .join('');
}

export async function holdImport(
  db: Db,
  caller: Caller,
  inventoryId: number,
  file: { name: string; encoding: ImportEncoding; content: string },
): Promise<string> {
  const id = randomBytes(18).toString('base64url');
  await db
    .deleteFrom('pending_imports')
    .where('user_id', '=', caller.userId)
    .where('inventory_id', '=', inventoryId)
    .execute();
  await db
    .insertInto('pending_imports')
    .values({
      id,
      inventory_id: inventoryId,
      user_id: caller.userId,
      file_name: displayName(file.name),
      encoding: file.encoding,
      content: file.content,
      expires_at: sql<Date>`now() + make_interval(mins => ${IMPORT_HOLD_MINUTES})`,
    })
    .execute();
  return id;
}

/** The caller's held file of this id in this inventory, unless it expired. */
export async function findPendingImport(
  db: Db,
  caller: Caller,
  inventoryId: number,
  id: string,
): Promise<PendingImport | undefined> {
  const row = await db
    .selectFrom('pending_imports')
    .select(['id', 'inventory_id', 'file_name', 'encoding', 'content', 'expires_at'])
    .where('id', '=', id)
    .where('user_id', '=', caller.userId)
    .where('inventory_id', '=', inventoryId)
    .where('inventory_id', 'in', inventoriesFor(db, caller, 'edit'))
    .where('expires_at', '>', sql<Date>`now()`)
    .executeTakeFirst();
  return (
    row && {
      id: row.id,
      inventoryId: row.inventory_id,
      fileName: row.file_name,
      encoding: row.encoding as ImportEncoding,
      content: row.content,
      expiresAt: row.expires_at,
    }
  );
}

export async function discardPendingImport(db: Db, caller: Caller, id: string): Promise<void> {
  await db
    .deleteFrom('pending_imports')
    .where('id', '=', id)
    .where('user_id', '=', caller.userId)
    .execute();
}

/** Hourly: files whose time ran out. */
export async function deleteExpiredImports(db: Db): Promise<void> {
  await db
    .deleteFrom('pending_imports')
    .where('expires_at', '<=', sql<Date>`now()`)
    .execute();
}
