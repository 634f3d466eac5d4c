/** The largest value of PostgreSQL's `integer`, and so of any id. */
export const MAX_ROW_ID = 2_147_483_647;
