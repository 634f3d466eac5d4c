import { apiJson, publicApiEndpoint } from '../../lib/server/api/http.ts';
import { OPENAPI_DOCUMENT } from '../../lib/server/api/openapi.ts';

/** The API's description; public, since it says nothing about anyone's items. */
export const ALL = publicApiEndpoint({
  GET: () => apiJson(200, OPENAPI_DOCUMENT),
});
