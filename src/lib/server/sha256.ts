import { createHash } from 'node:crypto';

/** SHA-256 in hex: how tokens, session ids and request fingerprints are stored. */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
