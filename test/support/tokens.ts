import { randomToken, sha256, TOKEN_PREFIX } from '../../src/lib/crypto';
import { AccessTokenRepository } from '../../src/oauth/store/access-token.repository';
import { GrantRepository } from '../../src/oauth/store/grant.repository';
import { HotQueries } from '../../src/oauth/store/hot-queries';
import { TestContext } from './context';

/** The access token store of the test database (for checks below the HTTP surface). */
export const accessTokenStore = (ctx: TestContext) => new AccessTokenRepository(ctx.knex, new HotQueries(ctx.knex));

/**
 * Issues a live access token for a user straight through the store, for API tests that are not
 * about the OAuth flow itself (the flow has its own tests and an Alexa simulator). The client is
 * made through the service like any other.
 */
export async function issueAccessToken(
  ctx: TestContext,
  opts: { userId: number; scope?: string[]; expiresInSeconds?: number },
): Promise<{ token: string; grantId: number; clientId: string }> {
  const scope = opts.scope ?? ['read', 'write'];
  const { client } = await ctx.services.clients.create({ name: 'Test client', redirectUris: ['https://client.example/cb'] });
  const token = randomToken(TOKEN_PREFIX.accessToken);
  const grantId = await ctx.knex.transaction(async (trx) => {
    const grant = await new GrantRepository(ctx.knex).upsertLive(trx, opts.userId, client.id, scope);
    await accessTokenStore(ctx).insert(trx, {
      tokenHash: sha256(token),
      grantId: grant.id,
      refreshTokenId: null,
      authorizationCodeId: null,
      scope,
      expiresAt: new Date(Date.now() + (opts.expiresInSeconds ?? 3600) * 1000),
    });
    return grant.id;
  });
  return { token, grantId, clientId: client.clientId };
}
