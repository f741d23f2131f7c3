import { Request as ExpressRequest } from 'express';
import OAuth2Server, {
  AbstractGrantType,
  Client as LibClient,
  OAuthError as LibOAuthError,
  Request as LibRequest,
  Response as LibResponse,
  ServerError as LibServerError,
} from '@node-oauth/oauth2-server';
import { AppError, OAuthError, oauthErrors } from '../lib/errors';
import { logger } from '../lib/logger';
import { extractClientCredentials, flatBody } from './client-auth';
import { OAuthClient } from './client.repository';
import { ClientService } from './client.service';
import { parseScopeString } from './scopes';
import { IssuedTokens, TokenService } from './token.service';

/**
 * The one thin adapter between Express and @node-oauth/oauth2-server's token endpoint. The library
 * parses the request, dispatches the grant and shapes the RFC 6749 §5.1 response; we supply:
 * - client authentication (Basic decoded per §2.3.1, never Basic and body together), checked by
 *   the model's getClient, because the library does not verify secrets itself;
 * - our own grant types for authorization_code and refresh_token, each one transaction in
 *   TokenService (atomic rotation, replay handling, per-client policy);
 * - error mapping: the library answers model errors with 503 and the raw message, so unexpected
 *   errors become a generic server_error here, logged with their cause.
 */

const SUPPORTED_GRANTS = new Set(['authorization_code', 'refresh_token']);

interface Model {
  getClient(clientId: string, clientSecret: string | undefined): Promise<LibClient | false>;
  tokens: TokenService;
}

type LibClientWithOurs = LibClient & { ours: OAuthClient };

function toLibToken(issued: IssuedTokens, client: LibClient) {
  return {
    accessToken: issued.accessToken,
    accessTokenExpiresAt: issued.accessTokenExpiresAt,
    refreshToken: issued.refreshToken,
    refreshTokenExpiresAt: issued.refreshTokenExpiresAt ?? undefined,
    scope: issued.scope,
    client,
    user: { id: issued.userId },
  };
}

/** A grant type for the library whose work is one TokenService call on the authenticated client. */
function grantType(run: (tokens: TokenService, client: OAuthClient, body: Record<string, string>) => Promise<IssuedTokens>) {
  return class extends AbstractGrantType {
    async handle(request: LibRequest, client: LibClient) {
      const { model } = this as unknown as { model: Model };
      const issued = await run(model.tokens, (client as LibClientWithOurs).ours, request.body as Record<string, string>);
      return toLibToken(issued, client);
    }
  };
}

const AuthorizationCodeGrant = grantType((tokens, client, body) => {
  if (!body.code) throw oauthErrors.invalidRequest('The code parameter is missing.');
  return tokens.exchangeCode(client, { code: body.code, redirectUri: body.redirect_uri, codeVerifier: body.code_verifier });
});

const RefreshTokenGrant = grantType((tokens, client, body) => {
  if (!body.refresh_token) throw oauthErrors.invalidRequest('The refresh_token parameter is missing.');
  // flatBody already dropped an empty scope parameter (it counts as omitted, RFC 6749 §3.1).
  const scope = body.scope !== undefined ? parseScopeString(body.scope) : undefined;
  return tokens.refresh(client, { refreshToken: body.refresh_token, scope: scope?.length ? scope : undefined });
});

export interface TokenResponse {
  body: Record<string, unknown>;
}

export function createTokenEndpoint(deps: { clients: ClientService; tokens: TokenService; accessTokenTtlSeconds: number }) {
  const model: Model = {
    async getClient(clientId, clientSecret) {
      const client = await deps.clients.authenticate(clientId, clientSecret);
      if (!client) return false;
      return { id: client.clientId, grants: client.grants, redirectUris: client.redirectUris, ours: client } as LibClientWithOurs;
    },
    tokens: deps.tokens,
  };
  const server = new OAuth2Server({
    model: model as unknown as OAuth2Server.ServerOptions['model'],
    accessTokenLifetime: deps.accessTokenTtlSeconds,
    refreshTokenLifetime: 1, // unused: our grants decide lifetimes per client
    requireClientAuthentication: { authorization_code: false, refresh_token: false }, // public clients; getClient enforces secrets
    extendedGrantTypes: {
      authorization_code: AuthorizationCodeGrant as unknown as typeof AbstractGrantType,
      refresh_token: RefreshTokenGrant as unknown as typeof AbstractGrantType,
    },
  });

  /** Handles POST /oauth/token; resolves with the JSON body or throws an OAuthError. */
  return async function token(req: ExpressRequest): Promise<TokenResponse> {
    if (!req.is('application/x-www-form-urlencoded')) {
      throw oauthErrors.invalidRequest('The token request must be application/x-www-form-urlencoded.');
    }
    const body = flatBody(req);
    if (!body.grant_type) throw oauthErrors.invalidRequest('The grant_type parameter is missing.');
    if (!SUPPORTED_GRANTS.has(body.grant_type)) throw oauthErrors.unsupportedGrantType(`The grant type "${body.grant_type.slice(0, 60)}" is not supported.`);
    const creds = extractClientCredentials(req, body);
    const normalized: Record<string, string> = { ...body, client_id: creds.clientId };
    if (creds.clientSecret !== undefined) normalized.client_secret = creds.clientSecret;
    else delete normalized.client_secret;

    const headers = { ...req.headers } as Record<string, string>;
    delete headers.authorization;
    const request = new LibRequest({ method: 'POST', headers, query: {}, body: normalized });
    const response = new LibResponse();
    try {
      const issued = (await server.token(request, response)) as { accessTokenExpiresAt: Date };
      const out = { ...(response.body as Record<string, unknown>) };
      // Whole seconds of the lifetime we set (the library floors the remaining milliseconds).
      out.expires_in = Math.max(0, Math.round((issued.accessTokenExpiresAt.getTime() - Date.now()) / 1000));
      return { body: out };
    } catch (err) {
      throw mapLibraryError(err);
    }
  };
}

function mapLibraryError(err: unknown): Error {
  if (err instanceof LibServerError || (err instanceof LibOAuthError && (err as { code?: number }).code === 503)) {
    const inner = (err as { inner?: unknown }).inner;
    if (inner instanceof AppError) return inner;
    return (inner as Error) ?? err; // unexpected: the error handler logs it and answers generically
  }
  if (err instanceof LibOAuthError) {
    const e = err as LibOAuthError & { name: string; code: number };
    if (e.name === 'invalid_client') return oauthErrors.invalidClient();
    if (e.code >= 500) {
      logger.error({ err }, 'oauth library error');
      return oauthErrors.serverError();
    }
    return new OAuthError(e.code === 401 ? 401 : 400, e.name, e.message);
  }
  return err as Error;
}
