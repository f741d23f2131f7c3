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

/**
 * The same tokens, drawn from the CSPRNG 4 kB at a time: one call per 128 tokens instead of one
 * per token (5% of a refresh in the profile). Each chunk is handed out once. For the hot paths.
 */
export class TokenGenerator {
  private pool = Buffer.alloc(0);
  private offset = 0;

  token(prefix: string): string {
    if (this.offset + 32 > this.pool.length) {
      this.pool = randomBytes(4096);
      this.offset = 0;
    }
    const chunk = this.pool.subarray(this.offset, this.offset + 32);
    this.offset += 32;
    return prefix + chunk.toString('base64url');
  }
}

/**
 * Constant-time comparison of two SHA-256 hex digests (what we store). Both are already of fixed
 * length, so unlike safeEqual nothing needs hashing again: this runs on every refresh.
 */
export function sameDigest(a: string, b: string): boolean {
  const ba = Buffer.from(a, 'hex');
  const bb = Buffer.from(b, 'hex');
  return ba.length === 32 && bb.length === 32 && timingSafeEqual(ba, bb);
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
  passwordReset: 'lb_pr_',
  emailConfirmation: 'lb_ec_',
} as const;
