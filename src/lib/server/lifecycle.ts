type ShutdownHook = () => Promise<void>;

/**
 * Shutdown hooks live on a process-wide registry rather than in module state because the
 * start script (run from source) and the built server bundle each hold their own copy of
 * this module; `Symbol.for` gives both the same list.
 */
const REGISTRY = Symbol.for('pacil-inventory.shutdown-hooks');

function hooks(): ShutdownHook[] {
  const holder = globalThis as { [REGISTRY]?: ShutdownHook[] };
  holder[REGISTRY] ??= [];
  return holder[REGISTRY];
}

/** Runs `hook` when the server stops, after requests in flight have finished. */
export function onShutdown(hook: ShutdownHook): void {
  hooks().push(hook);
}

/** Runs every registered hook once, newest first; a failing hook does not stop the others. */
export async function runShutdownHooks(): Promise<void> {
  const failures: unknown[] = [];
  for (const hook of hooks().splice(0).reverse()) {
    try {
      await hook();
    } catch (error) {
      failures.push(error);
    }
  }
  if (failures.length > 0) throw new AggregateError(failures, 'A shutdown hook failed.');
}
