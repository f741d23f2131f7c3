import { createHash } from 'node:crypto';
import { safeEqual } from '../../lib/crypto';
import { oauthErrors } from '../../lib/errors';
import { AuthorizationCode } from '../domain';
import { Rule } from './rule';

/** The token request a code is redeemed with. */
export interface CodeContext {
  clientId: number;
  /** The client's scopes now (a code issued before a narrowing yields only what is left). */
  clientScopes: string[];
  now: Date;
  redirectUri?: string;
  codeVerifier?: string;
}

type CodeRule = Rule<AuthorizationCode, CodeContext, Record<string, never>>;

/**
 * RFC 6749 §4.1.3 and RFC 7636 §4.6, in the order that decides the error. The guards come first:
 * a code that passes them is spent by the attempt whatever the checks then say, so a PKCE
 * verifier cannot be guessed at twice. Aliases of the SQL forms: c (code), g (grant), u (user).
 */
export const codeGuards: readonly CodeRule[] = [
  {
    name: 'issued to the client',
    check: (code, c) => (code.clientId === c.clientId ? undefined : { error: oauthErrors.invalidGrant('The authorization code is invalid.') }),
  },
  {
    // A replayed code: everything issued from it is revoked (RFC 6749 §4.1.2, RFC 9700 §4.2.4).
    name: 'not yet redeemed',
    check: (code) =>
      code.consumedAt ? { error: oauthErrors.invalidGrant('The authorization code has already been used.'), consequence: 'revoke-issued-from-code' } : undefined,
    sql: () => 'c.consumed_at IS NULL',
  },
];

export const codeChecks: readonly CodeRule[] = [
  {
    name: 'not expired',
    check: (code, c) => (code.expiresAt <= c.now ? { error: oauthErrors.invalidGrant('The authorization code has expired.') } : undefined),
    sql: () => 'c.expires_at > now()',
  },
  {
    name: 'grant and user live',
    check: (code) => (code.grantRevokedAt || code.userDisabledAt ? { error: oauthErrors.invalidGrant('The authorization is no longer valid.') } : undefined),
    sql: () => 'g.revoked_at IS NULL AND u.disabled_at IS NULL',
  },
  {
    name: 'allowed for the client now',
    check: (code, c) =>
      code.scope.some((s) => c.clientScopes.includes(s)) ? undefined : { error: oauthErrors.invalidGrant('This app may no longer use any scope of this authorization.') },
  },
  {
    // §4.1.3: required when the authorization request had one, and then identical.
    name: 'same redirect URI',
    check: (code, c) =>
      (code.redirectUriInRequest || c.redirectUri !== undefined) && c.redirectUri !== code.redirectUri
        ? { error: oauthErrors.invalidGrant('The redirect_uri does not match the one of the authorization request.') }
        : undefined,
  },
  {
    name: 'PKCE verifier matches',
    check: (code, c) => {
      if (code.codeChallenge) {
        if (c.codeVerifier === undefined) return { error: oauthErrors.invalidGrant('The code_verifier is missing (PKCE).') };
        const computed = createHash('sha256').update(c.codeVerifier, 'ascii').digest('base64url');
        return safeEqual(computed, code.codeChallenge) ? undefined : { error: oauthErrors.invalidGrant('The code_verifier does not match the code_challenge.') };
      }
      // A verifier for a request that had no challenge: a downgrade attempt (RFC 9700 §4.8.2).
      return c.codeVerifier !== undefined
        ? { error: oauthErrors.invalidGrant('A code_verifier was sent but the authorization request had no code_challenge.') }
        : undefined;
    },
  },
];

/** What a redeemed code issues: its scope, less what the client no longer has. */
export const codeIssuedScope = (code: Pick<AuthorizationCode, 'scope'>, c: Pick<CodeContext, 'clientScopes'>): string[] =>
  code.scope.filter((s) => c.clientScopes.includes(s));

export const codeRules: readonly CodeRule[] = [...codeGuards, ...codeChecks];
