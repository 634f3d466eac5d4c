import { createPersonalInventory } from '../inventories/inventories.ts';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database, UserRow } from '../db/types.ts';

/**
 * The users repository: every query on `users` the auth services make (Lucia's adapter keeps
 * its own session-and-user join in lucia.ts). Functions take the database handle or a
 * transaction first and answer in the domain's names, never with rows.
 */
type Db = Kysely<Database>;

/** A user as sign-in and the settings forms check it. */
export interface UserAccount {
  id: number;
  /** As the user typed it, after NFKC normalization. */
  username: string;
  /** NFKC and lower case: the unique key that makes `Alice` and `alice` one name. */
  usernameKey: string;
  passwordHash: string;
  isActive: boolean;
}

export interface NewUser {
  username: string;
  usernameKey: string;
  passwordHash: string;
}

const UNIQUE_VIOLATION = '23505';

function isUniqueViolation(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === UNIQUE_VIOLATION;
}

/** True when some user already holds the username key (`Alice` and `alice` are one name). */
export async function isUsernameKeyTaken(db: Db, usernameKey: string): Promise<boolean> {
  const row = await db
    .selectFrom('users')
    .select('id')
    .where('username_key', '=', usernameKey)
    .executeTakeFirst();
  return row !== undefined;
}

/**
 * Stores a new user with their personal inventory and returns the user's id, or null when
 * the username key is taken: the unique index decides races, so of two registrations for
 * one name at once exactly one gets an id.
 */
export async function insertUser(db: Db, user: NewUser): Promise<number | null> {
  try {
    return await db.transaction().execute(async (trx) => {
      const row = await trx
        .insertInto('users')
        .values({
          username: user.username,
          username_key: user.usernameKey,
          password_hash: user.passwordHash,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      await createPersonalInventory(trx, row.id);
      return row.id;
    });
  } catch (error) {
    if (!isUniqueViolation(error)) throw error;
    return null;
  }
}

const ACCOUNT_COLUMNS = ['id', 'username', 'username_key', 'password_hash', 'is_active'] as const;

function accounts(db: Db) {
  return db.selectFrom('users').select(ACCOUNT_COLUMNS);
}

function toAccount(row: Pick<UserRow, (typeof ACCOUNT_COLUMNS)[number]>): UserAccount {
  return {
    id: row.id,
    username: row.username,
    usernameKey: row.username_key,
    passwordHash: row.password_hash,
    isActive: row.is_active,
  };
}

/** The user a username names, by its key (see `usernameKey`). */
export async function findUserForSignIn(
  db: Db,
  usernameKey: string,
): Promise<UserAccount | undefined> {
  const row = await accounts(db).where('username_key', '=', usernameKey).executeTakeFirst();
  return row && toAccount(row);
}

export async function findUserById(db: Db, userId: number): Promise<UserAccount | undefined> {
  const row = await accounts(db).where('id', '=', userId).executeTakeFirst();
  return row && toAccount(row);
}

/** Notes a successful sign-in; `passwordHash` replaces the stored hash when given. */
export async function recordSignIn(
  db: Db,
  userId: number,
  { at, passwordHash }: { at: Date; passwordHash?: string | undefined },
): Promise<void> {
  await db
    .updateTable('users')
    .set({
      last_login_at: at,
      ...(passwordHash === undefined ? {} : { password_hash: passwordHash }),
    })
    .where('id', '=', userId)
    .execute();
}

export async function setPasswordHash(db: Db, userId: number, passwordHash: string): Promise<void> {
  await db
    .updateTable('users')
    .set({ password_hash: passwordHash })
    .where('id', '=', userId)
    .execute();
}

/** Deletes the user; items, sessions and tokens go with it (ON DELETE CASCADE). */
export async function deleteUser(db: Db, userId: number): Promise<void> {
  await db.deleteFrom('users').where('id', '=', userId).execute();
}

/**
 * Locks the user's row until the transaction ends, so that work counted per user (tokens)
 * is counted by one transaction at a time. False when there is no such user.
 */
export async function lockUser(trx: Transaction<Database>, userId: number): Promise<boolean> {
  const row = await trx
    .selectFrom('users')
    .select('id')
    .where('id', '=', userId)
    .forUpdate()
    .executeTakeFirst();
  return row !== undefined;
}

/**
 * The cost classes of the Django hashes still stored, at most `limit` of them: a PBKDF2
 * hash's algorithm and iterations (`pbkdf2_sha256$1000000`), a Django Argon2 hash's fields
 * before the salt (`argon2$argon2id$v=19$m=102400,t=2,p=8`).
 */
export async function storedDjangoHashClasses(db: Db, limit: number): Promise<string[]> {
  const rows = await sql<{ hash_class: string }>`
    select distinct case
      when password_hash like 'pbkdf2%' then array_to_string((string_to_array(password_hash, '$'))[1:2], '$')
      else array_to_string((string_to_array(password_hash, '$'))[1:4], '$')
    end as hash_class
    from users
    where password_hash like 'pbkdf2%' or password_hash like 'argon2$%'
    limit ${limit}`.execute(db);
  return rows.rows.map((row) => row.hash_class);
}
