import { Knex } from 'knex';
import { randomToken, sha256, TOKEN_PREFIX } from '../lib/crypto';
import { OAuthError, oauthErrors } from '../lib/errors';
import { ClientRepository, OAuthClient } from './client.repository';
import { OOB_REDIRECT_URI } from './client.service';
import { ConsentRepository, PendingAuthorization } from './consent.repository';
import { GrantRepository } from './grant.repository';
import { parseScopeString, sortScopes } from './scopes';
import { TokenService } from './token.service';

const CONSENT_TTL_SECONDS = 600;
const MAX_STATE_LENGTH = 4096;
const S256_CHALLENGE = /^[A-Za-z0-9_-]{43}$/; // base64url of a SHA-256 digest, no padding (RFC 7636 §4.2)

/** An error to send back to the client at its proven redirect URI (RFC 6749 §4.1.2.1, §4.2.2.1). */
export class RedirectableError extends Error {
  constructor(
    readonly error: OAuthError,
    readonly redirectUri: string,
    readonly state: string | undefined,
    readonly mode: 'query' | 'fragment',
  ) {
    super(error.message);
  }
}

export type AuthorizeOutcome =
  | { kind: 'redirect'; location: string }
  | { kind: 'oob'; code: string; clientName: string };

/** Appends parameters to a redirect URI as a query (code flow) or fragment (implicit flow). */
export function buildRedirect(uri: string, params: Record<string, string | undefined>, mode: 'query' | 'fragment'): string {
  const encoded = Object.entries(params)
    .filter((e): e is [string, string] => e[1] !== undefined)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .join('&');
  if (mode === 'fragment') return `${uri}#${encoded}`;
  return `${uri}${uri.includes('?') ? '&' : '?'}${encoded}`;
}

export const errorRedirect = (e: RedirectableError) =>
  buildRedirect(e.redirectUri, { error: e.error.code, error_description: e.error.message, state: e.state }, e.mode);

/**
 * The authorization endpoint's logic (RFC 6749 §4.1.1, §4.2.1; RFC 7636; RFC 9700). Checks run
 * in order: client, then exact redirect URI, and only then the rest. Until client and redirect
 * URI are proven, errors are plain OAuthErrors (rendered as a page, never redirected); after,
 * they are RedirectableErrors.
 */
export class AuthorizeService {
  constructor(
    private readonly db: Knex,
    private readonly clients: ClientRepository,
    private readonly grants: GrantRepository,
    private readonly consents: ConsentRepository,
    private readonly tokens: TokenService,
  ) {}

  async validate(query: Record<string, unknown>): Promise<{ client: OAuthClient; request: PendingAuthorization }> {
    const single = (name: string): string | undefined => {
      const v = query[name];
      if (v === undefined) return undefined;
      if (typeof v !== 'string') throw new OAuthError(400, 'invalid_request', `The ${name} parameter must be sent once.`);
      return v === '' ? undefined : v;
    };
    const clientId = single('client_id');
    if (!clientId) throw oauthErrors.invalidRequest('The client_id parameter is missing.');
    const client = clientId.length <= 200 ? await this.clients.findByClientId(clientId) : undefined;
    if (!client) throw new OAuthError(400, 'invalid_client', 'This app is not registered with us (unknown client_id).');

    const requestedUri = single('redirect_uri');
    let redirectUri: string;
    if (requestedUri !== undefined) {
      // Exact string comparison: no normalisation of case, port, path, slash or encoding.
      if (!client.redirectUris.includes(requestedUri)) throw oauthErrors.invalidRequest('The redirect_uri is not registered for this app.');
      redirectUri = requestedUri;
    } else {
      if (client.redirectUris.length !== 1) throw oauthErrors.invalidRequest('The redirect_uri parameter is missing.');
      redirectUri = client.redirectUris[0];
    }

    // Client and redirect URI are proven: errors go back to the client from here on.
    const responseTypeRaw = query.response_type;
    const mode: 'query' | 'fragment' = responseTypeRaw === 'token' ? 'fragment' : 'query';
    const rawState = query.state;
    const state = typeof rawState === 'string' && rawState !== '' && rawState.length <= MAX_STATE_LENGTH ? rawState : undefined;
    const fail = (e: OAuthError): never => {
      if (redirectUri === OOB_REDIRECT_URI) throw e;
      throw new RedirectableError(e, redirectUri, state, mode);
    };

    for (const [name, value] of Object.entries(query)) {
      if (typeof value !== 'string') fail(oauthErrors.invalidRequest(`The ${name.slice(0, 40)} parameter must be sent once.`));
    }
    if (typeof rawState === 'string' && rawState.length > MAX_STATE_LENGTH) fail(oauthErrors.invalidRequest('The state parameter is too long.'));

    const responseType = single('response_type');
    if (!responseType) fail(oauthErrors.invalidRequest('The response_type parameter is missing.'));
    if (responseType !== 'code' && responseType !== 'token') fail(oauthErrors.unsupportedResponseType('Only response_type=code (and token for apps allowed to) is supported.'));
    if (responseType === 'token') {
      if (!client.allowImplicit) fail(oauthErrors.unauthorizedClient('This app may not use the implicit grant (response_type=token).'));
      if (redirectUri === OOB_REDIRECT_URI) throw oauthErrors.invalidRequest('The implicit grant cannot use the out-of-band redirect URI.');
    }

    const scopeParam = single('scope');
    const scope = scopeParam === undefined ? client.scopes : parseScopeString(scopeParam);
    if (scope.length === 0) fail(oauthErrors.invalidScope('No scope was requested.'));
    const notAllowed = scope.filter((s) => !client.scopes.includes(s));
    if (notAllowed.length) fail(oauthErrors.invalidScope(`Unknown or not allowed scope: ${notAllowed.join(' ').slice(0, 100)}.`));

    let codeChallenge: string | undefined;
    let codeChallengeMethod: 'S256' | undefined;
    if (responseType === 'code') {
      const challenge = single('code_challenge');
      const method = single('code_challenge_method');
      if (challenge === undefined && method !== undefined) fail(oauthErrors.invalidRequest('code_challenge_method was sent without code_challenge.'));
      if (challenge !== undefined) {
        // Only S256: a missing method would mean "plain" (RFC 7636 §4.3), which we refuse.
        if (method !== 'S256') fail(oauthErrors.invalidRequest('Only code_challenge_method=S256 is supported, and it must be given.'));
        if (!S256_CHALLENGE.test(challenge)) fail(oauthErrors.invalidRequest('The code_challenge is malformed (43 base64url characters).'));
        codeChallenge = challenge;
        codeChallengeMethod = 'S256';
      } else if (client.requirePkce || client.secretHash === null) {
        fail(oauthErrors.invalidRequest('This app must use PKCE (code_challenge with code_challenge_method=S256).'));
      }
    }

    return {
      client,
      request: {
        responseType: responseType as 'code' | 'token',
        redirectUri,
        redirectUriInRequest: requestedUri !== undefined,
        scope: sortScopes(scope),
        state,
        codeChallenge,
        codeChallengeMethod,
      },
    };
  }

  /** Keeps the validated request on the server; the consent form carries only this opaque id. */
  async startConsent(userId: number, client: OAuthClient, request: PendingAuthorization): Promise<string> {
    const id = randomToken(TOKEN_PREFIX.transaction);
    await this.consents.create(sha256(id), userId, client.id, request, new Date(Date.now() + CONSENT_TTL_SECONDS * 1000));
    return id;
  }

  /**
   * The user's decision. The stored request is consumed once and re-checked against the client
   * as it is now. Allow issues a code (or, for an implicit client, a token); deny sends
   * access_denied.
   */
  async decide(userId: number, transactionId: unknown, decision: unknown): Promise<AuthorizeOutcome> {
    if (typeof transactionId !== 'string' || transactionId.length > 200) throw oauthErrors.invalidRequest('The authorization request is missing.');
    if (decision !== 'allow' && decision !== 'deny') throw oauthErrors.invalidRequest('Choose Allow or Deny.');
    const pending = await this.consents.consume(sha256(transactionId), userId);
    if (!pending) {
      throw new OAuthError(400, 'invalid_request', 'This authorization request has expired or was already answered. Please start linking again from the app.');
    }
    const { request } = pending;
    const client = await this.clients.findById(pending.clientId);
    if (!client || !client.redirectUris.includes(request.redirectUri)) {
      throw new OAuthError(400, 'invalid_request', 'This app or its redirect address has changed. Please start linking again from the app.');
    }
    const mode = request.responseType === 'token' ? 'fragment' : 'query';
    const fail = (e: OAuthError): never => {
      if (request.redirectUri === OOB_REDIRECT_URI) throw e;
      throw new RedirectableError(e, request.redirectUri, request.state, mode);
    };
    if (decision === 'deny') fail(oauthErrors.accessDenied('The user denied the request.'));
    if (request.scope.some((s) => !client.scopes.includes(s))) fail(oauthErrors.invalidScope('The requested scope is no longer allowed for this app.'));
    if (request.responseType === 'token' && !client.allowImplicit) fail(oauthErrors.unauthorizedClient('This app may no longer use the implicit grant.'));
    if (request.responseType === 'code' && !request.codeChallenge && (client.requirePkce || client.secretHash === null)) {
      fail(oauthErrors.invalidRequest('This app must now use PKCE; start linking again.'));
    }

    return this.db.transaction(async (trx) => {
      const grant = await this.grants.upsertLive(userId, client.id, request.scope, trx);
      if (request.responseType === 'token') {
        const t = await this.tokens.issueAccessTokenOnly(client, grant.id, request.scope, trx);
        const location = buildRedirect(
          request.redirectUri,
          { access_token: t.accessToken, token_type: 'Bearer', expires_in: String(t.expiresIn), scope: request.scope.join(' '), state: request.state },
          'fragment',
        );
        return { kind: 'redirect', location } as const;
      }
      const code = await this.tokens.createAuthorizationCode(
        {
          grantId: grant.id,
          redirectUri: request.redirectUri,
          redirectUriInRequest: request.redirectUriInRequest,
          scope: request.scope,
          codeChallenge: request.codeChallenge ?? null,
          codeChallengeMethod: request.codeChallengeMethod ?? null,
        },
        trx,
      );
      if (request.redirectUri === OOB_REDIRECT_URI) return { kind: 'oob', code, clientName: client.name } as const;
      return { kind: 'redirect', location: buildRedirect(request.redirectUri, { code, state: request.state }, 'query') } as const;
    });
  }
}
