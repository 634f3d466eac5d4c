import type { APIRoute } from 'astro';
import { db, pingDatabase } from '../lib/server/db/index.ts';

/** Liveness for load balancers: 200 when the database answers, 503 when it does not. */
export const GET: APIRoute = async () => {
  const headers = { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' };
  try {
    await pingDatabase(db);
    return new Response(JSON.stringify({ status: 'ok' }), { status: 200, headers });
  } catch {
    return new Response(JSON.stringify({ status: 'unavailable' }), { status: 503, headers });
  }
};
