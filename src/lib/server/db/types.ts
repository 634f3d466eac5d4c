import type { ColumnType, Generated, Selectable } from 'kysely';

/** The database as Kysely sees it: one interface per table, named after the table. */
export interface Database {
  users: UsersTable;
  sessions: SessionsTable;
  items: ItemsTable;
  auth_throttle: AuthThrottleTable;
  api_tokens: ApiTokensTable;
  django_imports: DjangoImportsTable;
}

export interface UsersTable {
  id: Generated<number>;
  /** As the user typed it, after NFKC normalization. */
  username: string;
  /** NFKC and lower case: the unique key that makes `Alice` and `alice` one name. */
  username_key: string;
  password_hash: string;
  is_active: ColumnType<boolean, boolean | undefined, boolean>;
  created_at: ColumnType<Date, Date | undefined, never>;
  last_login_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
}

export interface SessionsTable {
  /** SHA-256 (hex) of the cookie's token; the token itself is never stored. */
  id: string;
  user_id: number;
  expires_at: Date;
}

export interface ItemsTable {
  id: Generated<number>;
  user_id: number;
  name: string;
  amount: number;
  description: ColumnType<string, string | undefined, string>;
  created_at: ColumnType<Date, Date | undefined, never>;
  /** Chosen by the client that created the item, so a retried create finds it again. */
  idempotency_key: ColumnType<string | null, string | null | undefined, never>;
  /** SHA-256 of the route and the item the key created: the request the key stands for. */
  idempotency_fingerprint: ColumnType<string | null, string | null | undefined, never>;
}

export type UserRow = Selectable<UsersTable>;
export type ItemRow = Selectable<ItemsTable>;

/** Attempts counted per key (`login:user:…`, `login:address:…`, `register:address:…`). */
export interface AuthThrottleTable {
  key: string;
  attempts: number;
  window_started_at: ColumnType<Date, Date | undefined, Date>;
  blocked_until: Date | null;
}

export type TokenScope = 'read' | 'read-write';

export interface ApiTokensTable {
  id: Generated<number>;
  user_id: number;
  name: string;
  scope: TokenScope;
  /** SHA-256 (hex) of the token; the token itself is shown once and never stored. */
  token_hash: string;
  /** The token's first characters, to tell tokens apart in the list. */
  prefix: string;
  created_at: ColumnType<Date, Date | undefined, never>;
  last_used_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  expires_at: ColumnType<Date | null, Date | null | undefined, never>;
}

/** One row per dumpdata file imported from the Django app (`npm run import:django`). */
export interface DjangoImportsTable {
  id: Generated<number>;
  /** SHA-256 (hex) of the file's bytes: the same file is never imported twice. */
  sha256: string;
  file_name: string;
  users: number;
  items: number;
  imported_at: ColumnType<Date, Date | undefined, never>;
}
