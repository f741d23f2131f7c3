import { OAuthError } from '../../lib/errors';

export type ResponseMode = 'query' | 'fragment';

/** An error to send back to the client at its proven redirect URI (RFC 6749 §4.1.2.1, §4.2.2.1). */
export class RedirectableError extends Error {
  constructor(
    readonly error: OAuthError,
    readonly redirectUri: string,
    readonly state: string | undefined,
    readonly mode: ResponseMode,
  ) {
    super(error.message);
  }
}

/** Appends parameters to a redirect URI as a query (code flow) or fragment (implicit flow). */
export function buildRedirect(uri: string, params: Record<string, string | undefined>, mode: ResponseMode): string {
  const encoded = Object.entries(params)
    .filter((e): e is [string, string] => e[1] !== undefined)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .join('&');
  if (mode === 'fragment') return `${uri}#${encoded}`;
  return `${uri}${uri.includes('?') ? '&' : '?'}${encoded}`;
}

export const errorRedirect = (e: RedirectableError) =>
  buildRedirect(e.redirectUri, { error: e.error.code, error_description: e.error.message, state: e.state }, e.mode);
