import type { APIRoute } from 'astro';
import { exportResponse } from '../../lib/server/export/index.ts';

/** One item of the caller as a one-element list; any other id gives the empty list. */
export const ALL: APIRoute = (context) => exportResponse(context, 'xml', context.params.id ?? '');
