import { OAuthError } from '../../lib/errors';
import { Rule } from './rule';

/** What the liveness of an access token depends on. */
export interface AccessTokenState {
  revokedAt: Date | null;
  expiresAt: Date;
  grantRevokedAt: Date | null;
  userDisabledAt: Date | null;
}

type AccessRule = Rule<AccessTokenState, { now: Date }, Record<string, never>>;

// The bearer check answers every dead token alike (RFC 6750 §3.1).
const dead = { error: new OAuthError(401, 'invalid_token', 'The access token is invalid, expired or revoked.') };

/**
 * RFC 6750 §3.1: a live access token is unexpired, unrevoked, and its grant and user are live.
 * The bearer check runs the SQL form (aliases t token, g grant, u user); the cache drops an entry
 * by the function form when its token expires.
 */
export const accessTokenRules: readonly AccessRule[] = [
  { name: 'not revoked', check: (t) => (t.revokedAt ? dead : undefined), sql: () => 't.revoked_at IS NULL' },
  { name: 'not expired', check: (t, c) => (t.expiresAt <= c.now ? dead : undefined), sql: () => 't.expires_at > now()' },
  {
    name: 'grant and user live',
    check: (t) => (t.grantRevokedAt || t.userDisabledAt ? dead : undefined),
    sql: () => 'g.revoked_at IS NULL AND u.disabled_at IS NULL',
  },
];

export const isLiveAccessToken = (t: AccessTokenState, now = new Date()): boolean => accessTokenRules.every((r) => r.check(t, { now }) === undefined);
