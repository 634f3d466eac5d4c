import type { DatabaseSession, DatabaseUser } from 'lucia';

export type SessionAndUser = [session: DatabaseSession, user: DatabaseUser];

export interface RecentSessionsOptions {
  /** How long a looked-up session is answered from memory. */
  ttlMs: number;
  /** The most sessions kept; the oldest entry makes room for a new one. */
  maxEntries: number;
}

/**
 * Sessions this process looked up in the last moments. Every request of a signed-in browser
 * or script carries its session, and a page or an export triggers several requests in a
 * burst: answering the repeats from memory saves a database round trip each (measured in
 * bench/RESULTS.md). Lucia still checks expiry and extends sessions on every request,
 * from the cached expiry date.
 *
 * Changes made through this process (sign-out, sign-out everywhere, a password change, an
 * account deleted, an extension) update the cache at once. A change made by another process
 * sharing the database reaches this one within `ttlMs`, which is why it is kept short.
 */
export class RecentSessions {
  private readonly entries = new Map<string, { until: number; value: SessionAndUser }>();
  /** Counts forgets, so a lookup that raced one does not store what it read before it. */
  private forgets = 0;
  private readonly options: RecentSessionsOptions;

  constructor(options: RecentSessionsOptions) {
    this.options = options;
  }

  /** A mark to pass to `remember` for a lookup that starts now. */
  lookupStarted(): number {
    return this.forgets;
  }

  get(sessionId: string): SessionAndUser | undefined {
    const entry = this.entries.get(sessionId);
    if (entry === undefined) return undefined;
    if (entry.until > performance.now()) return entry.value;
    this.entries.delete(sessionId);
    return undefined;
  }

  /** Keeps what a lookup begun at `mark` found, unless something was forgotten meanwhile. */
  remember(sessionId: string, value: SessionAndUser, mark: number): void {
    if (this.options.ttlMs <= 0 || mark !== this.forgets) return;
    if (this.entries.size >= this.options.maxEntries && !this.entries.has(sessionId)) {
      const oldest = this.entries.keys().next();
      if (oldest.done !== true) this.entries.delete(oldest.value);
    }
    this.entries.delete(sessionId);
    this.entries.set(sessionId, { until: performance.now() + this.options.ttlMs, value });
  }

  /** The session's expiry changed: later hits must see the new date, as the database does. */
  extend(sessionId: string, expiresAt: Date): void {
    const entry = this.entries.get(sessionId);
    if (entry) entry.value = [{ ...entry.value[0], expiresAt }, entry.value[1]];
  }

  forgetSession(sessionId: string): void {
    this.forgets += 1;
    this.entries.delete(sessionId);
  }

  forgetUser(userId: number): void {
    this.forgets += 1;
    for (const [sessionId, entry] of this.entries) {
      if (entry.value[0].userId === userId) this.entries.delete(sessionId);
    }
  }
}
