/**
 * Writes every user and item as `manage.py dumpdata auth.user main.item --indent 2` would, so
 * `manage.py loaddata` takes the file back: every field of Django's `auth.user`, and items
 * with the original `main.item` fields. Rows are read in id order, a batch at a time, inside
 * one read-only REPEATABLE READ transaction, so the file is one consistent snapshot and the
 * process never holds more than a batch.
 *
 * Passwords: a Django hash kept from the import (the user has not signed in here since) goes
 * back as it is; an Argon2id hash made here goes back in Django's `argon2$argon2id$…` form
 * when Django can take it, otherwise as an unusable password (`!` and 40 random characters,
 * as Django's `make_password(None)` writes), and the summary says how many of each.
 */
import type { Kysely } from 'kysely';
import {
  classifyPasswordHash,
  DJANGO_PASSWORD_MAX_LENGTH,
  makeUnusablePassword,
  phcArgon2ToDjango,
} from '../auth/django-hashers.ts';
import { plural } from '../../plural.ts';
import { keysetBatches } from '../db/keyset.ts';
import type { Database } from '../db/types.ts';
import { ITEM_MODEL, USER_MODEL } from './records.ts';

export interface ExportSummary {
  users: number;
  items: number;
  passwords: {
    /** Django hashes kept as they were imported. */
    kept: number;
    /** Argon2id hashes written in Django's `argon2$…` form. */
    converted: number;
    /** Hashes Django could not use, written as an unusable password. */
    unusable: number;
  };
}

export interface ExportOptions {
  batchSize?: number;
  /** Called every `progressEvery` records (10,000) with the count so far. */
  onProgress?: (records: number) => void;
  progressEvery?: number;
}

export type PasswordExport = { password: string; kind: keyof ExportSummary['passwords'] };

/** What to write as a user's Django `password` field, given the hash stored here. */
function djangoPasswordFor(storedHash: string): PasswordExport {
  const format = classifyPasswordHash(storedHash);
  if (format.kind === 'argon2id') {
    const converted = phcArgon2ToDjango(storedHash);
    if (converted !== null) return { password: converted, kind: 'converted' };
  } else if (
    // Django's own formats, including ones this site cannot check (bcrypt, scrypt…) and
    // Django's unusable marker: Django reads them as it wrote them.
    !storedHash.startsWith('$') &&
    format.label !== 'unrecognized' &&
    storedHash.length <= DJANGO_PASSWORD_MAX_LENGTH
  ) {
    return { password: storedHash, kind: 'kept' };
  }
  return { password: makeUnusablePassword(), kind: 'unusable' };
}

/**
 * Django's JSON encoder: ISO 8601 in UTC with `Z`, milliseconds only when there are any
 * (`isoformat()` leaves out a zero fraction).
 */
function djangoDateTime(date: Date | null): string | null {
  if (date === null) return null;
  const iso = date.toISOString();
  return date.getUTCMilliseconds() === 0 ? iso.replace(/\.000Z$/, 'Z') : iso;
}

/** Django's indented JSON: each record by `json.dump(indent=2)`, `,\n` between, then `\n]\n`. */
class DumpWriter {
  private first = true;
  private readonly write: (text: string) => Promise<void> | void;

  constructor(write: (text: string) => Promise<void> | void) {
    this.write = write;
  }

  async open(): Promise<void> {
    await this.write('[');
  }

  async records(records: unknown[]): Promise<void> {
    if (records.length === 0) return;
    let text = '';
    for (const record of records) {
      text += `${this.first ? '\n' : ',\n'}${JSON.stringify(record, null, 2)}`;
      this.first = false;
    }
    await this.write(text);
  }

  async close(): Promise<void> {
    await this.write('\n]\n');
  }
}

/**
 * Writes the dump through `write` (which may return a promise to apply backpressure) and
 * returns what was written.
 */
export async function exportDjangoDump(
  db: Kysely<Database>,
  write: (text: string) => Promise<void> | void,
  options: ExportOptions = {},
): Promise<ExportSummary> {
  const { batchSize = 1_000, onProgress, progressEvery = 10_000 } = options;
  const summary: ExportSummary = {
    users: 0,
    items: 0,
    passwords: { kept: 0, converted: 0, unusable: 0 },
  };
  const writer = new DumpWriter(write);
  let written = 0;
  const progress = (count: number) => {
    const before = Math.floor(written / progressEvery);
    written += count;
    if (Math.floor(written / progressEvery) > before) onProgress?.(written);
  };

  await db
    .transaction()
    .setIsolationLevel('repeatable read')
    .setAccessMode('read only')
    .execute(async (trx) => {
      await writer.open();
      const userBatches = keysetBatches(
        trx
          .selectFrom('users')
          .select(['id', 'username', 'password_hash', 'is_active', 'created_at', 'last_login_at']),
        batchSize,
      );
      for await (const users of userBatches) {
        await writer.records(
          users.map((user) => {
            const { password, kind } = djangoPasswordFor(user.password_hash);
            summary.passwords[kind] += 1;
            return {
              model: USER_MODEL,
              pk: user.id,
              fields: {
                password,
                last_login: djangoDateTime(user.last_login_at),
                is_superuser: false,
                username: user.username,
                first_name: '',
                last_name: '',
                email: '',
                is_staff: false,
                is_active: user.is_active,
                date_joined: djangoDateTime(user.created_at),
                groups: [],
                user_permissions: [],
              },
            };
          }),
        );
        summary.users += users.length;
        progress(users.length);
      }
      const itemBatches = keysetBatches(
        trx.selectFrom('items').select(['id', 'created_by', 'name', 'amount', 'description']),
        batchSize,
      );
      for await (const items of itemBatches) {
        await writer.records(
          items.map((item) => ({
            model: ITEM_MODEL,
            pk: item.id,
            fields: {
              user: item.created_by,
              name: item.name,
              amount: item.amount,
              description: item.description,
            },
          })),
        );
        summary.items += items.length;
        progress(items.length);
      }
      await writer.close();
    });
  return summary;
}

/** The summary printed by `npm run export:django`. */
export function formatExportSummary(summary: ExportSummary, target: string): string {
  const { kept, converted, unusable } = summary.passwords;
  const lines = [
    `Exported ${plural(summary.users, 'user')} and ${plural(summary.items, 'item')} to ${target}.`,
    `  passwords: ${plural(kept, 'Django hash', 'Django hashes')} kept as imported, ` +
      `${plural(converted, 'Argon2id hash', 'Argon2id hashes')} in Django's argon2 form, ` +
      `${plural(unusable, 'unusable password')} (not representable in Django).`,
  ];
  if (converted > 0) {
    lines.push(
      "  Django checks argon2 hashes only with argon2-cffi installed (pip install 'django[argon2]')",
      '  and django.contrib.auth.hashers.Argon2PasswordHasher listed in PASSWORD_HASHERS.',
    );
  }
  if (unusable > 0) {
    lines.push('  Users with an unusable password must set a new one in Django (password reset).');
  }
  return lines.join('\n');
}
