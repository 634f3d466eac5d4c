import type { DatabaseSession, DatabaseUser } from 'lucia';

export type SessionAndUser = [session: DatabaseSession, user: DatabaseUser];

export interface RecentSessionsOptions {
  /** How long a looked-up session is answered from memory. */
  ttlMs: number;
  /**
   * How long at most while a change made by another process might not reach this one (the
   * notification bus is not listening): `ttlMs` when not given.
   */
  unheardTtlMs?: number;
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
 * account deleted, an extension) update the cache at once; those made by another process
 * sharing the database arrive as notifications (db/notifications.ts) and are forgotten here
 * the same way. `hearsAll` says whether every such notification reaches this process: while
 * it does not, a session is kept at most `unheardTtlMs`, and the caller clears the memory
 * (`clear`) whenever notifications may have been missed. A change made behind the server's
 * back (plain SQL) counts once the entry is older than its ttl.
 */
export class RecentSessions {
  private readonly entries = new Map<string, { until: number; value: SessionAndUser }>();
  /** Counts forgets, so a lookup that raced one does not store what it read before it. */
  private forgets = 0;
  private readonly options: RecentSessionsOptions;
  private readonly hearsAll: () => boolean;

  constructor(options: RecentSessionsOptions, hearsAll: () => boolean = () => true) {
    this.options = options;
    this.hearsAll = hearsAll;
  }

  /** How long a session remembered now is kept. */
  private ttlMs(): number {
    const { ttlMs, unheardTtlMs = ttlMs } = this.options;
    return this.hearsAll() ? ttlMs : Math.min(ttlMs, unheardTtlMs);
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
    const ttlMs = this.ttlMs();
    if (ttlMs <= 0 || mark !== this.forgets) return;
    if (this.entries.size >= this.options.maxEntries && !this.entries.has(sessionId)) {
      const oldest = this.entries.keys().next();
      if (oldest.done !== true) this.entries.delete(oldest.value);
    }
    this.entries.delete(sessionId);
    this.entries.set(sessionId, { until: performance.now() + ttlMs, value });
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

  /** Forgets everything, lookups under way included: notifications may have been missed. */
  clear(): void {
    this.forgets += 1;
    this.entries.clear();
  }
}
