// A real OpenID Connect provider for the tests: node-oidc-provider 9 (ESM-only, so a plain .mjs
// file run by node as a child process: jest's sandbox cannot load it). It listens on 127.0.0.1 on
// a random port, prints `{"port":N}` on its first line of output, and has:
// - the clients given in UPSTREAM_CLIENTS (JSON array of oidc-provider client metadata);
// - its own users, added by the test with POST /test/users {sub, email, email_verified, name, password};
// - a minimal login and consent interaction (plain HTML forms with labels, usable by supertest
//   agents and by Chromium): POST /interaction/:uid/login, /consent, /abort.
// PKCE is required for every client. oidc-provider 9 warns "Unsupported runtime" on Node 20.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import Provider from 'oidc-provider';

const clients = JSON.parse(process.env.UPSTREAM_CLIENTS ?? '[]');
const users = new Map(); // login (email) -> user
const bySub = new Map();

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'upstream-test', use: 'sig', alg: 'RS256' };

const server = createServer();
server.listen(0, '127.0.0.1', () => {
  const port = server.address().port;
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients,
    jwks: { keys: [jwk] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    scopes: ['openid', 'email', 'profile'],
    features: { devInteractions: { enabled: false } },
    pkce: { required: () => true },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(_ctx, sub) {
      const u = bySub.get(sub);
      if (!u) return undefined;
      return {
        accountId: sub,
        async claims() {
          return { sub, email: u.email, email_verified: u.email_verified, name: u.name };
        },
      };
    },
    ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 600, Grant: 600 },
  });
  provider.on('server_error', (_ctx, err) => process.stderr.write(`upstream server_error: ${err.stack}\n`));
  const callback = provider.callback();

  const page = (title, body) =>
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${title}</title></head><body><main><h1>${title}</h1>${body}</main></body></html>`;
  const send = (res, status, html) => {
    res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(html);
  };
  const form = async (req) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    return Object.fromEntries(new URLSearchParams(body));
  };

  server.on('request', async (req, res) => {
    try {
      const url = new URL(req.url, issuer);
      if (url.pathname === '/test/users' && req.method === 'POST') {
        let body = '';
        for await (const chunk of req) body += chunk;
        const u = JSON.parse(body);
        users.set(u.email, u);
        bySub.set(u.sub, u);
        res.writeHead(204).end();
        return;
      }
      const m = /^\/interaction\/([^/]+)(?:\/(login|consent|abort))?$/.exec(url.pathname);
      if (!m) return callback(req, res);
      const details = await provider.interactionDetails(req, res);
      const uid = m[1];
      if (req.method === 'GET') {
        if (details.prompt.name === 'login') {
          return send(res, 200, page('Sign in to the upstream', `<form method="post" action="/interaction/${uid}/login"><label for="login">Email</label><input id="login" name="login" type="email"><label for="password">Password</label><input id="password" name="password" type="password"><button type="submit">Sign in upstream</button></form><form method="post" action="/interaction/${uid}/abort"><button type="submit">Cancel upstream</button></form>`));
        }
        return send(res, 200, page('Share your profile?', `<form method="post" action="/interaction/${uid}/consent"><button type="submit">Allow upstream</button></form><form method="post" action="/interaction/${uid}/abort"><button type="submit">Cancel upstream</button></form>`));
      }
      if (m[2] === 'abort') {
        return provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'End-User aborted interaction' }, { mergeWithLastSubmission: false });
      }
      if (m[2] === 'login') {
        const f = await form(req);
        const u = users.get(f.login);
        if (!u || u.password !== f.password) return send(res, 400, page('Sign in to the upstream', '<p>Wrong email or password.</p>'));
        return provider.interactionFinished(req, res, { login: { accountId: u.sub } }, { mergeWithLastSubmission: false });
      }
      if (m[2] === 'consent') {
        const { prompt, params, session } = details;
        const grant = details.grantId ? await provider.Grant.find(details.grantId) : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
        if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
        if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
        for (const [indicator, scopes] of Object.entries(prompt.details.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
        const grantId = await grant.save();
        return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
      }
      send(res, 404, page('Not found', ''));
    } catch (err) {
      process.stderr.write(`upstream interaction error: ${err.stack}\n`);
      if (!res.headersSent) send(res, 500, page('Error', String(err.message)));
    }
  });
  process.stdout.write(`${JSON.stringify({ port })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
