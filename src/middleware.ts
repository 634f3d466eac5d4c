import { defineMiddleware, sequence } from 'astro:middleware';
import { randomUUID } from 'node:crypto';
import { isDatabaseUnavailable } from './lib/server/db/connect.ts';
import { logger } from './lib/server/logger.ts';
import { REQUEST_ID_HEADER } from './lib/server/node-server.ts';
import { databaseUnavailable } from './lib/server/responses.ts';

/**
 * 1. Request context: the request id from the Node front, and the one place where a lost
 *    database becomes a 503 instead of an error page.
 */
const requestContext = defineMiddleware(async (context, next) => {
  context.locals.requestId = context.request.headers.get(REQUEST_ID_HEADER) ?? randomUUID();
  try {
    return await next();
  } catch (error) {
    if (!isDatabaseUnavailable(error)) throw error;
    logger.warn(
      { requestId: context.locals.requestId, err: (error as Error).message },
      'database unavailable',
    );
    return databaseUnavailable(context.request);
  }
});

export const onRequest = sequence(requestContext);
