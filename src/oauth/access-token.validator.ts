import { sha256, TOKEN_PREFIX } from '../lib/crypto';
import { AccessTokenInfo, AccessTokenValidator } from './bearer';
import { RevocableCache } from './token-cache';
import { TokenRepository } from './token.repository';

/**
 * Validates an access token by its hash: from the in-process cache when this process listens for
 * revocations, else with one indexed query (which then fills the cache).
 */
export class DbAccessTokenValidator implements AccessTokenValidator {
  constructor(
    private readonly tokens: TokenRepository,
    private readonly cache: RevocableCache<AccessTokenInfo>,
  ) {}

  async validate(token: string): Promise<AccessTokenInfo | undefined> {
    if (!token.startsWith(TOKEN_PREFIX.accessToken)) return undefined; // a refresh token or code never passes
    const hash = sha256(token);
    return this.cache.getOrLoad(hash, () => this.tokens.findLiveAccessToken(hash));
  }
}
