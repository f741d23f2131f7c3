import { oauthErrors } from '../../lib/errors';
import { RefreshToken } from '../domain';
import { Rule } from './rule';

/** The request a refresh token is checked against. */
export interface RefreshContext {
  clientId: number;
  now: Date;
  /** Requested narrower scope; null: the token's own scope. */
  scope: string[] | null;
  /** The client's scopes now: a token never carries one its client no longer has. */
  clientScopes: string[];
  graceSeconds: number;
  /** The client's policy now: under rotation a reuse after the grace window revokes the grant. */
  rotate: boolean;
}

/** Placeholders of the fast path's statement; aliases: r (refresh token), g (grant), u (user). */
export interface RefreshPlaceholders {
  clientId: string;
  scope: string;
  clientScopes: string;
  graceSeconds: string;
}

type RefreshRule = Rule<RefreshToken, RefreshContext, RefreshPlaceholders>;

/**
 * RFC 6749 §6 and RFC 9700 §4.14: what makes a refresh token usable, in the order that decides
 * the error. The fast path runs these as one SQL WHERE clause; the locked path, introspection and
 * revocation run them as functions.
 */
/** What a refresh issues: the requested (or the token's) scope, less what the client no longer has. */
export const issuedScope = (rt: Pick<RefreshToken, 'scope'>, c: Pick<RefreshContext, 'scope' | 'clientScopes'>): string[] =>
  (c.scope ?? rt.scope).filter((s) => rt.scope.includes(s) && c.clientScopes.includes(s));

export const refreshTokenRules: readonly RefreshRule[] = [
  {
    name: 'issued to the client',
    check: (rt, c) => (rt.clientId === c.clientId ? undefined : { error: oauthErrors.invalidGrant('The refresh token is invalid.') }),
    sql: (p) => `g.client_id = ${p.clientId}`,
  },
  {
    name: 'not revoked',
    check: (rt) =>
      rt.revokedAt || rt.grantRevokedAt || rt.userDisabledAt ? { error: oauthErrors.invalidGrant('The refresh token has been revoked.') } : undefined,
    sql: () => 'r.revoked_at IS NULL AND g.revoked_at IS NULL AND u.disabled_at IS NULL',
  },
  {
    name: 'not expired',
    check: (rt, c) => (rt.expiresAt && rt.expiresAt <= c.now ? { error: oauthErrors.invalidGrant('The refresh token has expired.') } : undefined),
    sql: () => '(r.expires_at IS NULL OR r.expires_at > now())',
  },
  {
    name: 'covers the requested scope',
    check: (rt, c) => {
      const wider = (c.scope ?? []).filter((s) => !rt.scope.includes(s));
      return wider.length ? { error: oauthErrors.invalidScope(`The refresh token does not cover: ${wider.join(' ')}.`) } : undefined;
    },
    sql: (p) => `(${p.scope} IS NULL OR ${p.scope} <@ r.scope)`,
  },
  {
    // The client's configuration bounds every token it has (security.md): a scope taken from the
    // client since is dropped from what the refresh issues; asking for it is invalid_scope, and a
    // token left with none of its scopes is refused.
    name: 'allowed for the client now',
    check: (rt, c) => {
      const notAllowed = (c.scope ?? []).filter((s) => !c.clientScopes.includes(s));
      if (notAllowed.length) return { error: oauthErrors.invalidScope(`This app may no longer use: ${notAllowed.join(' ')}.`) };
      return rt.scope.some((s) => c.clientScopes.includes(s)) ? undefined : { error: oauthErrors.invalidGrant('This app may no longer use any scope of this authorization.') };
    },
    sql: (p) => `(${p.scope} IS NULL OR ${p.scope} <@ ${p.clientScopes}) AND r.scope && ${p.clientScopes}`,
  },
  {
    // A rotated token keeps working for the grace window (a lost response, two refreshes at once).
    // Its reuse after that is a sign of theft under rotation: the grant goes (RFC 9700 §4.14.2);
    // a client switched to `off` since just gets the error. Dead after the window either way.
    name: 'within the grace window',
    check: (rt, c) => {
      if (!rt.rotatedAt || c.now.getTime() <= rt.rotatedAt.getTime() + c.graceSeconds * 1000) return undefined;
      return c.rotate
        ? { error: oauthErrors.invalidGrant('The refresh token was already used; the authorization has been revoked.'), consequence: 'revoke-grant' }
        : { error: oauthErrors.invalidGrant('The refresh token was replaced by a newer one.') };
    },
    sql: (p) => `(r.rotated_at IS NULL OR r.rotated_at > now() - make_interval(secs => ${p.graceSeconds}))`,
  },
];
