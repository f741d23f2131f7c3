import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Device cookies (OWASP, "Slow Down Online Guessing Attacks with Device Cookies"): a browser that
 * signed in to an account gets a signed token naming that account. Failed attempts from a browser
 * presenting a valid one are counted under that device alone, so a stranger's failures (which
 * count against the account's untrusted-client limit) cannot lock the real user's browser out.
 *
 * Value: `v1.<user id>.<expires, unix seconds>.<nonce>.<mac>`, mac = HMAC-SHA256 over everything
 * before it, with a key derived from the session secret for this purpose only. The nonce is 128
 * random bits, fresh at every successful sign-in; it names the device's throttle counter.
 */
export const DEVICE_COOKIE = 'lb.device';
export const DEVICE_COOKIE_TTL_SECONDS = 180 * 24 * 3600;

const FORMAT = /^v1\.([1-9]\d{0,14})\.(\d{1,12})\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;

export interface DeviceToken {
  userId: number;
  nonce: string;
}

export class DeviceCookies {
  private readonly key: Buffer;

  /** Without a secret (the CLI) the key is random: nothing it signs outlives the process. */
  constructor(secret: string | undefined, readonly ttlSeconds = DEVICE_COOKIE_TTL_SECONDS) {
    this.key = createHmac('sha256', secret ?? randomBytes(32)).update('linkbridge/device-cookie/v1').digest();
  }

  private mac(payload: string): string {
    return createHmac('sha256', this.key).update(payload).digest('base64url');
  }

  issue(userId: number, now = Date.now()): string {
    const payload = `v1.${userId}.${Math.floor(now / 1000) + this.ttlSeconds}.${randomBytes(16).toString('base64url')}`;
    return `${payload}.${this.mac(payload)}`;
  }

  /** The token when `value` is one we signed and it has not expired; anything else is undefined. */
  verify(value: unknown, now = Date.now()): DeviceToken | undefined {
    if (typeof value !== 'string' || value.length > 200) return undefined;
    const m = FORMAT.exec(value);
    if (!m) return undefined;
    const payload = value.slice(0, value.lastIndexOf('.'));
    const expected = Buffer.from(this.mac(payload));
    const given = Buffer.from(m[4]);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return undefined;
    if (Number(m[2]) * 1000 <= now) return undefined;
    return { userId: Number(m[1]), nonce: m[3] };
  }
}

/** The first value of cookie `name` in a Cookie header (no decoding: our values are base64url). */
export { cookieValue as readCookie } from '../http/cookies';
