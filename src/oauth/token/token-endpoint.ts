import { Request as ExpressRequest } from 'express';
import OAuth2Server, {
  AbstractGrantType,
  Client as LibClient,
  OAuthError as LibOAuthError,
  Request as LibRequest,
  Response as LibResponse,
  ServerError as LibServerError,
} from '@node-oauth/oauth2-server';
import { AppError, OAuthError, oauthErrors } from '../../lib/errors';
import { logger } from '../../lib/logger';
import { Metrics } from '../../metrics/metrics';
import { ClientCredentials, extractClientCredentials, flatBody } from '../clients/client-auth';
import { ClientService } from '../clients/client.service';
import { IssuedTokens, OAuthClient } from '../domain';
import { isFormBody } from './form-body';
import { GrantHandler } from './grant-types/grant-handler';
import { measureTokenRequest } from './token-metrics';

/** A token request as it moves through the steps. */
interface TokenRequest {
  readonly req: ExpressRequest;
  params: Record<string, string>;
  credentials?: ClientCredentials;
}

type Step = (t: TokenRequest) => void;

/** RFC 6749 §3.2: form-encoded POST only (multipart/form-data too, for `curl -F`: ./form-body.ts). */
const formEncoded: Step = ({ req }) => {
  if (!isFormBody(req)) throw oauthErrors.invalidRequest('The token request must be application/x-www-form-urlencoded (or multipart/form-data).');
};

/** Flat string parameters; a repeated one is invalid_request, an empty one counts as omitted. */
const flatParameters: Step = (t) => {
  t.params = flatBody(t.req);
};

/**
 * Client credentials from HTTP Basic (decoded per §2.3.1) or the body, never both, never the
 * query. They go to the library in the body only, so it sees one method.
 */
const clientCredentials: Step = (t) => {
  const creds = extractClientCredentials(t.req, t.params);
  t.credentials = creds;
  const { client_secret: _dropped, ...rest } = t.params;
  t.params = { ...rest, client_id: creds.clientId, ...(creds.clientSecret !== undefined ? { client_secret: creds.clientSecret } : {}) };
};

/**
 * POST /oauth/token, as an ordered list of named steps ending in a grant-handler map (the shape of
 * node-oidc-provider's lib/actions/token.js). @node-oauth/oauth2-server, which the product's
 * specification names for this endpoint, does the last step: it authenticates the client through
 * `model.getClient` (our ClientService: the library never checks secrets itself), checks the
 * client may use the grant type, calls our handler for it, and shapes the §5.1 answer. Each
 * handler is in ./grant-types: load -> check -> issue.
 */
export function createTokenEndpoint(deps: { clients: ClientService; grantTypes: GrantHandler[]; metrics?: Metrics }) {
  const handlers = new Map(deps.grantTypes.map((h) => [h.grantType, h]));

  const grantTypeSupported: Step = ({ params }) => {
    if (!params.grant_type) throw oauthErrors.invalidRequest('The grant_type parameter is missing.');
    if (!handlers.has(params.grant_type)) throw oauthErrors.unsupportedGrantType(`The grant type "${params.grant_type.slice(0, 60)}" is not supported.`);
  };

  const steps: Step[] = [formEncoded, flatParameters, grantTypeSupported, clientCredentials];

  const model: OAuth2Server.ExtensionModel = {
    async getClient(clientId: string, clientSecret: string | undefined) {
      const client = await deps.clients.authenticate(clientId, clientSecret);
      return client ? toLibraryClient(client) : false;
    },
    // Never called: our grant handlers store what they issue, and the API's bearer check is ours.
    saveToken: () => Promise.reject(new Error('saveToken is not used')),
    getAccessToken: () => Promise.reject(new Error('getAccessToken is not used')),
  };
  const server = new OAuth2Server({
    model,
    accessTokenLifetime: 3600, // unused: our handlers set each client's lifetimes
    // Public clients send no secret; getClient decides who must (a confidential client always).
    requireClientAuthentication: Object.fromEntries([...handlers.keys()].map((g) => [g, false])),
    extendedGrantTypes: Object.fromEntries([...handlers].map(([name, handler]) => [name, libraryGrantType(handler)])),
  });

  /** Resolves with the §5.1 JSON body or throws an OAuthError. */
  async function token(t: TokenRequest): Promise<Record<string, unknown>> {
    for (const step of steps) step(t);
    const headers = { ...t.req.headers } as Record<string, string>;
    delete headers.authorization; // the credentials are in t.params now
    // The library insists on the form type; a multipart body is parsed into the same flat params.
    headers['content-type'] = 'application/x-www-form-urlencoded';
    const response = new LibResponse();
    try {
      const issued = (await server.token(new LibRequest({ method: 'POST', headers, query: {}, body: t.params }), response)) as unknown as IssuedTokens;
      // Our integer lifetime (the library's own expires_in floors the remaining milliseconds).
      return { ...(response.body as Record<string, unknown>), expires_in: issued.expiresIn };
    } catch (err) {
      throw fromLibraryError(err);
    }
  }

  const metrics = deps.metrics;
  if (!metrics) return (req: ExpressRequest) => token({ req, params: {} });
  return async function measuredToken(req: ExpressRequest): Promise<Record<string, unknown>> {
    const t: TokenRequest = { req, params: {} };
    const grantType = () => (t.params.grant_type && handlers.has(t.params.grant_type) ? t.params.grant_type : 'other');
    const body = await measureTokenRequest(metrics, 'oauth', grantType, () => token(t));
    if (grantType() === 'authorization_code') metrics.funnel('code_redeemed');
    return body;
  };
}

const OURS = Symbol('linkbridge client');
type LibraryClient = LibClient & { [OURS]: OAuthClient };

function toLibraryClient(client: OAuthClient): LibraryClient {
  return { id: client.clientId, grants: client.grants, redirectUris: client.redirectUris, [OURS]: client };
}

/** Our handler as a grant type of the library; what it returns is also what server.token resolves to. */
function libraryGrantType(handler: GrantHandler): typeof AbstractGrantType {
  return class extends AbstractGrantType {
    async handle(request: LibRequest, client: LibClient) {
      const issued = await handler.handle((client as LibraryClient)[OURS], request.body as Record<string, string>);
      return {
        ...issued,
        refreshTokenExpiresAt: issued.refreshTokenExpiresAt ?? undefined,
        client,
        user: { id: issued.userId },
      };
    }
  };
}

/** The library answers model errors with 503 and the raw message: ours pass through, the rest is server_error. */
function fromLibraryError(err: unknown): Error {
  if (err instanceof LibServerError || (err instanceof LibOAuthError && (err as { code?: number }).code === 503)) {
    const inner = (err as { inner?: unknown }).inner;
    if (inner instanceof AppError) return inner;
    return (inner as Error) ?? err; // unexpected: the error handler logs it and answers generically
  }
  if (err instanceof LibOAuthError) {
    const e = err as LibOAuthError & { name: string; code: number };
    if (e.name === 'invalid_client') return oauthErrors.invalidClient();
    // RFC 6749 §5.2: authenticated, but this grant type is not the client's (a bridge's client has only 'bridge').
    if (e.name === 'unauthorized_client') return oauthErrors.unauthorizedClient("This client may not use this grant type here (a bridge's client gets its tokens at its bridge's token URI).");
    if (e.code >= 500) {
      logger.error({ err }, 'oauth library error');
      return oauthErrors.serverError();
    }
    return new OAuthError(e.code === 401 ? 401 : 400, e.name, e.message);
  }
  return err as Error;
}
