import { OAuthError, oauthErrors } from '../../lib/errors';
import { isBridgeClient, isPublicClient, OAuthClient, PendingAuthorization } from '../domain';

export interface AuthorizeCheck {
  readonly name: string;
  readonly check: (client: OAuthClient, request: PendingAuthorization) => OAuthError | undefined;
}

/**
 * What the client's configuration must allow of a parsed request, in order (the first failure
 * wins). Run at GET /oauth/authorize and again at the decision against the client as it is then
 * (Doorkeeper's pre_authorization: the same checks before and after the user signs in).
 */
export const authorizeChecks: readonly AuthorizeCheck[] = [
  {
    // A bridge's client gets the upstream's tokens at /bridge/<name>/authorize, never ours here.
    name: 'not a bridge client',
    check: (client) => (isBridgeClient(client) ? oauthErrors.unauthorizedClient('This app links through its bridge (/bridge/<name>/authorize), not here.') : undefined),
  },
  {
    name: 'response type allowed',
    check: (client, r) => (r.responseType === 'token' && !client.allowImplicit ? oauthErrors.unauthorizedClient('This app may not use the implicit grant (response_type=token).') : undefined),
  },
  {
    name: 'scope allowed',
    check: (client, r) => {
      if (r.scope.length === 0) return oauthErrors.invalidScope('No scope was requested.');
      const notAllowed = r.scope.filter((s) => !client.scopes.includes(s));
      return notAllowed.length ? oauthErrors.invalidScope(`Unknown or not allowed scope: ${notAllowed.join(' ').slice(0, 100)}.`) : undefined;
    },
  },
  {
    // RFC 9700 §2.1.1: required for public clients and for clients configured to require it.
    name: 'PKCE when required',
    check: (client, r) =>
      r.responseType === 'code' && !r.codeChallenge && (client.requirePkce || isPublicClient(client))
        ? oauthErrors.invalidRequest('This app must use PKCE (code_challenge with code_challenge_method=S256).')
        : undefined,
  },
];

export function firstFailedCheck(client: OAuthClient, request: PendingAuthorization): OAuthError | undefined {
  for (const c of authorizeChecks) {
    const error = c.check(client, request);
    if (error) return error;
  }
  return undefined;
}
