import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import { z } from 'zod';
import type { Database } from './types.ts';

/**
 * The notification bus: how every server process sharing one PostgreSQL database hears, at
 * once, what it must forget. Each process remembers the sessions it looked up for a while
 * (auth/recent-sessions.ts); a sign-out, sign-out everywhere, password change or deleted
 * account in one process is sent with `pg_notify` in the same transaction as the delete
 * (PostgreSQL delivers it on commit, and never for a rollback), and every process — the
 * sender too — drops what it names.
 *
 * NOTIFY alone would not make that "at once": PostgreSQL hands the notification to the other
 * processes' connections after the commit, and under load it reached one after the client's
 * next request to it. So every process acknowledges what it has forgotten (a notification
 * of its own), and the sender waits for as many acknowledgements as there are listening
 * connections (`pg_stat_activity`) — at most `ackTimeoutMs` — before its request answers.
 *
 * Each process listens on one connection of its own, outside the pool (a pooled connection
 * is handed to other work, and a `LISTEN` would go with it). While that connection is down
 * — not yet connected, lost, being re-made — notifications may be missed, so `hearsAll` is
 * false and listeners are told `missed()` when it drops and again when it is back; the
 * memory keeps sessions only briefly meanwhile. A heartbeat query notices a connection that
 * died without a word.
 *
 * Personal API tokens need no message: no process remembers them (every request reads
 * `api_tokens`, see auth/tokens.ts `authenticateApiToken`), so a revoked token is refused
 * everywhere on its next use.
 *
 * The embedded database belongs to one process, which makes every change itself: there
 * nothing is sent and `hearsAll` is always true.
 */

/** One channel per database (NOTIFY never crosses databases). */
export const NOTIFICATION_CHANNEL = 'pacil_inventory_forget';

/** What the listening connection is called in `pg_stat_activity`. */
export const LISTENER_APPLICATION_NAME = 'pacil-inventory-listener';

const notificationSchema = z.discriminatedUnion('forget', [
  z.object({ forget: z.literal('session'), id: z.string().min(1) }),
  z.object({ forget: z.literal('user'), id: z.number().int().positive() }),
]);

/** A session (by its id, the SHA-256 of the cookie's token) or every session of a user. */
export type Notification = z.infer<typeof notificationSchema>;

/**
 * What travels: a notification with the key to acknowledge it by (none when sent by hand,
 * `select pg_notify('pacil_inventory_forget', '{"forget":"user","id":5}')`), or an
 * acknowledgement.
 */
const messageSchema = z.union([
  z.object({ acked: z.string().min(1) }).strict(),
  notificationSchema.and(z.object({ ack: z.string().min(1).optional() })),
]);

export interface NotificationListener {
  /** Something every process must forget. */
  received(notification: Notification): void;
  /** Notifications may have been missed (the connection dropped, or is back): forget all. */
  missed(): void;
}

/** A notification sent inside a transaction. */
export interface Delivery {
  /**
   * After the commit: resolves once every process listening has acknowledged it (has
   * forgotten what it names), or after `ackTimeoutMs`. Never rejects.
   */
  delivered(): Promise<void>;
}

const DELIVERED: Delivery = { delivered: async () => undefined };

export interface NotificationBus {
  /** True while this process hears every notification any process sends. */
  readonly hearsAll: boolean;
  /** False on the embedded database, where there is nobody to tell. */
  readonly sends: boolean;
  /**
   * Sends `notification` through `db` — a transaction, so that it is delivered when (and
   * only if) the change it announces commits. Does nothing on the embedded database.
   */
  publish(db: Kysely<Database>, notification: Notification): Promise<Delivery>;
  /** Starts listening (on first use) and calls `listener` from then on; returns an unsubscribe. */
  subscribe(listener: NotificationListener): () => void;
  /** Stops listening; for shutdown. */
  close(): Promise<void>;
}

/** The embedded database's bus: one process, which hears everything it does itself. */
export const LOCAL_BUS: NotificationBus = {
  hearsAll: true,
  sends: false,
  publish: async () => DELIVERED,
  subscribe: () => () => undefined,
  close: async () => undefined,
};

interface Log {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
}

export interface BusOptions {
  databaseUrl: string;
  log?: Log;
  /** Timings; the defaults suit production, tests shorten them. */
  heartbeatMs?: number;
  heartbeatTimeoutMs?: number;
  ackTimeoutMs?: number;
  retryMinMs?: number;
  retryMaxMs?: number;
}

/** The bus on PostgreSQL, or `LOCAL_BUS` on the embedded database (no URL). */
export function openNotificationBus(
  options: Omit<BusOptions, 'databaseUrl'> & { databaseUrl: string | undefined },
): NotificationBus {
  const { databaseUrl } = options;
  return databaseUrl ? new PostgresBus({ ...options, databaseUrl }) : LOCAL_BUS;
}

/** Acknowledgements a sender still waits for. */
interface Waiting {
  /** One more came. */
  acked(): void;
  /** As many as there were listening connections when it was sent. */
  expect(count: number): void;
  /** Stop waiting. */
  finish(): void;
}

const SILENT: Log = { info: () => undefined, warn: () => undefined };

class PostgresBus implements NotificationBus {
  readonly sends = true;
  private readonly options: Required<Omit<BusOptions, 'log'>> & { log: Log };
  private readonly listeners = new Set<NotificationListener>();
  private client: pg.Client | undefined;
  private listening = false;
  private started = false;
  private closed = false;
  private retryMs: number;
  private retryTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  /** Names this process's acknowledgement keys: `<id>:<sequence>`. */
  private readonly id = randomUUID();
  private sequence = 0;
  private readonly waiting = new Map<string, Waiting>();

  constructor(options: BusOptions) {
    this.options = {
      log: SILENT,
      // A connection that died silently is noticed within heartbeatMs + heartbeatTimeoutMs.
      heartbeatMs: 5_000,
      heartbeatTimeoutMs: 3_000,
      // Past this a process that has not acknowledged is stuck or going; the sign-out answers.
      ackTimeoutMs: 1_000,
      retryMinMs: 250,
      retryMaxMs: 10_000,
      ...options,
    };
    this.retryMs = this.options.retryMinMs;
  }

  get hearsAll(): boolean {
    return this.listening;
  }

  async publish(db: Kysely<Database>, notification: Notification): Promise<Delivery> {
    const ack = `${this.id}:${(this.sequence += 1)}`;
    const payload = JSON.stringify({ ...notification, ack });
    // Without a listener of its own this process would hear no acknowledgement. Otherwise
    // it counts them from now: outside a transaction they may come before the count does.
    const waiting = this.listening ? this.awaitAcks(ack) : undefined;
    try {
      // The listening connections, this process's own among them, each acknowledge once.
      // Visible to every role: pg_stat_activity hides other roles' queries, not their names.
      const { rows } = await sql<{ listeners: number }>`
        select pg_notify(${NOTIFICATION_CHANNEL}, ${payload}),
          (select count(*)::int from pg_stat_activity
            where datname = current_database() and application_name = ${LISTENER_APPLICATION_NAME})
          as listeners`.execute(db);
      waiting?.expect(rows[0]?.listeners ?? 0);
    } catch (error) {
      waiting?.finish();
      throw error;
    }
    return waiting ?? DELIVERED;
  }

  subscribe(listener: NotificationListener): () => void {
    this.listeners.add(listener);
    if (!this.started) {
      this.started = true;
      void this.connect();
    }
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.heartbeatTimer);
    const client = this.client;
    this.client = undefined;
    this.listening = false;
    for (const waiting of this.waiting.values()) waiting.finish();
    if (!client) return;
    // A server that went away silently would hold `end` up: the stop does not wait for it.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      client.end().catch(() => undefined),
      new Promise((resolve) => (timer = setTimeout(resolve, this.options.heartbeatTimeoutMs))),
    ]);
    clearTimeout(timer);
  }

  /**
   * Counts the acknowledgements of `ack` until `expect` says how many there are to be. One
   * whose transaction rolled back is never acknowledged: it simply times out.
   */
  private awaitAcks(ack: string): Waiting & Delivery {
    let received = 0;
    let expected: number | undefined;
    let awaited = false;
    let resolve!: () => void;
    const done = new Promise<void>((settle) => (resolve = settle));
    const finish = () => {
      clearTimeout(timer);
      this.waiting.delete(ack);
      resolve();
    };
    const timer = setTimeout(() => {
      if (awaited) {
        this.options.log.warn(
          { missing: (expected ?? 0) - received, ackTimeoutMs: this.options.ackTimeoutMs },
          'not every server process acknowledged a sign-out in time',
        );
      }
      finish();
    }, this.options.ackTimeoutMs);
    timer.unref();
    const waiting: Waiting & Delivery = {
      acked: () => {
        received += 1;
        if (expected !== undefined && received >= expected) finish();
      },
      expect: (count) => {
        expected = count;
        if (received >= count) finish();
      },
      finish,
      delivered: () => {
        awaited = true;
        return done;
      },
    };
    this.waiting.set(ack, waiting);
    return waiting;
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({
      connectionString: this.options.databaseUrl,
      application_name: LISTENER_APPLICATION_NAME,
      connectionTimeoutMillis: this.options.heartbeatTimeoutMs,
      keepAlive: true,
    });
    this.client = client;
    // Unheard, an 'error' event would crash the process; a lost connection is re-made.
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client, new Error('the connection ended')));
    client.on('notification', (message) => {
      if (this.client === client && message.channel === NOTIFICATION_CHANNEL) {
        this.deliver(client, message.payload);
      }
    });
    try {
      await client.connect();
      await client.query(`listen ${NOTIFICATION_CHANNEL}`);
    } catch (error) {
      this.lost(client, error);
      return;
    }
    if (this.client !== client) return;
    this.listening = true;
    this.retryMs = this.options.retryMinMs;
    this.heartbeatTimer = setInterval(() => void this.heartbeat(client), this.options.heartbeatMs);
    this.heartbeatTimer.unref();
    // Whatever was remembered before now may have missed a notification.
    this.tellMissed();
    this.options.log.info({ channel: NOTIFICATION_CHANNEL }, 'listening for notifications');
  }

  private async heartbeat(client: pg.Client): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error('the heartbeat was not answered in time')),
        this.options.heartbeatTimeoutMs,
      );
    });
    try {
      await Promise.race([client.query('select 1'), timeout]);
    } catch (error) {
      this.lost(client, error);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The listening connection failed (once per connection; later reports are ignored). */
  private lost(client: pg.Client, error: unknown): void {
    if (this.client !== client) return;
    this.client = undefined;
    this.listening = false;
    clearInterval(this.heartbeatTimer);
    // No acknowledgement can reach this process now: nobody waits for one in vain.
    for (const waiting of this.waiting.values()) waiting.finish();
    // Ends the socket even when it hangs; the 'error' listener above stays, so nothing leaks out.
    client.end().catch(() => undefined);
    if (this.closed) return;
    this.tellMissed();
    this.options.log.warn(
      { err: error instanceof Error ? error.message : String(error), retryMs: this.retryMs },
      'notification listener lost its connection; sessions are kept only briefly until it is back',
    );
    this.retryTimer = setTimeout(() => void this.connect(), this.retryMs);
    this.retryTimer.unref();
    this.retryMs = Math.min(this.retryMs * 2, this.options.retryMaxMs);
  }

  private deliver(client: pg.Client, payload: string | undefined): void {
    let message: z.infer<typeof messageSchema>;
    try {
      message = messageSchema.parse(JSON.parse(payload ?? ''));
    } catch {
      // From a newer version, perhaps: what it meant to end is unknown, so forget everything.
      this.options.log.warn({ channel: NOTIFICATION_CHANNEL }, 'unknown notification');
      this.tellMissed();
      return;
    }
    if ('acked' in message) {
      this.waiting.get(message.acked)?.acked();
      return;
    }
    const notification: Notification =
      message.forget === 'session'
        ? { forget: 'session', id: message.id }
        : { forget: 'user', id: message.id };
    for (const listener of this.listeners) listener.received(notification);
    if (message.ack === undefined) return;
    // Forgotten: now the sender may answer. A failure here is the connection's, handled there.
    const acked = JSON.stringify({ acked: message.ack });
    client.query('select pg_notify($1, $2)', [NOTIFICATION_CHANNEL, acked]).catch(() => undefined);
  }

  private tellMissed(): void {
    for (const listener of this.listeners) listener.missed();
  }
}
