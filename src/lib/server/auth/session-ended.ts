/**
 * A session or token can outlive its account, or its own end, for a moment: the account
 * was deleted, or the session ended, by another request, another process, or between two
 * queries of this one. Such a request is a signed-out request, wherever that is noticed: by
 * a query that finds no user or session row (`SessionEndedError`), or by the database
 * refusing a row that refers to a deleted user (a foreign-key violation on `users`). The
 * request pipeline answers both as it answers an anonymous request.
 */
export class SessionEndedError extends Error {
  override name = 'SessionEndedError';
  constructor() {
    super('The session or the account behind this request has ended.');
  }
}

const FOREIGN_KEY_VIOLATION = '23503';

export function isSessionEnded(error: unknown): boolean {
  if (error instanceof SessionEndedError) return true;
  const { code, detail } = (error ?? {}) as { code?: unknown; detail?: unknown };
  // PostgreSQL's detail for an insert or update that refers to a missing row.
  return (
    code === FOREIGN_KEY_VIOLATION &&
    typeof detail === 'string' &&
    detail.endsWith('is not present in table "users".')
  );
}
