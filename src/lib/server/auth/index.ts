import { db, notifications } from '../db/index.ts';
import { createLucia } from './lucia.ts';

/** Lucia bound to the process's database, hearing what other processes on it end. */
export const auth = createLucia(db, notifications);
