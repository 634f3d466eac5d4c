import { problemResponse, problems } from '../../lib/server/http/problems.ts';

/** An address under /api that names nothing: a JSON 404, as the rest of the API answers. */
export const ALL = () =>
  problemResponse('json', problems.notFound('There is no such address in this API.'));
