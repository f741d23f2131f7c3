import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** SHA-256 hex of a secret value: what we store for tokens, codes and client secrets. */
export function sha256(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

/**
 * An opaque random token: a short type prefix (so a leaked token is recognisable and one kind can
 * never pass as another) and 32 random bytes in base64url, which uses only unreserved characters.
 * Synchronous randomBytes on purpose: the async version waits on libuv's pool behind password
 * hashing (design.md, hot paths).
 */
export function randomToken(prefix = ''): string {
  return prefix + randomBytes(32).toString('base64url');
}

/** Constant-time comparison of two strings (hash both so length differences do not leak). */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a, 'utf8').digest();
  const hb = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(ha, hb) && a.length === b.length;
}

export const TOKEN_PREFIX = {
  accessToken: 'lb_at_',
  refreshToken: 'lb_rt_',
  authorizationCode: 'lb_ac_',
  clientSecret: 'lb_cs_',
  transaction: 'lb_tx_',
} as const;
