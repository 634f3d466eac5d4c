import { describe, expect, it } from 'vitest';
import { RecentSessions, type SessionAndUser } from '../../src/lib/server/auth/recent-sessions.ts';

function sessionOf(id: string, userId: number): SessionAndUser {
  return [
    { id, userId, expiresAt: new Date(Date.now() + 60_000), attributes: {} },
    { id: userId, attributes: { username: `user${userId}` } },
  ];
}

describe('RecentSessions', () => {
  it('does not keep what a lookup read before a forget that happened during it', () => {
    const recent = new RecentSessions({ ttlMs: 60_000, maxEntries: 10 });
    const mark = recent.lookupStarted();
    // Meanwhile, the session was deleted (sign-out) and forgotten.
    recent.forgetSession('a');
    recent.remember('a', sessionOf('a', 1), mark);
    expect(recent.get('a')).toBeUndefined();

    const racedUser = recent.lookupStarted();
    recent.forgetUser(2);
    recent.remember('b', sessionOf('b', 2), racedUser);
    expect(recent.get('b')).toBeUndefined();

    recent.remember('c', sessionOf('c', 3), recent.lookupStarted());
    expect(recent.get('c')?.[1].id).toBe(3);
  });

  it('forgets every session of one user and only those', () => {
    const recent = new RecentSessions({ ttlMs: 60_000, maxEntries: 10 });
    for (const [id, userId] of [
      ['a', 1],
      ['b', 1],
      ['c', 2],
    ] as const) {
      recent.remember(id, sessionOf(id, userId), recent.lookupStarted());
    }
    recent.forgetUser(1);
    expect([recent.get('a'), recent.get('b')]).toEqual([undefined, undefined]);
    expect(recent.get('c')?.[0].id).toBe('c');
  });

  it('holds at most maxEntries, dropping the oldest', () => {
    const recent = new RecentSessions({ ttlMs: 60_000, maxEntries: 3 });
    for (const id of ['a', 'b', 'c', 'd']) {
      recent.remember(id, sessionOf(id, 1), recent.lookupStarted());
    }
    expect(['a', 'b', 'c', 'd'].map((id) => recent.get(id)?.[0].id)).toEqual([
      undefined,
      'b',
      'c',
      'd',
    ]);
  });

  it('lets entries go after ttlMs, and keeps nothing with a ttl of 0', async () => {
    const recent = new RecentSessions({ ttlMs: 40, maxEntries: 3 });
    recent.remember('a', sessionOf('a', 1), recent.lookupStarted());
    expect(recent.get('a')).toBeDefined();
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(recent.get('a')).toBeUndefined();

    const none = new RecentSessions({ ttlMs: 0, maxEntries: 3 });
    none.remember('a', sessionOf('a', 1), none.lookupStarted());
    expect(none.get('a')).toBeUndefined();
  });

  it('carries a new expiry date to the remembered session', () => {
    const recent = new RecentSessions({ ttlMs: 60_000, maxEntries: 3 });
    recent.remember('a', sessionOf('a', 1), recent.lookupStarted());
    const later = new Date(Date.now() + 3_600_000);
    recent.extend('a', later);
    expect(recent.get('a')?.[0].expiresAt).toEqual(later);
  });

  it('keeps sessions only unheardTtlMs while changes made elsewhere may not reach it', async () => {
    let hearsAll = false;
    const recent = new RecentSessions(
      { ttlMs: 60_000, unheardTtlMs: 40, maxEntries: 3 },
      () => hearsAll,
    );
    recent.remember('a', sessionOf('a', 1), recent.lookupStarted());
    hearsAll = true;
    recent.remember('b', sessionOf('b', 2), recent.lookupStarted());
    await new Promise((resolve) => setTimeout(resolve, 60));
    // Remembered while not hearing: gone after the short ttl, even once hearing again.
    expect(recent.get('a')).toBeUndefined();
    expect(recent.get('b')?.[0].id).toBe('b');
  });

  it('forgets everything on clear, and a lookup under way keeps nothing', () => {
    const recent = new RecentSessions({ ttlMs: 60_000, maxEntries: 3 });
    recent.remember('a', sessionOf('a', 1), recent.lookupStarted());
    const mark = recent.lookupStarted();
    recent.clear();
    expect(recent.get('a')).toBeUndefined();
    recent.remember('b', sessionOf('b', 2), mark);
    expect(recent.get('b')).toBeUndefined();
  });
});
