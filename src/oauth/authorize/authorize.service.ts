import { Knex } from 'knex';
import { randomToken, sha256, TOKEN_PREFIX } from '../../lib/crypto';
import { OAuthError, oauthErrors } from '../../lib/errors';
import { ClientRepository } from '../clients/client.repository';
import { OOB_REDIRECT_URI } from '../clients/redirect-uris';
import { OAuthClient, PendingAuthorization } from '../domain';
import { parseScopeString, sortScopes } from '../scopes';
import { ConsentRepository } from '../store/consent.repository';
import { GrantRepository } from '../store/grant.repository';
import { Metrics } from '../../metrics/metrics';
import { LinkTimeline } from '../timeline/link-timeline.service';
import { TokenIssuer } from '../token/token-issuer';
import { firstFailedCheck } from './authorize.checks';
import { buildRedirect, RedirectableError, ResponseMode } from './redirect';

const CONSENT_TTL_SECONDS = 600;
const MAX_STATE_LENGTH = 4096;
const S256_CHALLENGE = /^[A-Za-z0-9_-]{43}$/; // base64url of a SHA-256 digest, no padding (RFC 7636 §4.2)

export type AuthorizeOutcome =
  | { kind: 'redirect'; location: string }
  | { kind: 'oob'; code: string; clientName: string };

/** Reads one query parameter: absent or empty is undefined, repeated is invalid_request. */
function singleParam(query: Record<string, unknown>, name: string): string | undefined {
  const v = query[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw oauthErrors.invalidRequest(`The ${name} parameter must be sent once.`);
  return v === '' ? undefined : v;
}

/** The default mode of a response type: query for code, fragment for token (Multiple Response Types §2.1, §3). */
const defaultMode = (responseType: unknown): ResponseMode => (responseType === 'token' ? 'fragment' : 'query');
const modeOf = (request: Pick<PendingAuthorization, 'responseType' | 'responseMode'>): ResponseMode => request.responseMode ?? defaultMode(request.responseType);

/**
 * The response_mode asked for, if we honour it for the response type: query or fragment for a
 * code, fragment only for a token (a token must never be put in a query, §3.0 of Multiple
 * Response Types). Exactly the modes the metadata advertises.
 */
function requestedMode(query: Record<string, unknown>): ResponseMode | undefined {
  const mode = query.response_mode;
  if (mode === 'fragment' || (mode === 'query' && query.response_type !== 'token')) return mode;
  return undefined;
}

/** Errors after client and redirect URI are proven go back to the client (never for the OOB URI). */
function redirecting(redirectUri: string, state: string | undefined, mode: ResponseMode) {
  return (e: OAuthError): never => {
    if (redirectUri === OOB_REDIRECT_URI) throw e;
    throw new RedirectableError(e, redirectUri, state, mode);
  };
}

/**
 * The authorization endpoint (RFC 6749 §4.1.1, §4.2.1; RFC 7636; RFC 9700): parse and prove the
 * client, then the exact redirect URI, and only then the rest; then the client's configuration
 * (authorizeChecks). Until client and redirect URI are proven, errors are plain OAuthErrors
 * (rendered as a page, never redirected); after, they are RedirectableErrors. The decision runs
 * the same checks again against the client as it is then.
 */
export class AuthorizeService {
  constructor(
    private readonly db: Knex,
    private readonly clients: ClientRepository,
    private readonly grants: GrantRepository,
    private readonly consents: ConsentRepository,
    private readonly issuer: TokenIssuer,
    private readonly timeline: LinkTimeline,
    private readonly metrics: Metrics,
  ) {}

  /** The request proven and parsed (see `parse`); the funnel counts every attempt and every invalid one. */
  async validate(query: Record<string, unknown>): Promise<{ client: OAuthClient; request: PendingAuthorization }> {
    this.metrics.funnel('authorize_request');
    try {
      return await this.parse(query);
    } catch (err) {
      this.metrics.funnel('authorize_invalid');
      throw err;
    }
  }

  private async parse(query: Record<string, unknown>): Promise<{ client: OAuthClient; request: PendingAuthorization }> {
    // 1. The client.
    const clientId = singleParam(query, 'client_id');
    if (!clientId) throw oauthErrors.invalidRequest('The client_id parameter is missing.');
    const client = clientId.length <= 200 ? await this.clients.findByClientId(clientId) : undefined;
    if (!client) throw new OAuthError(400, 'invalid_client', 'This app is not registered with us (unknown client_id).');

    // 2. The redirect URI: exact string comparison, no normalisation of case, port, path, slash or encoding.
    const requestedUri = singleParam(query, 'redirect_uri');
    if (requestedUri !== undefined && !client.redirectUris.includes(requestedUri)) throw oauthErrors.invalidRequest('The redirect_uri is not registered for this app.');
    if (requestedUri === undefined && client.redirectUris.length !== 1) throw oauthErrors.invalidRequest('The redirect_uri parameter is missing.');
    const redirectUri = requestedUri ?? client.redirectUris[0];

    // 3. Proven: from here on errors go back to the client.
    const rawState = query.state;
    const state = typeof rawState === 'string' && rawState !== '' && rawState.length <= MAX_STATE_LENGTH ? rawState : undefined;
    const fail = redirecting(redirectUri, state, requestedMode(query) ?? defaultMode(query.response_type));
    const request = this.parseRequest(query, client, redirectUri, requestedUri !== undefined, state, fail);
    const refused = firstFailedCheck(client, request);
    if (refused) fail(refused);
    return { client, request };
  }

  /** The request's own parameters, well-formed (the client's configuration is checked after). */
  private parseRequest(
    query: Record<string, unknown>,
    client: OAuthClient,
    redirectUri: string,
    redirectUriInRequest: boolean,
    state: string | undefined,
    fail: (e: OAuthError) => never,
  ): PendingAuthorization {
    for (const [name, value] of Object.entries(query)) {
      if (typeof value !== 'string') fail(oauthErrors.invalidRequest(`The ${name.slice(0, 40)} parameter must be sent once.`));
    }
    const single = (name: string) => singleParam(query, name);
    if (typeof query.state === 'string' && query.state.length > MAX_STATE_LENGTH) fail(oauthErrors.invalidRequest('The state parameter is too long.'));

    const responseType = single('response_type');
    if (!responseType) return fail(oauthErrors.invalidRequest('The response_type parameter is missing.'));
    if (responseType !== 'code' && responseType !== 'token') return fail(oauthErrors.unsupportedResponseType('Only response_type=code (and token for apps allowed to) is supported.'));
    if (responseType === 'token' && redirectUri === OOB_REDIRECT_URI) throw oauthErrors.invalidRequest('The implicit grant cannot use the out-of-band redirect URI.');
    const modeParam = single('response_mode');
    const responseMode = requestedMode(query);
    if (modeParam !== undefined && !responseMode) {
      fail(oauthErrors.invalidRequest(`response_mode=${modeParam.slice(0, 40)} is not supported${responseType === 'token' ? ' for response_type=token (use fragment)' : ' (use query or fragment)'}.`));
    }

    const scopeParam = single('scope');
    const scope = scopeParam === undefined ? client.scopes : parseScopeString(scopeParam); // omitted: the client's own

    let codeChallenge: string | undefined;
    if (responseType === 'code') {
      codeChallenge = single('code_challenge');
      const method = single('code_challenge_method');
      if (codeChallenge === undefined && method !== undefined) fail(oauthErrors.invalidRequest('code_challenge_method was sent without code_challenge.'));
      // Only S256: a missing method would mean "plain" (RFC 7636 §4.3), which we refuse.
      if (codeChallenge !== undefined && method !== 'S256') fail(oauthErrors.invalidRequest('Only code_challenge_method=S256 is supported, and it must be given.'));
      if (codeChallenge !== undefined && !S256_CHALLENGE.test(codeChallenge)) fail(oauthErrors.invalidRequest('The code_challenge is malformed (43 base64url characters).'));
    }
    return {
      responseType,
      responseMode: responseMode ?? defaultMode(responseType),
      redirectUri,
      redirectUriInRequest,
      scope: sortScopes(scope),
      state,
      codeChallenge,
      codeChallengeMethod: codeChallenge ? 'S256' : undefined,
    };
  }

  /** Keeps the validated request on the server; the consent form carries only this opaque id. */
  async startConsent(userId: number, client: OAuthClient, request: PendingAuthorization): Promise<string> {
    const id = randomToken(TOKEN_PREFIX.transaction);
    await this.consents.create(sha256(id), userId, client.id, request, new Date(Date.now() + CONSENT_TTL_SECONDS * 1000));
    // The first step of the link that has a user (a signed-out user comes back here after signing in).
    this.timeline.record({ userId, clientId: client.id, type: 'authorization_started' });
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
    const fail = redirecting(request.redirectUri, request.state, modeOf(request));
    if (decision === 'deny') {
      this.metrics.funnel('consent_denied');
      this.timeline.record({ userId, clientId: client.id, type: 'consent_denied' });
      fail(oauthErrors.accessDenied('The user denied the request.'));
    }
    const refused = firstFailedCheck(client, request);
    if (refused) fail(refused);
    const outcome = await this.db.transaction((trx) => this.issue(trx, userId, client, request));
    this.metrics.funnel('consent_allowed');
    if (request.responseType === 'code') this.metrics.funnel('code_issued');
    return outcome;
  }

  private async issue(trx: Knex.Transaction, userId: number, client: OAuthClient, request: PendingAuthorization): Promise<AuthorizeOutcome> {
    const grant = await this.grants.upsertLive(trx, userId, client.id, request.scope);
    const link = { userId, clientId: client.id, grantId: grant.id };
    await this.timeline.recordIn(trx, [{ ...link, type: 'consent_allowed' }, ...(request.responseType === 'code' ? [{ ...link, type: 'code_issued' as const }] : [])]);
    if (request.responseType === 'token') {
      const t = await this.issuer.access(trx, client, { grantId: grant.id, userId, scope: request.scope, authorizationCodeId: null }, null);
      const params = { access_token: t.accessToken, token_type: 'Bearer', expires_in: String(t.expiresIn), scope: request.scope.join(' '), state: request.state };
      return { kind: 'redirect', location: buildRedirect(request.redirectUri, params, 'fragment') };
    }
    const code = await this.issuer.code(trx, {
      grantId: grant.id,
      redirectUri: request.redirectUri,
      redirectUriInRequest: request.redirectUriInRequest,
      scope: request.scope,
      codeChallenge: request.codeChallenge ?? null,
      codeChallengeMethod: request.codeChallengeMethod ?? null,
    });
    if (request.redirectUri === OOB_REDIRECT_URI) return { kind: 'oob', code, clientName: client.name };
    return { kind: 'redirect', location: buildRedirect(request.redirectUri, { code, state: request.state }, modeOf(request)) };
  }
}
