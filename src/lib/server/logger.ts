import { pino } from 'pino';
import { config } from './config.ts';

/**
 * One structured logger for the process. Cookies, tokens and passwords are never passed to
 * it; the redact list is a second line of defence for headers logged by mistake.
 */
export const logger = pino({
  level: config().LOG_LEVEL,
  base: undefined,
  timestamp: pino.stdTimeFunctions.isoTime,
  formatters: { level: (label) => ({ level: label }) },
  redact: {
    paths: ['*.headers.cookie', '*.headers.authorization', '*.password', '*.token'],
    censor: '[redacted]',
  },
});
