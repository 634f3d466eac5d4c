/**
 * Runs expensive work (password hashing) at most `concurrency` at a time, sharing the free
 * slots fairly between clients: waiting work is served one client at a time, in turn, so a
 * burst from one client waits behind itself, not in front of everyone else. Beyond
 * `maxWaiting` queued runs, new work is refused at once (`GateBusyError`) rather than queued
 * without end.
 */
export class GateBusyError extends Error {
  override name = 'GateBusyError';
  constructor() {
    super('Too much work is waiting already.');
  }
}

export interface FairGateOptions {
  concurrency: number;
  maxWaiting: number;
}

export class FairGate {
  private running = 0;
  private waiting = 0;
  /** Waiting runs by client; the Map's order is the order in which clients take turns. */
  private readonly queues = new Map<string, Array<() => void>>();
  private readonly options: FairGateOptions;

  constructor(options: FairGateOptions) {
    this.options = options;
  }

  async run<T>(client: string, work: () => Promise<T>): Promise<T> {
    await this.acquire(client);
    try {
      return await work();
    } finally {
      this.release();
    }
  }

  private acquire(client: string): Promise<void> {
    if (this.running < this.options.concurrency) {
      this.running += 1;
      return Promise.resolve();
    }
    if (this.waiting >= this.options.maxWaiting) return Promise.reject(new GateBusyError());
    this.waiting += 1;
    return new Promise((resolve) => {
      const queue = this.queues.get(client);
      if (queue) queue.push(resolve);
      else this.queues.set(client, [resolve]);
    });
  }

  /** Hands the slot to the client whose turn it is, which then goes to the back of the line. */
  private release(): void {
    const next = this.queues.entries().next();
    if (next.done === true) {
      this.running -= 1;
      return;
    }
    const [client, queue] = next.value;
    const resolve = queue.shift()!;
    this.queues.delete(client);
    if (queue.length > 0) this.queues.set(client, queue);
    this.waiting -= 1;
    resolve();
  }
}
