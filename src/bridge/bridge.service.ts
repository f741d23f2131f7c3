import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { randomToken, safeEqual, sha256 } from '../lib/crypto';
import { AppError, NotFoundError, OAuthError, oauthErrors, refusedBy, ServiceUnavailableError, ValidationError } from '../lib/errors';
import { logger } from '../lib/logger';
import { SecretBox } from '../lib/secret-box';
import { parseInput } from '../lib/validation';
import { buildRedirect, RedirectableError } from '../oauth/authorize/redirect';
import { ClientService } from '../oauth/clients/client.service';
import { alexaRedirectUris } from '../oauth/clients/redirect-uris';
import { OAuthClient } from '../oauth/domain';
import { GrantService } from '../oauth/grants/grant.service';
import { Tx, UnitOfWork } from '../oauth/revocation/unit-of-work';
import { GrantRepository } from '../oauth/store/grant.repository';
import { NewLinkEvent, LinkTimeline } from '../oauth/timeline/link-timeline.service';
import { BridgeInput, bridgeInputSchema, ParsedBridgeInput, SCOPE_TOKEN } from './bridge-input';
import { BridgeRepository } from './bridge.repository';
import { Bridge, BRIDGE_PREFIX, BridgeLink, BridgeRequest, EndedBridgeLink, isLive } from './bridge.types';
import { UpstreamClient, UpstreamEndpointConfig, UpstreamError, UpstreamTokens } from './upstream-client';

/**
 * Bounded waits everywhere (alexa.md: Alexa gives a token request 4.5 s). A refresh answers Alexa
 * within `refreshAnswerMs`; the upstream call itself may run to `refreshUpstreamMs` in the
 * background, so a slow upstream's rotated token is still stored (not lost with a timed-out
 * answer) and Alexa's retry gets it. The lease outlives the longest upstream call.
 */
export interface BridgeTimings {
  redeemUpstreamMs: number;
  refreshAnswerMs: number;
  refreshUpstreamMs: number;
  revokeUpstreamMs: number;
  leaseSeconds: number;
  /** A retry or concurrent refresh within this window gets the answer already made. */
  reuseWindowSeconds: number;
  codeTtlSeconds: number;
  transactionTtlSeconds: number;
}

export const DEFAULT_TIMINGS: BridgeTimings = {
  redeemUpstreamMs: 10000,
  refreshAnswerMs: 3500,
  refreshUpstreamMs: 10000,
  revokeUpstreamMs: 3000,
  leaseSeconds: 30,
  reuseWindowSeconds: 60,
  codeTtlSeconds: 60,
  transactionTtlSeconds: 600,
};

const MAX_STATE_LENGTH = 4096;
const S256_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;
const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;
const ENDED_SHOWN_DAYS = 30;

/** The RFC 6749 §5.1 answer Alexa gets, with the upstream's access token unchanged. */
export interface BridgeTokenAnswer {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token?: string;
  scope: string;
}

export const callbackUrl = (b: Pick<Bridge, 'baseUrl' | 'name'>) => `${b.baseUrl}/bridge/${b.name}/callback`;

/** Every field of the Alexa console's account-linking form for a bridge (like alexa:setup's). */
export function bridgeConsoleValues(bridge: Bridge, client: OAuthClient, clientSecret: string | null) {
  return {
    name: bridge.name,
    authorization_grant_type: bridge.implicit ? 'Implicit Grant' : 'Auth Code Grant',
    authorization_uri: `${bridge.baseUrl}/bridge/${bridge.name}/authorize`,
    access_token_uri: `${bridge.baseUrl}/bridge/${bridge.name}/token`,
    client_id: client.clientId,
    client_secret: clientSecret,
    authentication_scheme: 'HTTP Basic (Recommended)',
    scopes: bridge.scopes.map((s) => s.alexa),
    domain_list: [] as string[],
    default_access_token_expiration_time: bridge.expiresInDefault,
    alexa_redirect_urls: client.redirectUris,
    upstream_callback_url: callbackUrl(bridge),
  };
}

/** A bridge as the CLI and admin page show it: never a secret, only whether there is one. */
export function bridgeJson(b: Bridge) {
  return {
    id: b.id,
    name: b.name,
    vendor_id: b.vendorId,
    base_url: b.baseUrl,
    authorization_uri: `${b.baseUrl}/bridge/${b.name}/authorize`,
    access_token_uri: `${b.baseUrl}/bridge/${b.name}/token`,
    upstream_callback_url: callbackUrl(b),
    authorize_url: b.authorizeUrl,
    token_url: b.tokenUrl,
    revocation_url: b.revocationUrl,
    upstream_client_id: b.upstreamClientId,
    upstream_client_secret: b.upstreamClientSecretSealed ? 'set (encrypted)' : 'none',
    token_auth: b.tokenAuth,
    token_body: b.tokenBody,
    fields: b.fields,
    expires_in_default: b.expiresInDefault,
    scopes: Object.fromEntries(b.scopes.map((s) => [s.alexa, s.upstream.join(' ')])),
    scope_separator: b.scopeSeparator,
    authorize_params: b.authorizeParams,
    token_params: b.tokenParams,
    pkce: b.pkce,
    state_echo: b.stateEcho,
    implicit: b.implicit,
    upstream_implicit: b.upstreamImplicit,
    allow_http: b.allowHttp,
  };
}

const aad = {
  clientSecret: (bridgeId: number) => `bridge:${bridgeId}:client_secret`,
  verifier: (bridgeId: number, txHash: string) => `bridge:${bridgeId}:tx:${txHash}:pkce_verifier`,
  access: (linkId: number) => `bridge-link:${linkId}:access_token`,
  refresh: (linkId: number) => `bridge-link:${linkId}:refresh_token`,
};

/** Reads one query parameter: absent or empty is undefined, repeated is invalid_request. */
function single(query: Record<string, unknown>, name: string): string | undefined {
  const v = query[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw oauthErrors.invalidRequest(`The ${name} parameter must be sent once.`);
  return v === '' ? undefined : v;
}

/** Timeline and metrics reasons (a fixed set, never what the upstream or Alexa sent). */
const UPSTREAM_INVALID_GRANT = 'upstream invalid_grant';
const ANSWER_REUSED = 'answer already made (retry or concurrent refresh within the reuse window)';

/** Why an upstream call failed, for the timeline: from the classification, never the upstream's text. */
function failureReason(err: UpstreamError): string {
  if (err.kind === 'transient') {
    if (typeof err.detail.status === 'number') return `upstream answered ${err.detail.status >= 500 ? '5xx' : err.detail.status === 429 ? '429' : 'temporarily_unavailable'}`;
    return /within/.test(err.message) ? 'upstream timed out' : 'upstream unreachable';
  }
  if (err.kind === 'unreadable') return 'upstream answer unreadable';
  if (err.kind === 'invalid_grant') return UPSTREAM_INVALID_GRANT;
  return 'upstream refused the request';
}

const remaining = (expiresAt: Date) => Math.max(0, Math.floor((expiresAt.getTime() - Date.now()) / 1000));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Bridge mode (issue 15): we are the OAuth server Alexa talks to; the tokens come from the
 * upstream. Upstream tokens are sealed at rest (security.md); Alexa gets the upstream's access
 * token and our own refresh handle, and one upstream refresh runs at a time per link in every
 * process, so a lost answer or two refreshes at once never present a spent refresh token to an
 * upstream that revokes chains on reuse.
 */
export class BridgeService {
  /** Same-process refreshes of a link share one upstream call (other processes see the lease). */
  private readonly inFlight = new Map<number, Promise<void>>();
  readonly timings: BridgeTimings;

  constructor(
    private readonly bridges: BridgeRepository,
    private readonly clients: ClientService,
    private readonly grantRepo: GrantRepository,
    private readonly grants: GrantService,
    private readonly uow: UnitOfWork,
    private readonly box: SecretBox | undefined,
    /** The link timeline: bridged links' events beside our own grants' (buffered on the hot paths). */
    private readonly timeline: LinkTimeline,
    private readonly upstream: UpstreamClient = new UpstreamClient(),
    timings: Partial<BridgeTimings> = {},
  ) {
    this.timings = { ...DEFAULT_TIMINGS, ...timings };
  }

  private secrets(): SecretBox {
    if (!this.box) throw new AppError(500, 'server_error', 'Bridges need ENCRYPTION_KEYS: upstream secrets and tokens are encrypted at rest.');
    return this.box;
  }

  // Administration.

  list(): Promise<Bridge[]> {
    return this.bridges.list();
  }

  findByName(name: string): Promise<Bridge | undefined> {
    return typeof name === 'string' && /^[a-z0-9-]{1,40}$/.test(name) ? this.bridges.findByName(name) : Promise.resolve(undefined);
  }

  async get(name: string): Promise<Bridge> {
    const bridge = await this.findByName(name);
    if (!bridge) throw new NotFoundError(`No bridge named "${String(name).slice(0, 40)}".`);
    return bridge;
  }

  async clientOf(bridge: Bridge): Promise<OAuthClient> {
    const client = await this.clients.findById(bridge.clientId);
    if (!client) throw new NotFoundError('The bridge has lost its Alexa client.');
    return client;
  }

  liveLinkCount(bridge: Bridge): Promise<number> {
    return this.bridges.countLiveLinks(bridge.id);
  }

  /** Registers a bridge and its Alexa-facing client; the client secret is returned once. */
  async create(input: BridgeInput): Promise<{ bridge: Bridge; client: OAuthClient; clientSecret: string }> {
    const box = this.secrets();
    const data = parseInput(bridgeInputSchema, input);
    if (await this.bridges.findByName(data.name)) throw new ValidationError(`A bridge named "${data.name}" already exists.`, { name: 'taken' });
    // Not an alexa:setup client (no alexaVendorId): that command must never pick a bridge's client.
    const { client, clientSecret } = await this.clients.create({
      name: data.clientName ?? `${data.name} (bridge)`,
      redirectUris: alexaRedirectUris(data.vendorId),
      refreshRotation: 'off',
      allowImplicit: data.implicit,
      bridgeOnly: true,
    });
    try {
      const bridge = await this.bridges.transaction(async (trx) => {
        const created = await this.bridges.create(trx, { ...this.fields(data), clientId: client.id, upstreamClientSecretSealed: null });
        if (!data.upstreamClientSecret) return created;
        return (await this.bridges.update(trx, created.id, { upstreamClientSecretSealed: box.seal(data.upstreamClientSecret, aad.clientSecret(created.id)) }))!;
      });
      return { bridge, client, clientSecret: clientSecret! };
    } catch (err) {
      await this.clients.delete(client.id);
      throw err;
    }
  }

  /** Changes what is given; the secret only when given (null removes it). */
  async update(name: string, input: Partial<BridgeInput>): Promise<Bridge> {
    const box = this.secrets();
    const existing = await this.get(name);
    const given = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)) as Partial<BridgeInput>;
    // One --field changes that field only; the others keep their paths.
    if (given.fields) given.fields = { ...existing.fields, ...given.fields };
    const data = parseInput(bridgeInputSchema, { ...this.asInput(existing), ...given, name: existing.name });
    const secret = given.upstreamClientSecret;
    const updated = await this.bridges.update(undefined, existing.id, {
      ...this.fields(data),
      ...(secret === undefined ? {} : { upstreamClientSecretSealed: secret === null ? null : box.seal(secret, aad.clientSecret(existing.id)) }),
    });
    const client = await this.clientOf(existing);
    // Keep every redirect URL linked users came through; add the new vendor's, and follow --implicit.
    await this.clients.update(client.id, {
      redirectUris: [...new Set([...alexaRedirectUris(data.vendorId), ...client.redirectUris])],
      allowImplicit: data.implicit,
      ...(data.clientName ? { name: data.clientName } : {}),
    });
    return updated!;
  }

  /** Deletes a bridge, its client and every link; live links are revoked at the upstream first (best effort). */
  async delete(name: string): Promise<{ linksRevoked: number }> {
    const bridge = await this.get(name);
    const links = await this.bridges.liveLinksOfBridge(bridge.id);
    for (const link of links) await this.revokeAtUpstream(bridge, link);
    await this.clients.delete(bridge.clientId); // cascades to the bridge, its links and codes
    return { linksRevoked: links.length };
  }

  private fields(d: ParsedBridgeInput): Omit<Bridge, 'id' | 'createdAt' | 'updatedAt' | 'clientId' | 'upstreamClientSecretSealed'> {
    return {
      name: d.name,
      vendorId: d.vendorId,
      baseUrl: d.baseUrl,
      authorizeUrl: d.authorizeUrl,
      tokenUrl: d.tokenUrl,
      revocationUrl: d.revocationUrl,
      upstreamClientId: d.upstreamClientId,
      tokenAuth: d.tokenAuth,
      tokenBody: d.tokenBody,
      fields: d.fields,
      expiresInDefault: d.expiresInDefault,
      scopes: d.scopes,
      scopeSeparator: d.scopeSeparator,
      authorizeParams: d.authorizeParams,
      tokenParams: d.tokenParams,
      pkce: d.pkce,
      stateEcho: d.stateEcho,
      implicit: d.implicit,
      upstreamImplicit: d.upstreamImplicit,
      allowHttp: d.allowHttp,
    };
  }

  private asInput(b: Bridge): BridgeInput {
    return {
      name: b.name,
      vendorId: b.vendorId,
      baseUrl: b.baseUrl,
      authorizeUrl: b.authorizeUrl,
      tokenUrl: b.tokenUrl,
      revocationUrl: b.revocationUrl,
      upstreamClientId: b.upstreamClientId,
      tokenAuth: b.tokenAuth,
      tokenBody: b.tokenBody,
      fields: b.fields,
      expiresInDefault: b.expiresInDefault,
      scopes: b.scopes,
      scopeSeparator: b.scopeSeparator,
      authorizeParams: b.authorizeParams,
      tokenParams: b.tokenParams,
      pkce: b.pkce,
      stateEcho: b.stateEcho,
      implicit: b.implicit,
      upstreamImplicit: b.upstreamImplicit,
      allowHttp: b.allowHttp,
    };
  }

  private endpoint(bridge: Bridge): UpstreamEndpointConfig {
    const secret = bridge.upstreamClientSecretSealed ? this.secrets().open(bridge.upstreamClientSecretSealed, aad.clientSecret(bridge.id)) : undefined;
    return {
      name: bridge.name,
      tokenUrl: bridge.tokenUrl,
      clientId: bridge.upstreamClientId,
      clientSecret: secret,
      tokenAuth: bridge.tokenAuth,
      tokenBody: bridge.tokenBody,
      tokenParams: bridge.tokenParams,
      fields: bridge.fields,
      expiresInDefault: bridge.expiresInDefault,
    };
  }

  // The authorization endpoint: Alexa -> us -> the upstream.

  /**
   * Alexa's authorization request, checked as /oauth/authorize checks it: the client, then the
   * exact redirect URI (until both are proven errors are a page, never a redirect), then the rest
   * (errors go back to Alexa with its exact state).
   */
  async validate(bridge: Bridge, query: Record<string, unknown>): Promise<BridgeRequest> {
    const clientId = single(query, 'client_id');
    if (!clientId) throw oauthErrors.invalidRequest('The client_id parameter is missing.');
    const client = await this.clients.findById(bridge.clientId);
    if (!client || !safeEqual(clientId, client.clientId)) throw new OAuthError(400, 'invalid_client', 'This app is not registered with this bridge (unknown client_id).');
    const requested = single(query, 'redirect_uri');
    if (requested !== undefined && !client.redirectUris.includes(requested)) throw oauthErrors.invalidRequest('The redirect_uri is not registered for this app.');
    if (requested === undefined && client.redirectUris.length !== 1) throw oauthErrors.invalidRequest('The redirect_uri parameter is missing.');
    const redirectUri = requested ?? client.redirectUris[0];

    const rawState = query.state;
    const state = typeof rawState === 'string' && rawState !== '' && rawState.length <= MAX_STATE_LENGTH ? rawState : undefined;
    const mode = bridge.implicit ? 'fragment' : 'query';
    const fail = (e: OAuthError): never => {
      throw new RedirectableError(e, redirectUri, state, mode);
    };
    for (const [name, value] of Object.entries(query)) if (typeof value !== 'string') fail(oauthErrors.invalidRequest(`The ${name.slice(0, 40)} parameter must be sent once.`));
    if (typeof rawState === 'string' && rawState.length > MAX_STATE_LENGTH) fail(oauthErrors.invalidRequest('The state parameter is too long.'));
    const responseType = single(query, 'response_type');
    if (!responseType) fail(oauthErrors.invalidRequest('The response_type parameter is missing.'));
    const expected = bridge.implicit ? 'token' : 'code';
    if (responseType !== expected) {
      if (responseType === 'code' || responseType === 'token') fail(oauthErrors.unauthorizedClient(`This bridge is set up for response_type=${expected}.`));
      fail(oauthErrors.unsupportedResponseType(`Only response_type=${expected} is supported by this bridge.`));
    }
    const scopeParam = single(query, 'scope');
    const known = bridge.scopes.map((s) => s.alexa);
    let scope: string[];
    if (scopeParam === undefined) scope = known;
    else {
      scope = [...new Set(scopeParam.split(' ').filter(Boolean))];
      const bad = scope.filter((s) => (known.length ? !known.includes(s) : !SCOPE_TOKEN.test(s)));
      if (bad.length) fail(oauthErrors.invalidScope(`Unknown or not allowed scope: ${bad.join(' ').slice(0, 100)}.`));
    }
    let codeChallenge: string | undefined;
    if (!bridge.implicit) {
      codeChallenge = single(query, 'code_challenge');
      const method = single(query, 'code_challenge_method');
      if (codeChallenge === undefined && method !== undefined) fail(oauthErrors.invalidRequest('code_challenge_method was sent without code_challenge.'));
      if (codeChallenge !== undefined && method !== 'S256') fail(oauthErrors.invalidRequest('Only code_challenge_method=S256 is supported, and it must be given.'));
      if (codeChallenge !== undefined && !S256_CHALLENGE.test(codeChallenge)) fail(oauthErrors.invalidRequest('The code_challenge is malformed (43 base64url characters).'));
    }
    return { responseType: expected, redirectUri, state, scope, codeChallenge };
  }

  /** The upstream scopes for Alexa's: mapped when the bridge maps them, as they are otherwise. */
  upstreamScope(bridge: Bridge, scope: string[]): string | undefined {
    const mapped = bridge.scopes.length ? [...new Set(scope.flatMap((s) => bridge.scopes.find((m) => m.alexa === s)?.upstream ?? []))] : scope;
    return mapped.length ? mapped.join(bridge.scopeSeparator) : undefined;
  }

  /**
   * Keeps Alexa's request on the server and sends the browser to the upstream with our callback,
   * our own state (also the cookie that finds the request when the upstream does not echo state)
   * and PKCE when configured.
   */
  async start(bridge: Bridge, userId: number, request: BridgeRequest): Promise<{ location: string; transactionId: string }> {
    const transactionId = randomToken(BRIDGE_PREFIX.transaction);
    const idHash = sha256(transactionId);
    const verifier = bridge.pkce ? randomBytes(48).toString('base64url') : undefined;
    const sealedVerifier = verifier ? this.secrets().seal(verifier, aad.verifier(bridge.id, idHash)) : null;
    await this.bridges.createTransaction(idHash, bridge.id, userId, request, sealedVerifier, new Date(Date.now() + this.timings.transactionTtlSeconds * 1000));
    this.timeline.record({ userId, clientId: bridge.clientId, type: 'authorization_started' });
    const url = new URL(bridge.authorizeUrl);
    for (const [k, v] of Object.entries(bridge.authorizeParams)) url.searchParams.set(k, v);
    // An implicit-only upstream answers with the token in our callback's fragment (RFC 6749 §4.2.2).
    url.searchParams.set('response_type', bridge.upstreamImplicit ? 'token' : 'code');
    url.searchParams.set('client_id', bridge.upstreamClientId);
    url.searchParams.set('redirect_uri', callbackUrl(bridge));
    const scope = this.upstreamScope(bridge, request.scope);
    if (scope) url.searchParams.set('scope', scope);
    url.searchParams.set('state', transactionId);
    if (verifier) {
      url.searchParams.set('code_challenge', createHash('sha256').update(verifier).digest('base64url'));
      url.searchParams.set('code_challenge_method', 'S256');
    }
    return { location: url.toString(), transactionId };
  }

  /**
   * The upstream's redirect back: find Alexa's request (by our state, or by the cookie when the
   * upstream does not echo state), redeem the upstream code at once, keep the tokens sealed, and
   * send Alexa our own short-lived single-use code (or, for an implicit bridge, the token).
   */
  async callback(bridge: Bridge, userId: number, query: Record<string, unknown>, cookieTransaction: string | undefined, via: 'query' | 'fragment' = 'query'): Promise<string> {
    // Tokens come in the fragment (posted by our callback page) only from an implicit-only upstream, and codes only from the others.
    if (via === 'fragment' && !bridge.upstreamImplicit) throw oauthErrors.invalidRequest('This bridge expects an authorization code from the upstream.');
    for (const [name, value] of Object.entries(query)) if (typeof value !== 'string') throw oauthErrors.invalidRequest(`The ${name.slice(0, 40)} parameter must be sent once.`);
    const returnedState = single(query, 'state');
    let transactionId: string | undefined;
    if (bridge.stateEcho) {
      transactionId = returnedState;
      if (!transactionId) throw oauthErrors.invalidRequest('The upstream did not send our state back. If it never does, set the bridge to --no-state-echo.');
      if (cookieTransaction !== undefined && !safeEqual(cookieTransaction, transactionId)) throw oauthErrors.invalidRequest('This answer belongs to another linking attempt. Please start again from the Alexa app.');
    } else {
      transactionId = cookieTransaction;
    }
    const expired = new OAuthError(400, 'invalid_request', 'This linking attempt has expired or was already completed. Please start linking again from the Alexa app.');
    if (!transactionId || transactionId.length > 200) throw expired;
    const idHash = sha256(transactionId);
    const pending = await this.bridges.consumeTransaction(idHash, bridge.id, userId);
    if (!pending) throw expired;
    const { request } = pending;
    const client = await this.clientOf(bridge);
    if (!client.redirectUris.includes(request.redirectUri)) throw new OAuthError(400, 'invalid_request', 'This app or its redirect address has changed. Please start linking again from the app.');
    const mode = request.responseType === 'token' ? 'fragment' : 'query';
    const toAlexa = (error: string, description: string, why: string) => {
      this.timeline.record({ userId, clientId: client.id, type: 'upstream_callback_failed', reason: why });
      return buildRedirect(request.redirectUri, { error, error_description: description, state: request.state }, mode);
    };

    const upstreamError = single(query, 'error');
    if (upstreamError) {
      logger.info({ bridge: bridge.name, error: upstreamError.slice(0, 64) }, 'bridge: the upstream sent an error back');
      const passed = ['access_denied', 'temporarily_unavailable', 'invalid_scope'].includes(upstreamError) ? upstreamError : 'server_error';
      return toAlexa(passed, passed === 'access_denied' ? 'The user denied the request at the upstream.' : 'The upstream could not complete the authorization.', `upstream sent ${passed}`);
    }
    let tokens: UpstreamTokens;
    if (bridge.upstreamImplicit) {
      if (via !== 'fragment') return toAlexa('server_error', 'The upstream sent no access token.', 'no token from the upstream');
      try {
        tokens = this.upstream.readImplicit(this.endpoint(bridge), query as Record<string, string>);
      } catch (err) {
        if (!(err instanceof UpstreamError)) throw err;
        logger.error({ bridge: bridge.name, ...err.detail }, `bridge: ${err.message}`);
        return toAlexa('server_error', 'The upstream sent an access token the bridge cannot use.', `implicit answer: ${failureReason(err)}`);
      }
    } else {
      const code = single(query, 'code');
      if (!code || code.length > 4096) return toAlexa('server_error', 'The upstream sent no authorization code.', 'no code from the upstream');
      try {
        const verifier = pending.verifierSealed ? this.secrets().open(pending.verifierSealed, aad.verifier(bridge.id, idHash)) : undefined;
        tokens = await this.upstream.redeemCode(this.endpoint(bridge), { code, redirectUri: callbackUrl(bridge), codeVerifier: verifier }, this.timings.redeemUpstreamMs);
      } catch (err) {
        if (!(err instanceof UpstreamError)) throw err;
        return toAlexa(err.kind === 'transient' ? 'temporarily_unavailable' : 'server_error', 'The upstream did not accept the authorization code.', `code exchange: ${failureReason(err)}`);
      }
    }

    const box = this.secrets();
    const accessExpiresAt = new Date(Date.now() + tokens.expiresIn * 1000);
    const keepRefresh = request.responseType === 'code' ? tokens.refreshToken : undefined; // implicit: Alexa cannot refresh
    const { linkId, alexaCode } = await this.bridges.transaction(async (trx) => {
      const grant = await this.grantRepo.upsertLive(trx, userId, client.id, request.scope);
      const id = await this.bridges.insertLink(trx, { bridgeId: bridge.id, grantId: grant.id, userId, scope: request.scope, accessTokenHash: sha256(tokens.accessToken), accessExpiresAt });
      await this.bridges.setLinkSecrets(trx, id, box.seal(tokens.accessToken, aad.access(id)), keepRefresh ? box.seal(keepRefresh, aad.refresh(id)) : null);
      let c: string | undefined;
      if (request.responseType === 'code') {
        c = randomToken(BRIDGE_PREFIX.code);
        await this.bridges.insertCode(trx, sha256(c), id, request.redirectUri, request.codeChallenge ?? null, new Date(Date.now() + this.timings.codeTtlSeconds * 1000));
      }
      // In the transaction that makes the link: the events commit with it.
      const event = { userId, clientId: client.id, grantId: grant.id };
      await this.timeline.recordIn(trx, [{ ...event, type: 'upstream_linked', reason: keepRefresh ? null : 'no upstream refresh token' }, ...(c ? [{ ...event, type: 'code_issued' as const }] : [])]);
      return { linkId: id, alexaCode: c };
    });
    logger.info({ bridge: bridge.name, linkId, refreshable: keepRefresh !== undefined, expiresInFromUpstream: tokens.expiresInFromUpstream }, 'bridge: linked at the upstream');
    if (request.responseType === 'token') {
      return buildRedirect(
        request.redirectUri,
        { access_token: tokens.accessToken, token_type: 'Bearer', expires_in: String(tokens.expiresIn), scope: request.scope.join(' '), state: request.state },
        'fragment',
      );
    }
    return buildRedirect(request.redirectUri, { code: alexaCode, state: request.state }, 'query');
  }

  // The token endpoint.

  /** POST /bridge/<name>/token for an authenticated client (the bridge's own, nobody else's). */
  async token(bridge: Bridge, client: OAuthClient, params: Record<string, string>): Promise<BridgeTokenAnswer> {
    if (client.id !== bridge.clientId) throw oauthErrors.invalidClient();
    if (!params.grant_type) throw oauthErrors.invalidRequest('The grant_type parameter is missing.');
    if (bridge.implicit) throw oauthErrors.unauthorizedClient('This bridge uses the implicit grant: there is nothing to exchange or refresh.');
    if (params.grant_type === 'authorization_code') return this.exchange(bridge, params);
    if (params.grant_type === 'refresh_token') return this.refresh(bridge, params);
    throw oauthErrors.unsupportedGrantType(`The grant type "${params.grant_type.slice(0, 60)}" is not supported.`);
  }

  private answer(link: BridgeLink, handle: string | undefined): BridgeTokenAnswer {
    const accessToken = this.secrets().open(link.accessTokenSealed, aad.access(link.id));
    return { access_token: accessToken, token_type: 'Bearer', expires_in: remaining(link.accessExpiresAt), ...(handle ? { refresh_token: handle } : {}), scope: link.scope.join(' ') };
  }

  private async exchange(bridge: Bridge, params: Record<string, string>): Promise<BridgeTokenAnswer> {
    const code = params.code;
    if (!code) throw oauthErrors.invalidRequest('The code parameter is missing.');
    const invalid = () => oauthErrors.invalidGrant('The authorization code is invalid, expired or already used.');
    if (!code.startsWith(BRIDGE_PREFIX.code)) throw refusedBy(invalid(), 'unknown code');
    const used = await this.bridges.consumeCode(sha256(code));
    if (!used || used.bridgeId !== bridge.id) throw refusedBy(invalid(), 'unknown code');
    const event = { userId: used.userId, clientId: bridge.clientId, grantId: used.grantId };
    /** A refusal with the rule's name (the same names as our own code rules), in the metrics and on the timeline. */
    const refused = (e: OAuthError, rule: string) => {
      this.timeline.record({ ...event, type: 'code_refused', reason: rule });
      return refusedBy(e, rule);
    };
    if (used.replayed) {
      // RFC 6749 §4.1.2: a code used twice ends what was issued from it.
      const link = await this.bridges.findLink(used.linkId);
      if (link && isLive(link)) await this.endLink(link, 'code_replayed');
      logger.warn({ bridge: bridge.name, linkId: used.linkId }, 'bridge: an authorization code was replayed; the link is ended');
      throw refused(invalid(), 'not yet redeemed');
    }
    if (used.expired) throw refused(invalid(), 'not expired');
    if (params.redirect_uri !== used.redirectUri) throw refused(oauthErrors.invalidGrant('The redirect_uri differs from the one in the authorization request.'), 'same redirect URI');
    const verifier = params.code_verifier;
    if (used.codeChallenge) {
      if (!verifier || !VERIFIER.test(verifier) || !safeEqual(createHash('sha256').update(verifier).digest('base64url'), used.codeChallenge)) {
        throw refused(oauthErrors.invalidGrant('The code_verifier does not match the code_challenge.'), 'PKCE verifier matches');
      }
    } else if (verifier !== undefined) {
      throw refused(oauthErrors.invalidGrant('A code_verifier was sent but the authorization request had no code_challenge.'), 'PKCE verifier matches');
    }
    const link = await this.bridges.findLink(used.linkId);
    if (!link || !isLive(link)) throw refused(invalid(), 'link live');
    let handle: string | undefined;
    if (link.refreshTokenSealed) {
      handle = randomToken(BRIDGE_PREFIX.handle);
      const h = handle;
      await this.bridges.transaction((trx) => this.bridges.setHandle(trx, link.id, sha256(h)));
    }
    this.timeline.record({ ...event, type: 'code_redeemed' }); // buffered: no extra round trip
    return this.answer(link, handle);
  }

  /**
   * Alexa's refresh with our handle (which never changes, so a lost answer costs nothing on our
   * side). Within the reuse window the answer already made is given again; otherwise one request
   * takes the link's lease and refreshes at the upstream, storing the rotated token before anyone
   * is answered, while concurrent requests (in any process) wait for that result.
   */
  private async refresh(bridge: Bridge, params: Record<string, string>): Promise<BridgeTokenAnswer> {
    const handle = params.refresh_token;
    if (!handle) throw oauthErrors.invalidRequest('The refresh_token parameter is missing.');
    const invalid = () => oauthErrors.invalidGrant('The refresh token is invalid or the link has ended. Link the account again in the Alexa app.');
    if (!handle.startsWith(BRIDGE_PREFIX.handle) || handle.length > 200) throw refusedBy(invalid(), 'unknown token');
    const handleHash = sha256(handle);
    const deadline = Date.now() + this.timings.refreshAnswerMs;
    let link = await this.bridges.findLinkByHandle(bridge.id, handleHash);
    if (!link) throw refusedBy(invalid(), 'unknown token');
    const event = { userId: link.userId, clientId: bridge.clientId, grantId: link.grantId };
    const seen = link.lastRefreshedAt?.getTime() ?? 0;
    let refreshedHere = false;
    for (;;) {
      if (!link || !isLive(link)) {
        // Ended by the upstream (its invalid_grant, answered again without calling it), or here: revoked, re-linked, disabled.
        const rule = link?.endedReason === 'upstream_invalid_grant' ? UPSTREAM_INVALID_GRANT : 'link live';
        this.timeline.record({ ...event, type: 'refresh_refused', reason: rule });
        throw refusedBy(invalid(), rule);
      }
      const last = link.lastRefreshedAt?.getTime() ?? 0;
      // The answer already made: a refresh finished while this request waited (here or in another
      // process), or one finished just before it (a retry after a lost answer, or a race).
      if (last > seen || (last && Date.now() - last < this.timings.reuseWindowSeconds * 1000)) {
        this.timeline.record({ ...event, type: 'refreshed', reason: refreshedHere ? null : ANSWER_REUSED }); // buffered: no extra round trip
        return this.answer(link, handle);
      }
      if (!link.refreshTokenSealed) {
        this.timeline.record({ ...event, type: 'refresh_refused', reason: 'upstream refresh token kept' });
        throw refusedBy(oauthErrors.invalidGrant('The upstream gave no refresh token for this link. Link the account again in the Alexa app.'), 'upstream refresh token kept');
      }

      // Past Alexa's budget the answer is a 503 and the link stays (the upstream's late answer is still stored).
      const late = (message: string) => {
        this.timeline.record({ ...event, type: 'refresh_failed', reason: 'answer deadline passed' });
        return new ServiceUnavailableError(message);
      };
      const mine = this.inFlight.get(link.id);
      if (mine) {
        await this.raceDeadline(mine, deadline, late);
      } else {
        const leaseId = randomUUID();
        if (await this.bridges.claimLease(link.id, leaseId, this.timings.leaseSeconds)) {
          const id = link.id;
          const job = this.refreshAtUpstream(bridge, link, leaseId).finally(() => this.inFlight.delete(id));
          this.inFlight.set(id, job);
          refreshedHere = true;
          await this.raceDeadline(job, deadline, late); // throws what the upstream refresh threw
        } else {
          // Another process holds the lease: wait for its result, bounded.
          if (Date.now() + 100 > deadline) throw late('The link is being refreshed; please retry.');
          await sleep(100);
        }
      }
      link = await this.bridges.findLinkByHandle(bridge.id, handleHash);
    }
  }

  /** Waits for `work` until the deadline; past it, Alexa gets a 503 and the work goes on (its result is kept). */
  private async raceDeadline(work: Promise<void>, deadline: number, late: (message: string) => Error): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), Math.max(0, deadline - Date.now()))));
    try {
      const outcome = await Promise.race([work.then(() => 'done' as const), timeout]);
      if (outcome === 'late') throw late('The upstream is slow to answer; please retry.');
    } finally {
      clearTimeout(timer);
    }
  }

  /** One upstream refresh under the lease: the rotated token is stored before anyone is answered. */
  private async refreshAtUpstream(bridge: Bridge, link: BridgeLink, leaseId: string): Promise<void> {
    const box = this.secrets();
    let tokens: UpstreamTokens;
    try {
      const refreshToken = box.open(link.refreshTokenSealed!, aad.refresh(link.id));
      tokens = await this.upstream.refresh(this.endpoint(bridge), refreshToken, this.timings.refreshUpstreamMs);
    } catch (err) {
      if (err instanceof UpstreamError && err.kind === 'invalid_grant') {
        // Really revoked or expired at the upstream: the link ends, Alexa asks the user to link again.
        await this.endLink(link, 'upstream_invalid_grant', [{ userId: link.userId, clientId: bridge.clientId, grantId: link.grantId, type: 'refresh_refused', reason: UPSTREAM_INVALID_GRANT }]);
        logger.warn({ bridge: bridge.name, linkId: link.id }, 'bridge: the upstream ended the link (invalid_grant)');
        throw refusedBy(oauthErrors.invalidGrant('The upstream no longer accepts this link. Link the account again in the Alexa app.'), UPSTREAM_INVALID_GRANT);
      }
      if (err instanceof UpstreamError && err.rotatedRefreshToken) {
        // The upstream rotated even though we cannot use its answer: keep the new refresh token
        // (the old one is spent), or the next attempt would be a reuse that ends the chain.
        await this.bridges.storeRotatedOnly(link.id, leaseId, box.seal(err.rotatedRefreshToken, aad.refresh(link.id)));
      }
      await this.bridges.releaseLease(link.id, leaseId).catch((e) => logger.error({ err: e, linkId: link.id }, 'bridge: could not release a lease'));
      if (!(err instanceof UpstreamError)) throw err;
      // The link stays (Alexa retries): on the timeline, once per upstream call, so support can see why.
      this.timeline.record({ userId: link.userId, clientId: bridge.clientId, grantId: link.grantId, type: 'refresh_failed', reason: failureReason(err) });
      if (err.kind === 'transient') throw new ServiceUnavailableError('The upstream is temporarily unavailable; please retry.');
      throw new AppError(502, 'server_error', 'The upstream answered something the bridge cannot use.');
    }
    const stored = await this.bridges.storeRefreshed(link.id, leaseId, {
      accessTokenSealed: box.seal(tokens.accessToken, aad.access(link.id)),
      accessTokenHash: sha256(tokens.accessToken),
      accessExpiresAt: new Date(Date.now() + tokens.expiresIn * 1000),
      refreshTokenSealed: tokens.refreshToken ? box.seal(tokens.refreshToken, aad.refresh(link.id)) : null,
    });
    if (!stored) {
      logger.error({ bridge: bridge.name, linkId: link.id }, 'bridge: the refresh lease expired before the upstream answered; the result was not stored');
      throw new ServiceUnavailableError('The refresh took too long; please retry.');
    }
  }

  /** Ends a link and revokes its grant (off the Connected apps list, its tokens dead everywhere). */
  private async endLink(link: BridgeLink, reason: string, events: NewLinkEvent[] = []): Promise<void> {
    await this.uow.run(async (tx) => {
      await this.bridges.endLink(tx.trx, link.id, reason);
      await this.timeline.recordIn(tx.trx, events);
      await this.grants.revoke(tx, { id: link.grantId }, reason === 'upstream_invalid_grant' ? 'upstream' : 'replay');
    });
  }

  // Revocation and skill events.

  private async revokeAtUpstream(bridge: Bridge, link: BridgeLink): Promise<void> {
    if (!bridge.revocationUrl) return;
    const box = this.secrets();
    const [token, hint] = link.refreshTokenSealed ? [box.open(link.refreshTokenSealed, aad.refresh(link.id)), 'refresh_token' as const] : [box.open(link.accessTokenSealed, aad.access(link.id)), 'access_token' as const];
    const ok = await this.upstream.revoke({ ...this.endpoint(bridge), revocationUrl: bridge.revocationUrl }, token, hint, this.timings.revokeUpstreamMs);
    if (ok) await this.bridges.markUpstreamRevoked(link.id);
  }

  /**
   * After grants were revoked (Connected apps, SkillDisabled, a disabled account): ends their
   * bridge links and calls the upstream's revocation endpoint where one is configured. Bounded and
   * best effort: the links are dead for Alexa either way, since a link lives only with its grant.
   */
  async settleRevokedGrants(): Promise<number> {
    const ended: BridgeLink[] = [];
    for (const link of await this.bridges.linksOfRevokedGrants(50)) {
      if (await this.bridges.endLink(undefined, link.id, 'revoked')) ended.push(link); // else another process got it
    }
    await this.revokeEndedAtUpstream(ended);
    return ended.length;
  }

  /**
   * Account deletion, inside its transaction: ends the user's live links before their rows go
   * with the user, and returns what to tell the upstreams once the deletion has committed
   * (`revokeEndedAtUpstream`, the same path as a disconnect).
   */
  endLinksOfUser(tx: Tx, userId: number): Promise<BridgeLink[]> {
    return this.bridges.endLinksOfUser(tx.trx, userId, 'revoked');
  }

  /**
   * RFC 7009 at each ended link's upstream (when its bridge has a revocation URL), with the
   * upstream refresh token and the bridge's client authentication, each call bounded by
   * `revokeUpstreamMs`. Best effort: a failure is logged (never a token) and the next goes on.
   */
  async revokeEndedAtUpstream(links: BridgeLink[]): Promise<void> {
    const bridges = new Map<number, Bridge | undefined>();
    for (const link of links) {
      if (!bridges.has(link.bridgeId)) bridges.set(link.bridgeId, await this.bridges.findById(link.bridgeId));
      const bridge = bridges.get(link.bridgeId);
      if (bridge) await this.revokeAtUpstream(bridge, link).catch((err) => logger.warn({ bridge: bridge.name, linkId: link.id, reason: (err as Error).message }, 'bridge: upstream revocation failed'));
    }
  }

  /** SkillAccountLinked carries the upstream access token for a bridged link: the grant it belongs to. */
  grantForAccessToken(client: OAuthClient, accessToken: string): Promise<number | undefined> {
    return this.bridges.grantForAccessToken(client.id, sha256(accessToken));
  }

  /**
   * tokens:cleanup: pending authorizations and codes past their lifetime go, and links whose
   * grant another path revoked (users:disable, account deletion of a grant) are ended with their
   * upstream told, if nothing did that yet.
   */
  async cleanup(now = new Date()): Promise<number> {
    await this.settleRevokedGrants();
    return this.bridges.deleteExpired(now);
  }

  endedForUser(userId: number): Promise<EndedBridgeLink[]> {
    return this.bridges.endedByUpstreamForUser(userId, new Date(Date.now() - ENDED_SHOWN_DAYS * 24 * 3600 * 1000));
  }
}
