import { randomBytes } from 'node:crypto';
import { Knex } from 'knex';
import { OAuthClient, RefreshRotation } from '../../src/oauth/domain';
import { AccessTokenRepository } from '../../src/oauth/store/access-token.repository';
import { CodeRepository } from '../../src/oauth/store/code.repository';
import { GrantRepository } from '../../src/oauth/store/grant.repository';
import { HotQueries } from '../../src/oauth/store/hot-queries';
import { RefreshTokenRepository } from '../../src/oauth/store/refresh-token.repository';
import { AuthorizationCodeGrant } from '../../src/oauth/token/grant-types/authorization-code';
import { RefreshTokenGrant } from '../../src/oauth/token/grant-types/refresh-token';
import { TokenIssuer } from '../../src/oauth/token/token-issuer';
import { createUser, TestContext } from './context';

/** The store and grant handlers of a test context, for tests below the HTTP surface. */
export function grantParts(ctx: TestContext) {
  const hot = new HotQueries(ctx.knex);
  const codes = new CodeRepository(ctx.knex, hot);
  const accessTokens = new AccessTokenRepository(ctx.knex, hot);
  const refreshTokens = new RefreshTokenRepository(ctx.knex, hot);
  const grants = new GrantRepository(ctx.knex);
  const issuer = new TokenIssuer(codes, accessTokens, refreshTokens, ctx.config.tokens, randomBytes(32));
  const handler = <T>(type: string) => ctx.services.token.grantTypes.find((g) => g.grantType === type) as unknown as T;
  return {
    knex: ctx.knex as Knex,
    issuer,
    grants,
    refreshGrant: handler<RefreshTokenGrant>('refresh_token'),
    codeGrant: handler<AuthorizationCodeGrant>('authorization_code'),
  };
}

/** A fresh user linked to a fresh client, with a grant of `scope` (no tokens yet). */
export async function freshLink(ctx: TestContext, opts: { rotation?: RefreshRotation; scope?: string[] } = {}) {
  const parts = grantParts(ctx);
  const user = await createUser(ctx);
  const { client } = await ctx.services.clients.create({ name: 'Rules', redirectUris: ['https://app.example/cb'], refreshRotation: opts.rotation ?? 'off' });
  const scope = opts.scope ?? ['read', 'write'];
  const grant = await ctx.knex.transaction((trx) => parts.grants.upsertLive(trx, user.id, client.id, scope));
  return { ...parts, user, client: client as OAuthClient, grant, scope };
}
