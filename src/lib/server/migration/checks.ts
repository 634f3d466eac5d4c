/**
 * The checks that need the whole file, and the database: set-based queries over the staged
 * rows (staging.ts) find what no single record shows: pks repeated in the file, usernames that
 * clash ignoring case (within the file or with users already here), ids already taken, items
 * whose owner is not in the file.
 */
import { sql, type RawBuilder, type Transaction } from 'kysely';
import type { Database } from '../db/types.ts';
import { ITEM_MODEL, USER_MODEL } from './records.ts';
import { MAX_LISTED_PROBLEMS, type ImportProblem, type ProblemList } from './report.ts';

/**
 * Runs one check: its rows, one per problem, each with the record (`seq`) it is about. Only the
 * first `MAX_LISTED_PROBLEMS` rows by record are fetched, and the others only counted, so a
 * check that finds millions costs the memory of a thousand. None of the others could be listed:
 * each comes after as many problems of this check alone.
 */
async function check<Row extends { seq: number }>(
  trx: Transaction<Database>,
  problems: ProblemList,
  query: RawBuilder<Row>,
  problem: (row: Row) => ImportProblem,
): Promise<void> {
  const { rows } = await sql<Row & { found: number }>`
    select *, (count(*) over ())::integer as found from (${query}) check_rows
    order by seq limit ${MAX_LISTED_PROBLEMS}`.execute(trx);
  for (const row of rows) problems.add(problem(row));
  problems.countUnlisted((rows[0]?.found ?? 0) - rows.length);
}

interface ExistingUser {
  seq: number;
  pk: number;
  username: string | null;
  id_username: string | null;
  key_id: number | null;
  key_username: string | null;
}

function existingUserMessage(row: ExistingUser): string {
  if (row.id_username !== null && row.key_id === row.pk) {
    return `user ${row.pk} "${row.id_username}" already exists here`;
  }
  const messages: string[] = [];
  if (row.id_username !== null) {
    messages.push(`id ${row.pk} is taken by the existing user "${row.id_username}"`);
  }
  if (row.key_id !== null) {
    messages.push(
      `username "${row.username}" clashes, ignoring case, with the existing user ` +
        `"${row.key_username}" (id ${row.key_id})`,
    );
  }
  return messages.join('; ');
}

/** Runs every cross-record check over the staged (and indexed) rows. */
export async function findCrossRecordProblems(
  trx: Transaction<Database>,
  problems: ProblemList,
): Promise<void> {
  for (const [table, model] of [
    ['django_import_users', USER_MODEL],
    ['django_import_items', ITEM_MODEL],
  ] as const) {
    await check(
      trx,
      problems,
      sql<{ seq: number; pk: number; first_seq: number }>`
        select seq, pk, first_seq from (
          select seq, pk, first_value(seq) over (partition by pk order by seq) as first_seq
          from ${sql.table(table)}
        ) staged where seq <> first_seq`,
      (row) => ({
        kind: 'duplicate',
        record: row.seq,
        model,
        pk: row.pk,
        message: `the same pk as record ${row.first_seq}: a pk must appear once`,
      }),
    );
  }

  await check(
    trx,
    problems,
    sql<{
      seq: number;
      pk: number;
      username: string;
      first_pk: number;
      first_username: string;
      first_seq: number;
    }>`
      select seq, pk, username, first_pk, first_username, first_seq from (
        select seq, pk, username,
          first_value(pk) over same as first_pk,
          first_value(username) over same as first_username,
          first_value(seq) over same as first_seq
        from django_import_users where valid
        window same as (partition by username_key order by seq)
      ) staged where seq <> first_seq`,
    (row) => ({
      kind: 'duplicate',
      record: row.seq,
      model: USER_MODEL,
      pk: row.pk,
      message:
        `username "${row.username}" is the same, ignoring case, as "${row.first_username}" ` +
        `(pk ${row.first_pk}, record ${row.first_seq})`,
    }),
  );

  await check(
    trx,
    problems,
    sql<ExistingUser>`
      select staged.seq, staged.pk, staged.username, by_id.username as id_username,
        by_key.id as key_id, by_key.username as key_username
      from django_import_users staged
      left join users by_id on by_id.id = staged.pk
      left join users by_key on staged.valid and by_key.username_key = staged.username_key
      where by_id.id is not null or by_key.id is not null`,
    (row) => ({
      kind: 'exists',
      record: row.seq,
      model: USER_MODEL,
      pk: row.pk,
      message: existingUserMessage(row),
    }),
  );

  await check(
    trx,
    problems,
    sql<{ seq: number; pk: number }>`
      select staged.seq, staged.pk from django_import_items staged
      join items on items.id = staged.pk`,
    (row) => ({
      kind: 'exists',
      record: row.seq,
      model: ITEM_MODEL,
      pk: row.pk,
      message: `id ${row.pk} is taken by an item already here`,
    }),
  );

  await check(
    trx,
    problems,
    sql<{ seq: number; pk: number; user_pk: number }>`
      select staged.seq, staged.pk, staged.user_pk from django_import_items staged
      where staged.user_pk is not null
        and not exists (select 1 from django_import_users users where users.pk = staged.user_pk)`,
    (row) => ({
      kind: 'owner',
      record: row.seq,
      model: ITEM_MODEL,
      pk: row.pk,
      message: `its owner, ${USER_MODEL} pk ${row.user_pk}, is not in the file`,
    }),
  );
}
