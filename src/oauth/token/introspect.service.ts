import { sha256, TOKEN_PREFIX } from '../../lib/crypto';
import { OAuthClient } from '../domain';
import { issuedScope, refreshTokenRules } from '../rules/refresh-token.rules';
import { firstViolation } from '../rules/rule';
import { AccessTokenRepository } from '../store/access-token.repository';
import { RefreshTokenRepository } from '../store/refresh-token.repository';

const INACTIVE = Object.freeze({ active: false });

/**
 * RFC 7662. A client marked as a resource server may introspect any access token; any other
 * (confidential) client only its own, so it learns nothing of other clients' users (§4). Refresh
 * tokens only by the client they were issued to, by the same rules the refresh grant applies.
 * Anything not valid, or not the caller's to know, is {"active": false} and nothing more.
 */
export class IntrospectService {
  constructor(
    private readonly accessTokens: AccessTokenRepository,
    private readonly refreshTokens: RefreshTokenRepository,
    private readonly settings: { issuer: string; refreshGraceSeconds: number },
  ) {}

  async introspect(client: OAuthClient, token: string): Promise<Record<string, unknown>> {
    const hash = sha256(token);
    if (token.startsWith(TOKEN_PREFIX.accessToken)) {
      const info = await this.accessTokens.findLive(hash);
      if (!info || (!client.isResourceServer && info.clientId !== client.clientId)) return INACTIVE;
      return {
        active: true,
        scope: info.scope.join(' '),
        client_id: info.clientId,
        sub: String(info.userId),
        token_type: 'Bearer',
        exp: Math.floor(info.expiresAtMs / 1000),
        iss: this.settings.issuer,
      };
    }
    if (token.startsWith(TOKEN_PREFIX.refreshToken)) {
      const rt = await this.refreshTokens.find(hash);
      const ctx = { clientId: client.id, clientScopes: client.scopes, now: new Date(), scope: null, graceSeconds: this.settings.refreshGraceSeconds, rotate: false };
      if (!rt || firstViolation(refreshTokenRules, rt, ctx)) return INACTIVE;
      return {
        active: true,
        scope: issuedScope(rt, ctx).join(' '),
        client_id: client.clientId,
        sub: String(rt.userId),
        token_type: 'refresh_token',
        ...(rt.expiresAt ? { exp: Math.floor(rt.expiresAt.getTime() / 1000) } : {}),
        iss: this.settings.issuer,
      };
    }
    return INACTIVE;
  }
}
