import { Request, RequestHandler } from 'express';
import { OAuthError } from '../../lib/errors';
import { AccessTokenInfo } from '../domain';

export interface AccessTokenValidator {
  /** The token's info when it is live (not expired, not revoked, grant and user still active). */
  validate(token: string): Promise<AccessTokenInfo | undefined>;
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      auth?: AccessTokenInfo;
    }
  }
}

export const BEARER_REALM = 'linkbridge';
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/; // RFC 6750 §2.1

/** RFC 6750 §3: the challenge that goes with every 401/403 of the API. */
function bearerError(status: number, code: string | undefined, description: string, extra: Record<string, string> = {}): OAuthError {
  const params = [`realm="${BEARER_REALM}"`];
  if (code) params.push(`error="${code}"`, `error_description="${description}"`);
  for (const [k, v] of Object.entries(extra)) params.push(`${k}="${v}"`);
  return new OAuthError(status, code ?? 'invalid_token', description, { 'WWW-Authenticate': `Bearer ${params.join(', ')}` });
}

/**
 * The API's bearer authentication (ours, not the library's: its scheme check is case-sensitive
 * and it drops WWW-Authenticate). Tokens are accepted only in the Authorization header; a session
 * cookie never authenticates the API.
 */
export function createBearerAuth(validator: AccessTokenValidator) {
  /** The request's valid token, or the RFC 6750 error to answer. */
  const authenticated = async (req: Request): Promise<AccessTokenInfo> => {
    const header = req.headers.authorization;
    if (header === undefined || header === '') {
      if (req.query && typeof req.query === 'object' && 'access_token' in req.query) {
        throw bearerError(400, 'invalid_request', 'Send the access token in the Authorization header, not in the URL.');
      }
      // §3.1: a request without any authentication gets no error code.
      throw bearerError(401, undefined, 'An access token is required.');
    }
    const [scheme, token, ...rest] = header.trim().split(/ +/);
    if (scheme.toLowerCase() !== 'bearer') throw bearerError(401, undefined, 'An access token is required.');
    if (!token || rest.length > 0 || token.length > 512 || !B64TOKEN.test(token)) {
      throw bearerError(400, 'invalid_request', 'The Authorization header is malformed.');
    }
    const info = await validator.validate(token);
    if (!info) throw bearerError(401, 'invalid_token', 'The access token is invalid, expired or revoked.');
    return info;
  };

  /**
   * Authenticates and requires the given scope (403 insufficient_scope otherwise, §3.1). One
   * handler, not two: every handler is a router layer that each API request walks through.
   */
  const requireScope = (scope: string): RequestHandler => async (req, _res, next) => {
    const info = await authenticated(req);
    req.auth = info;
    if (!info.scope.includes(scope)) {
      throw bearerError(403, 'insufficient_scope', `This request needs the ${scope} scope.`, { scope });
    }
    next();
  };

  return { requireScope };
}

export type BearerAuth = ReturnType<typeof createBearerAuth>;
