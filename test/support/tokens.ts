import { randomToken, sha256, TOKEN_PREFIX } from '../../src/lib/crypto';
import { TestContext } from './context';

/**
 * Issues a live access token for a user straight through the repositories, for API tests that are
 * not about the OAuth flow itself (the flow has its own tests and an Alexa simulator).
 */
export async function issueAccessToken(
  ctx: TestContext,
  opts: { userId: number; scope?: string[]; expiresInSeconds?: number },
): Promise<{ token: string; grantId: number; clientId: string }> {
  const scope = opts.scope ?? ['read', 'write'];
  const client = await ctx.services.clients.create({
    clientId: `test-${randomToken().slice(0, 16)}`,
    secretHash: sha256(randomToken()),
    name: 'Test client',
    redirectUris: ['https://client.example/cb'],
    grants: ['authorization_code', 'refresh_token'],
    scopes: ['read', 'write'],
    requirePkce: false,
    allowImplicit: false,
    refreshRotation: 'off',
    accessTokenTtl: null,
    refreshTokenTtl: null,
    alexaVendorId: null,
  });
  const grant = await ctx.services.grants.upsertLive(opts.userId, client.id, scope);
  const token = randomToken(TOKEN_PREFIX.accessToken);
  await ctx.services.tokens.insertAccessToken({
    tokenHash: sha256(token),
    grantId: grant.id,
    refreshTokenId: null,
    authorizationCodeId: null,
    scope,
    expiresAt: new Date(Date.now() + (opts.expiresInSeconds ?? 3600) * 1000),
  });
  return { token, grantId: grant.id, clientId: client.clientId };
}
