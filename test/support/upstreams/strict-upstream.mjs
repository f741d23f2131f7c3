// A strict, real upstream for the bridge tests: node-oidc-provider (ESM, hence a plain .mjs run as
// its own process) on 127.0.0.1 and a random port, with refresh-token rotation on every use and
// reuse detection (oidc-provider revokes the whole grant when a rotated refresh token comes back:
// lib/actions/grants/refresh_token.js, `if (refreshToken.consumed) { ...revoke(ctx, grantId) }`).
// The user "alice" signs in and consents by herself (no pages). GET /__stats tells the tests what
// the upstream saw, above all how many times a spent refresh token was presented.
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import Provider from 'oidc-provider';

const callback = process.env.UPSTREAM_CALLBACK;
const clientSecret = process.env.UPSTREAM_CLIENT_SECRET;
if (!callback || !clientSecret) {
  process.stderr.write('UPSTREAM_CALLBACK and UPSTREAM_CLIENT_SECRET are required\n');
  process.exit(2);
}
const accessTtl = Number(process.env.UPSTREAM_ACCESS_TTL ?? 3600);
const stats = { refreshes: 0, reusedRefreshTokens: 0, codes: 0, errors: [], revocations: 0 };

const server = createServer();
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: 'linkbridge',
        client_secret: clientSecret,
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: [callback],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    scopes: ['read', 'write'],
    findAccount: async (_ctx, id) => ({ accountId: id, claims: async () => ({ sub: id }) }),
    features: { devInteractions: { enabled: false }, revocation: { enabled: true } },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    // Strict: every refresh rotates, and a reused refresh token revokes the grant (the default
    // behaviour of oidc-provider once rotation is on).
    rotateRefreshToken: true,
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    ttl: { AccessToken: accessTtl, AuthorizationCode: 60, RefreshToken: 14 * 24 * 3600, Grant: 14 * 24 * 3600, Interaction: 600, Session: 3600 },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
  });
  provider.on('grant.success', (ctx) => {
    if (ctx.oidc.params.grant_type === 'refresh_token') stats.refreshes++;
    if (ctx.oidc.params.grant_type === 'authorization_code') stats.codes++;
  });
  provider.on('grant.error', (_ctx, err) => {
    stats.errors.push(`${err.error}: ${err.error_detail ?? err.error_description}`);
    if (err.error_detail === 'refresh token already used') stats.reusedRefreshTokens++;
  });
  provider.on('revocation.error', (_ctx, err) => stats.errors.push(`revocation ${err.error}`));
  provider.on('server_error', (_ctx, err) => process.stderr.write(`upstream server_error: ${err.stack}\n`));

  const callbackHandler = provider.callback();
  server.on('request', async (req, res) => {
    try {
      if (req.url === '/__stats') {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(stats));
        return;
      }
      if (req.method === 'POST' && req.url === '/token/revocation') res.on('finish', () => res.statusCode === 200 && stats.revocations++);
      const m = /^\/interaction\/([A-Za-z0-9_-]+)$/.exec(req.url ?? '');
      if (m && req.method === 'GET') {
        const details = await provider.interactionDetails(req, res);
        if (details.prompt.name === 'login') {
          await provider.interactionFinished(req, res, { login: { accountId: 'alice' } }, { mergeWithLastSubmission: false });
          return;
        }
        const grant = details.grantId ? await provider.Grant.find(details.grantId) : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
        if (details.params.scope) grant.addOIDCScope(details.params.scope);
        for (const [resource, scope] of Object.entries(details.prompt.details.missingResourceScopes ?? {})) grant.addResourceScope(resource, scope.join(' '));
        const grantId = await grant.save();
        await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
        return;
      }
      callbackHandler(req, res);
    } catch (err) {
      process.stderr.write(`upstream interaction failed: ${err.stack}\n`);
      res.statusCode = 500;
      res.end('interaction failed');
    }
  });
  process.stdout.write(`upstream listening on ${port}\n`);
});
