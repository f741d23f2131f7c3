import { Request } from 'express';
import { oauthErrors } from '../../lib/errors';
import { isPublicClient, OAuthClient } from '../domain';
import { ClientService } from './client.service';

export interface ClientCredentials {
  clientId: string;
  clientSecret: string | undefined;
}

/** RFC 6749 Appendix A.1/A.2: client_id and client_secret are printable ASCII (VSCHAR), bounded. */
const VSCHAR = /^[\x20-\x7e]{0,200}$/;

/** RFC 6749 §2.3.1: Basic credentials are form-encoded before base64. */
function formDecode(value: string): string {
  return decodeURIComponent(value.replace(/\+/g, ' '));
}

/** The body of an OAuth endpoint: flat string parameters only (a repeated one is invalid_request). */
export function flatBody(req: Request): Record<string, string> {
  const body = (req.body ?? {}) as Record<string, unknown>;
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(body)) {
    if (typeof value !== 'string') throw oauthErrors.invalidRequest(`The parameter "${key.slice(0, 40)}" must be sent once.`);
    if (value.length > 4096) throw oauthErrors.invalidRequest(`The parameter "${key.slice(0, 40)}" is too long.`);
    if (value === '') continue; // RFC 6749 §3.1: a parameter without a value counts as omitted
    out[key] = value;
  }
  return out;
}

/**
 * Reads client credentials from HTTP Basic or the body, never both (RFC 6749 §2.3), never from
 * the query string. A malformed Basic header is invalid_client.
 */
export function extractClientCredentials(req: Request, body: Record<string, string>): ClientCredentials {
  const query = (req.query ?? {}) as Record<string, unknown>;
  if ('client_secret' in query) throw oauthErrors.invalidRequest('Client credentials must not be sent in the URL.');
  const header = req.headers.authorization;
  if (header !== undefined) {
    const match = /^basic +([A-Za-z0-9+/=._~-]*) *$/i.exec(header);
    if (!match) throw oauthErrors.invalidClient('Unsupported client authentication; use HTTP Basic.');
    const decoded = Buffer.from(match[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw oauthErrors.invalidClient('Malformed HTTP Basic credentials.');
    let clientId: string;
    let clientSecret: string;
    try {
      clientId = formDecode(decoded.slice(0, colon));
      clientSecret = formDecode(decoded.slice(colon + 1));
    } catch {
      throw oauthErrors.invalidClient('Malformed HTTP Basic credentials.');
    }
    if (body.client_secret !== undefined) {
      throw oauthErrors.invalidRequest('Use one client authentication method: HTTP Basic or client_secret in the body, not both.');
    }
    if (body.client_id !== undefined && body.client_id !== clientId) {
      throw oauthErrors.invalidRequest('The client_id in the body differs from the one in HTTP Basic.');
    }
    if (!VSCHAR.test(clientId) || !VSCHAR.test(clientSecret)) throw oauthErrors.invalidClient();
    // `client_id:` with an empty password is how some public clients send their id alone.
    return { clientId, clientSecret: clientSecret === '' ? undefined : clientSecret };
  }
  if (!body.client_id) throw oauthErrors.invalidClient('Client authentication is required.');
  if (!VSCHAR.test(body.client_id) || (body.client_secret !== undefined && !VSCHAR.test(body.client_secret))) throw oauthErrors.invalidClient();
  if (body.client_secret !== undefined) return { clientId: body.client_id, clientSecret: body.client_secret };
  return { clientId: body.client_id, clientSecret: undefined };
}

/**
 * Authenticates the calling client or throws 401 invalid_client (same answer for every failure).
 * `confidential`: the endpoint acts without a user's browser session on data beyond the caller's
 * own tokens (introspection, skill events), so a public client, which proves nothing but a
 * client_id anyone can read, is refused (security.md: public clients authenticate nothing).
 */
export async function authenticateClient(
  req: Request,
  body: Record<string, string>,
  clients: ClientService,
  opts: { confidential?: boolean } = {},
): Promise<OAuthClient> {
  const creds = extractClientCredentials(req, body);
  const client = await clients.authenticate(creds.clientId, creds.clientSecret);
  if (!client) throw oauthErrors.invalidClient();
  if (opts.confidential && isPublicClient(client)) throw oauthErrors.invalidClient('This endpoint needs a confidential client (a client secret).');
  return client;
}
