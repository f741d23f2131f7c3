import { IssuedTokens, OAuthClient } from '../../domain';

/**
 * One grant type of the token endpoint: load -> check -> issue, for an authenticated client.
 * `params` are the request's flat form parameters (RFC 6749 §4.1.3, §6).
 */
export interface GrantHandler {
  readonly grantType: string;
  handle(client: OAuthClient, params: Record<string, string>): Promise<IssuedTokens>;
}
