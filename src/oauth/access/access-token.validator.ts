import { sha256, TOKEN_PREFIX } from '../../lib/crypto';
import { AccessTokenInfo } from '../domain';
import { RevocableCache } from '../revocation/revocable-cache';
import { AccessTokenRepository } from '../store/access-token.repository';
import { AccessTokenValidator } from './bearer';

/**
 * Validates an access token by its hash: from the in-process cache when this process listens for
 * revocations, else with one indexed query (which then fills the cache).
 */
export class DbAccessTokenValidator implements AccessTokenValidator {
  constructor(
    private readonly tokens: AccessTokenRepository,
    private readonly cache: RevocableCache<AccessTokenInfo>,
  ) {}

  async validate(token: string): Promise<AccessTokenInfo | undefined> {
    if (!token.startsWith(TOKEN_PREFIX.accessToken)) return undefined; // a refresh token or code never passes
    const hash = sha256(token);
    return this.cache.getOrLoad(hash, () => this.tokens.findLive(hash));
  }
}
