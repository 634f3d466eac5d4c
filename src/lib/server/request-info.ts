import { isIP } from 'node:net';
import { config } from './config.ts';

/**
 * Facts about a request that depend on whether a proxy we trust stands in front of us.
 * Without TRUST_PROXY, forwarded headers are the client's to forge and are ignored.
 */

/**
 * An IP address in the form it is counted under, or undefined when `value` is not one. An
 * IPv6 zone (`fe80::1%eth0`) names the receiving interface, not the client, and may be of any
 * length, so it is dropped.
 */
function parseIpAddress(value: string | undefined): string | undefined {
  const address = value?.trim().split('%', 1)[0];
  return address && isIP(address) !== 0 ? address.toLowerCase() : undefined;
}

/**
 * The client's address: the last hop a trusted proxy appended, or the socket's. A forwarded
 * entry that is not an IP address is ignored rather than trusted: limits are counted per
 * address, and a key of the client's choosing could be anything, of any length.
 */
export function clientAddressOf(request: Request, socketAddress: string | undefined): string {
  if (config().TRUST_PROXY) {
    const forwarded = parseIpAddress(request.headers.get('x-forwarded-for')?.split(',').at(-1));
    if (forwarded) return forwarded;
  }
  return parseIpAddress(socketAddress) ?? 'unknown';
}

/** True when the browser reached us over HTTPS, directly or through a trusted proxy. */
export function isHttpsRequest(request: Request): boolean {
  if (new URL(request.url).protocol === 'https:') return true;
  return config().TRUST_PROXY && request.headers.get('x-forwarded-proto') === 'https';
}
