import type { APIRoute } from 'astro';
import { exportResponse } from '../../lib/server/export/index.ts';

/** Every item of the caller, as Django's XML serializer wrote them. */
export const ALL: APIRoute = (context) => exportResponse(context, 'xml');
