import { sha256, TOKEN_PREFIX } from '../../lib/crypto';
import { OAuthClient } from '../domain';
import { GrantService } from '../grants/grant.service';
import { UnitOfWork } from '../revocation/unit-of-work';
import { AccessTokenRepository } from '../store/access-token.repository';
import { RefreshTokenRepository } from '../store/refresh-token.repository';

/**
 * RFC 7009. An access token is revoked alone; a refresh token revokes its whole grant (the link),
 * with every access token issued under it. Unknown tokens and other clients' tokens are ignored:
 * the answer is the same 200 either way (§2.2).
 */
export class RevokeService {
  constructor(
    private readonly accessTokens: AccessTokenRepository,
    private readonly refreshTokens: RefreshTokenRepository,
    private readonly grants: GrantService,
    private readonly uow: UnitOfWork,
  ) {}

  async revoke(client: OAuthClient, token: string): Promise<void> {
    const hash = sha256(token);
    if (token.startsWith(TOKEN_PREFIX.refreshToken)) {
      const rt = await this.refreshTokens.find(hash);
      if (rt && rt.clientId === client.id) await this.grants.revokeNow({ id: rt.grantId }, 'client');
      return;
    }
    if (token.startsWith(TOKEN_PREFIX.accessToken)) {
      const at = await this.accessTokens.findOwner(hash);
      if (!at || at.clientId !== client.id) return;
      await this.uow.run(async (tx) => {
        await this.accessTokens.revoke(tx.trx, at.id);
        tx.revoked({ tokens: [at.id] });
      });
    }
  }
}
