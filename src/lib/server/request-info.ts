import { config } from './config.ts';

/**
 * Facts about a request that depend on whether a proxy we trust stands in front of us.
 * Without TRUST_PROXY, forwarded headers are the client's to forge and are ignored.
 */

/** The client's address: the socket's, or the last hop a trusted proxy appended. */
export function clientAddressOf(request: Request, socketAddress: string | undefined): string {
  if (config().TRUST_PROXY) {
    const forwarded = request.headers.get('x-forwarded-for');
    const last = forwarded?.split(',').at(-1)?.trim();
    if (last) return last;
  }
  return socketAddress ?? 'unknown';
}

/** True when the browser reached us over HTTPS, directly or through a trusted proxy. */
export function isHttpsRequest(request: Request): boolean {
  if (new URL(request.url).protocol === 'https:') return true;
  return config().TRUST_PROXY && request.headers.get('x-forwarded-proto') === 'https';
}
