import { availableParallelism } from 'node:os';
import { z } from 'zod';

/**
 * Every setting the server reads from the environment, parsed once. A bad value stops the
 * process at start with a message naming the variable, instead of failing on first use.
 */
const emptyAsUndefined = (value: unknown) => (value === '' ? undefined : value);

const booleanFlag = z.preprocess(
  emptyAsUndefined,
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'must be true or false' })
    .default('false')
    .transform((value) => value === 'true' || value === '1' || value === 'yes'),
);

const MAX_PROCESSES = 1024;
const PROCESS_COUNT = `must be a whole number from 1 to ${MAX_PROCESSES}, or auto (one per core)`;

const configSchema = z.object({
  HOST: z.preprocess(emptyAsUndefined, z.string().default('localhost')),
  PORT: z.preprocess(
    emptyAsUndefined,
    z.coerce
      .number({ error: 'must be a port number' })
      .int('must be a whole number')
      .min(0, 'must be between 0 and 65535')
      .max(65535, 'must be between 0 and 65535')
      .default(4321),
  ),
  DATABASE_URL: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
      .optional(),
  ),
  DB_POOL_SIZE: z.preprocess(
    emptyAsUndefined,
    z.coerce
      .number({ error: 'must be a number' })
      .int('must be a whole number')
      .min(1, 'must be at least 1')
      .max(1000, 'must be at most 1000')
      .default(10),
  ),
  DATA_DIR: z.preprocess(emptyAsUndefined, z.string().default('./data')),
  /** Server processes `npm start` runs (node:cluster); `auto` is one per core. */
  WEB_CONCURRENCY: z.preprocess(
    emptyAsUndefined,
    z
      .union(
        [
          z.literal('auto').transform(() => availableParallelism()),
          z.coerce
            .number()
            .int(PROCESS_COUNT)
            .min(1, PROCESS_COUNT)
            .max(MAX_PROCESSES, PROCESS_COUNT),
        ],
        { error: PROCESS_COUNT },
      )
      .default(1),
  ),
  LOG_LEVEL: z.preprocess(
    emptyAsUndefined,
    z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  ),
  TRUST_PROXY: booleanFlag,
  HEADERS_TIMEOUT_SECONDS: z.preprocess(
    emptyAsUndefined,
    z.coerce
      .number({ error: 'must be a number of seconds' })
      .int('must be a whole number')
      .min(1, 'must be at least 1')
      .max(3600, 'must be at most 3600')
      .default(60),
  ),
  APP_NAME: z.preprocess(emptyAsUndefined, z.string().default('pacil-inventory')),
  STUDENT_NAME: z.preprocess(
    emptyAsUndefined,
    z.string().default('William Joel Matthew Quinn Rompis'),
  ),
  CLASS_NAME: z.preprocess(emptyAsUndefined, z.string().default('PBP A')),
});

export type Config = z.infer<typeof configSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function parseConfig(env: Record<string, string | undefined>): Config {
  const result = configSchema.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues.map(
      (issue) =>
        `${issue.path.join('.')}: ${issue.message} (got ${JSON.stringify(env[String(issue.path[0])])})`,
    );
    throw new ConfigError(`Invalid environment configuration:\n  ${problems.join('\n  ')}`);
  }
  return result.data;
}

let cached: Config | undefined;

/** The process's configuration, parsed from `process.env` on first use. */
export function config(): Config {
  cached ??= parseConfig(process.env);
  return cached;
}
