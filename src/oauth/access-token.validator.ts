import { sha256 } from '../lib/crypto';
import { AccessTokenInfo, AccessTokenValidator } from './bearer';
import { TokenRepository } from './token.repository';

/** Validates an access token against the database by its hash. */
export class DbAccessTokenValidator implements AccessTokenValidator {
  constructor(private readonly tokens: TokenRepository) {}

  async validate(token: string): Promise<AccessTokenInfo | undefined> {
    if (!token.startsWith('lb_at_')) return undefined; // a refresh token or code never passes
    return this.tokens.findLiveAccessToken(sha256(token));
  }
}
