/**
 * Requests per caller and minute on the data endpoints, whether the caller is a personal API
 * token or a browser session: a fixed one-minute window per caller, counted in this process.
 * With several server processes each one counts on its own, so a caller whose requests are
 * spread over n processes may make up to n times this many; tokens and sessions are meant
 * for people and their scripts, and the point is that a runaway script cannot monopolise the
 * server, not an exact quota.
 */
export const API_REQUESTS_PER_MINUTE = 600;

/** The budget's key for a caller: tokens and sessions never share one. */
export const apiCaller = {
  token: (tokenId: number) => `token:${tokenId}`,
  session: (sessionId: string) => `session:${sessionId}`,
};

const windows = new Map<string, { startedAt: number; count: number }>();

/** Seconds until the caller may make another request, or 0 when this one is within budget. */
export function takeApiRequest(caller: string, now = Date.now()): number {
  const window = windows.get(caller);
  if (!window || now - window.startedAt >= 60_000) {
    // A bound on memory: forgetting every window only ever lets requests through.
    if (windows.size > 10_000) windows.clear();
    windows.set(caller, { startedAt: now, count: 1 });
    return 0;
  }
  window.count += 1;
  if (window.count <= API_REQUESTS_PER_MINUTE) return 0;
  return Math.max(1, Math.ceil((window.startedAt + 60_000 - now) / 1000));
}
