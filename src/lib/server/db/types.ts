import type { ColumnType, Generated, Selectable } from 'kysely';
import type { CHANGE_ACTIONS, CHANGE_VIAS } from '../../contracts/history.ts';
import type { Role } from '../../contracts/inventories.ts';

/** The database as Kysely sees it: one interface per table, named after the table. */
export interface Database {
  users: UsersTable;
  sessions: SessionsTable;
  /** The items not in the trash (a view of `stored_items`). */
  items: ItemsTable;
  /** Every item, in the trash or not. */
  stored_items: StoredItemsTable;
  changes: ChangesTable;
  item_changes: ItemChangesTable;
  inventories: InventoriesTable;
  memberships: MembershipsTable;
  invite_links: InviteLinksTable;
  auth_throttle: AuthThrottleTable;
  api_tokens: ApiTokensTable;
  django_imports: DjangoImportsTable;
  locations: LocationsTable;
  tags: TagsTable;
  item_tags: ItemTagsTable;
  pending_imports: PendingImportsTable;
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
  /** The inventory `/` opens. */
  last_inventory_id: ColumnType<number | null, number | null | undefined, number | null>;
}

export interface SessionsTable {
  /** SHA-256 (hex) of the cookie's token; the token itself is never stored. */
  id: string;
  user_id: number;
  expires_at: Date;
}

export interface ItemsTable {
  id: Generated<number>;
  inventory_id: number;
  /** Who added it; null once that account is deleted (the item stays in its inventory). */
  created_by: ColumnType<number | null, number, never>;
  name: string;
  amount: number;
  description: ColumnType<string, string | undefined, string>;
  created_at: ColumnType<Date, Date | undefined, never>;
  updated_at: ColumnType<Date, Date | undefined, Date>;
  updated_by: ColumnType<number | null, number | undefined, number>;
  /** 1 when added; every change adds one (the API's ETag). */
  version: ColumnType<number, never, number>;
  /** Chosen by the client that created the item, so a retried create finds it again. */
  idempotency_key: ColumnType<string | null, string | null | undefined, never>;
  /** SHA-256 of the route and the item the key created: the request the key stands for. */
  idempotency_fingerprint: ColumnType<string | null, string | null | undefined, never>;
  /** Where it is kept; null when nowhere in particular. */
  location_id: ColumnType<number | null, number | null | undefined, number | null>;
  /** Below this amount the item is low; null for no minimum. */
  min_amount: ColumnType<number | null, number | null | undefined, number | null>;
}

export interface StoredItemsTable extends ItemsTable {
  /** When it went to the trash; null while it is not there. */
  deleted_at: ColumnType<Date | null, never, Date | null>;
  deleted_by: ColumnType<number | null, never, number | null>;
}

export type ChangeVia = (typeof CHANGE_VIAS)[number];
export type ChangeAction = (typeof CHANGE_ACTIONS)[number];

/** One change (one transaction) in an inventory; its rows are written by the triggers. */
export interface ChangesTable {
  id: Generated<number>;
  inventory_id: number;
  at: ColumnType<Date, never, never>;
  actor_id: ColumnType<number | null, never, never>;
  via: ColumnType<ChangeVia, never, never>;
  token_name: ColumnType<string | null, never, never>;
  action: ColumnType<ChangeAction, never, never>;
  /** The change this one undid. */
  undoes_id: ColumnType<number | null, never, never>;
}

/** A field's value before and after a change (a tag: its name after when added, before when removed). */
export interface ItemChangesTable {
  change_id: number;
  item_id: number;
  field: string;
  before: unknown;
  after: unknown;
}

export interface LocationsTable {
  id: Generated<number>;
  inventory_id: number;
  /** The location it is in; null at the top of the tree. */
  parent_id: number | null;
  name: string;
  /** The name in lower case: unique among siblings. */
  name_key: string;
  created_at: ColumnType<Date, Date | undefined, never>;
}

export interface TagsTable {
  id: Generated<number>;
  inventory_id: number;
  name: string;
  /** The name in lower case: unique in its inventory. */
  name_key: string;
}

export interface ItemTagsTable {
  item_id: number;
  tag_id: number;
}

export interface InventoriesTable {
  id: Generated<number>;
  name: string;
  /** The user whose personal inventory this is ("My items"): never deleted. */
  personal_of: ColumnType<number | null, number | null | undefined, never>;
  created_at: ColumnType<Date, Date | undefined, never>;
}

export interface MembershipsTable {
  inventory_id: number;
  user_id: number;
  role: Role;
  created_at: ColumnType<Date, Date | undefined, never>;
}

export interface InviteLinksTable {
  id: Generated<number>;
  inventory_id: number;
  /** SHA-256 (hex) of the link's secret; the secret is shown once and never stored. */
  token_hash: string;
  role: Role;
  created_by: number | null;
  created_at: ColumnType<Date, Date | undefined, never>;
  expires_at: Date;
  /** How many people may join with it; null for no limit. */
  max_uses: number | null;
  uses: ColumnType<number, number | undefined, number>;
  revoked_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
}

export type UserRow = Selectable<UsersTable>;

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
  /** The one inventory the token may reach; null for all of its owner's. */
  inventory_id: ColumnType<number | null, number | null | undefined, never>;
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

/** A CSV file uploaded for import, held until its preview is confirmed or it expires. */
export interface PendingImportsTable {
  id: string;
  inventory_id: number;
  user_id: number;
  file_name: string;
  /** What the file was read as, for the preview's notice. */
  encoding: string;
  /** The file as text. */
  content: string;
  created_at: ColumnType<Date, never, never>;
  expires_at: Date;
}
