import { sql, type SelectQueryBuilder } from 'kysely';

/**
 * Every row of a query in `id` order, a batch at a time: keyset pagination (`id > last`,
 * ordered by id, limited), so a reader of any number of rows holds one batch in memory and
 * each batch is an index range scan, however far in it starts. The query selects from one
 * table with an integer `id` primary key and must select `id`; it may filter (`where`) but
 * not order or limit. A batch shorter than `batchSize` is the last one.
 */
export async function* keysetBatches<DB, TB extends keyof DB, Row extends { id: number }>(
  query: SelectQueryBuilder<DB, TB, Row>,
  batchSize: number,
): AsyncGenerator<Row[]> {
  let after = 0;
  for (;;) {
    const batch = await query
      .where(sql<boolean>`id > ${after}`)
      .orderBy(sql`id`)
      .limit(batchSize)
      .execute();
    if (batch.length === 0) return;
    yield batch;
    if (batch.length < batchSize) return;
    after = batch.at(-1)!.id;
  }
}
