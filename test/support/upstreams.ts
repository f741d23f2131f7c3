import { spawn } from 'node:child_process';
import { createHash, generateKeyPairSync, KeyObject, randomBytes, sign } from 'node:crypto';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import path from 'node:path';
import request from 'supertest';
import { WebAgent } from './context';

/** The user the upstream knows (its own account, unrelated to ours). */
export interface UpstreamUser {
  sub: string;
  email?: string;
  email_verified?: boolean;
  name?: string;
  password?: string;
}

export interface OidcUpstream {
  issuer: string;
  addUser(u: UpstreamUser): Promise<void>;
  stop(): Promise<void>;
}

/**
 * node-oidc-provider in a child process (test/support/oidc-upstream.mjs) on a random loopback
 * port, with these clients registered.
 */
export async function startOidcUpstream(clients: Array<Record<string, unknown>>): Promise<OidcUpstream> {
  const child = spawn(process.execPath, [path.join(__dirname, 'oidc-upstream.mjs')], {
    env: { PATH: process.env.PATH, NODE_ENV: 'test', UPSTREAM_CLIENTS: JSON.stringify(clients) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stderr!.on('data', (d) => (output += d));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`upstream did not start:\n${output}`)), 20000);
    child.stdout!.on('data', (d) => {
      output += d;
      const m = /\{"port":(\d+)\}/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`upstream exited ${code}:\n${output}`));
    });
  });
  const issuer = `http://127.0.0.1:${port}`;
  return {
    issuer,
    async addUser(u) {
      const res = await fetch(`${issuer}/test/users`, { method: 'POST', body: JSON.stringify({ password: 'upstream password', ...u }) });
      if (res.status !== 204) throw new Error(`addUser: ${res.status}`);
    },
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/**
 * The user's side at the upstream, in its own cookie jar: from its authorization URL through its
 * login and consent pages (or Cancel) until it redirects back to us; returns that URL.
 */
export async function throughUpstream(authorizationUrl: string, as: { email: string; password?: string } | 'cancel', up = request.agent(new URL(authorizationUrl).origin)): Promise<URL> {
  const origin = new URL(authorizationUrl).origin;
  let url = authorizationUrl;
  for (let hop = 0; hop < 15; hop++) {
    const target = new URL(url, origin);
    if (target.origin !== origin) return target; // back to us
    const res = await up.get(target.pathname + target.search);
    if (res.status === 302 || res.status === 303) {
      url = res.headers.location;
      continue;
    }
    if (res.status !== 200) throw new Error(`upstream answered ${res.status}: ${res.text.slice(0, 300)}`);
    const action = (name: string) => new RegExp(`action="(/interaction/[^"]+/${name})"`).exec(res.text)?.[1];
    let post;
    if (as === 'cancel') post = up.post(action('abort')!).type('form').send({});
    else if (action('login')) post = up.post(action('login')!).type('form').send({ login: as.email, password: as.password ?? 'upstream password' });
    else if (action('consent')) post = up.post(action('consent')!).type('form').send({});
    else throw new Error(`unexpected upstream page: ${res.text.slice(0, 300)}`);
    const posted = await post;
    if (posted.status !== 303 && posted.status !== 302) throw new Error(`upstream form answered ${posted.status}: ${posted.text.slice(0, 200)}`);
    url = posted.headers.location;
  }
  throw new Error('too many upstream hops');
}

/** Starts a sign-in at our start URL (or the login page that redirects there) and returns the upstream's authorization URL. */
export async function startAt(agent: WebAgent, path: string): Promise<string> {
  let res = await agent.get(path);
  for (let i = 0; i < 3 && res.status === 303 && res.headers.location.startsWith('/'); i++) res = await agent.get(res.headers.location);
  if (res.status !== 303) throw new Error(`expected a redirect to the upstream, got ${res.status}: ${res.text.slice(0, 300)}`);
  return res.headers.location;
}

/** Our callback URL as the upstream sent it, requested by our agent (path and query only: supertest). */
export const backToUs = (agent: WebAgent, url: URL) => agent.get(url.pathname + url.search);

// ---------------------------------------------------------------------------------------------
// Stand-ins answering as specific upstreams do, in this process.

async function formOf(req: IncomingMessage): Promise<URLSearchParams> {
  let body = '';
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  res.end(JSON.stringify(body));
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
}

const close = (server: Server) =>
  new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });

const s256 = (v: string) => createHash('sha256').update(v).digest('base64url');

export interface LwaStandIn {
  origin: string;
  /** The profile the next sign-in returns (Amazon's fields: user_id, name, email). */
  profile: Record<string, unknown>;
  /** What the token endpoint last received (to check client authentication and PKCE). */
  lastTokenRequest?: URLSearchParams;
  /** 'hang': the token endpoint never answers; 'down': 503. */
  mode: 'ok' | 'hang' | 'down';
  stop(): Promise<void>;
}

/**
 * Login with Amazon as Amazon documents it: GET /ap/oa (client_id, scope=profile, response_type=code,
 * redirect_uri, state) redirects back with code, scope and state; POST /auth/o2/token (form:
 * grant_type, code, redirect_uri, client_id, client_secret) answers access_token, refresh_token,
 * token_type "bearer", expires_in; GET /user/profile with the bearer token answers user_id, name, email.
 */
export async function startLwaStandIn(client: { clientId: string; clientSecret: string }): Promise<LwaStandIn> {
  const codes = new Map<string, { redirectUri: string; challenge?: string }>();
  const tokens = new Set<string>();
  const hanging: ServerResponse[] = [];
  const server = createServer(async (req, res) => {
    const url = new URL(req.url!, 'http://x');
    if (req.method === 'GET' && url.pathname === '/ap/oa') {
      const q = url.searchParams;
      if (q.get('client_id') !== client.clientId || q.get('response_type') !== 'code' || q.get('scope') !== 'profile') return json(res, 400, { error: 'invalid_request' });
      const code = `ANcode${randomBytes(8).toString('hex')}`;
      codes.set(code, { redirectUri: q.get('redirect_uri')!, challenge: q.get('code_challenge') ?? undefined });
      const back = new URL(q.get('redirect_uri')!);
      back.searchParams.set('code', code);
      back.searchParams.set('scope', 'profile');
      back.searchParams.set('state', q.get('state')!);
      res.writeHead(302, { location: back.href }).end();
      return;
    }
    if (req.method === 'POST' && url.pathname === '/auth/o2/token') {
      const f = await formOf(req);
      standIn.lastTokenRequest = f;
      if (standIn.mode === 'hang') return void hanging.push(res);
      if (standIn.mode === 'down') return json(res, 503, { message: 'Service Unavailable' });
      const code = codes.get(f.get('code') ?? '');
      codes.delete(f.get('code') ?? '');
      if (f.get('client_id') !== client.clientId || f.get('client_secret') !== client.clientSecret) return json(res, 401, { error: 'invalid_client', error_description: 'Client authentication failed' });
      if (!code || f.get('grant_type') !== 'authorization_code' || f.get('redirect_uri') !== code.redirectUri) return json(res, 400, { error: 'invalid_grant', error_description: 'The authorization code is invalid' });
      if (code.challenge && s256(f.get('code_verifier') ?? '') !== code.challenge) return json(res, 400, { error: 'invalid_grant', error_description: 'PKCE' });
      const accessToken = `Atza|${randomBytes(16).toString('hex')}`;
      tokens.add(accessToken);
      return json(res, 200, { access_token: accessToken, refresh_token: `Atzr|${randomBytes(16).toString('hex')}`, token_type: 'bearer', expires_in: 3600 });
    }
    if (req.method === 'GET' && url.pathname === '/user/profile') {
      const token = (req.headers.authorization ?? '').replace(/^Bearer /i, '');
      if (!tokens.has(token)) return json(res, 401, { error: 'invalid_token' }, { 'www-authenticate': 'Bearer error="invalid_token"' });
      return json(res, 200, standIn.profile);
    }
    json(res, 404, { error: 'not_found' });
  });
  const origin = await listen(server);
  const standIn: LwaStandIn = {
    origin,
    profile: {},
    mode: 'ok',
    stop: async () => {
      hanging.forEach((r) => r.destroy());
      await close(server);
    },
  };
  return standIn;
}

export type LyingMode =
  | 'ok'
  | 'wrong-iss'
  | 'wrong-aud'
  | 'wrong-nonce'
  | 'expired'
  | 'bad-signature'
  | 'no-id-token'
  | 'userinfo-no-sub'
  | 'userinfo-other-sub'
  | 'token-error'
  | 'token-hang'
  | 'discovery-hang';

export interface LyingOidc {
  issuer: string;
  mode: LyingMode;
  claims: Record<string, unknown>;
  stop(): Promise<void>;
}

/**
 * An OpenID Connect provider that signs whatever we ask it to: to show that every check of the ID
 * token and of userinfo is made (by openid-client) and that a slow one is cut off.
 */
export async function startLyingOidc(clientId: string): Promise<LyingOidc> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const pending = new Map<string, { nonce: string }>();
  const hanging: ServerResponse[] = [];
  const jwt = (payload: Record<string, unknown>, key: KeyObject) => {
    const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const data = `${enc({ alg: 'RS256', kid: 'k1', typ: 'JWT' })}.${enc(payload)}`;
    return `${data}.${sign('sha256', Buffer.from(data), key).toString('base64url')}`;
  };
  const server = createServer(async (req, res) => {
    const url = new URL(req.url!, 'http://x');
    const issuer = lying.issuer;
    if (url.pathname === '/.well-known/openid-configuration') {
      if (lying.mode === 'discovery-hang') return void hanging.push(res);
      return json(res, 200, {
        issuer,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`,
        userinfo_endpoint: `${issuer}/userinfo`,
        jwks_uri: `${issuer}/jwks`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
        code_challenge_methods_supported: ['S256'],
      });
    }
    if (url.pathname === '/jwks') return json(res, 200, { keys: [{ ...publicKey.export({ format: 'jwk' }), kid: 'k1', use: 'sig', alg: 'RS256' }] });
    if (url.pathname === '/authorize') {
      const code = `code-${randomBytes(8).toString('hex')}`;
      pending.set(code, { nonce: url.searchParams.get('nonce') ?? '' });
      const back = new URL(url.searchParams.get('redirect_uri')!);
      back.searchParams.set('code', code);
      back.searchParams.set('state', url.searchParams.get('state')!);
      res.writeHead(302, { location: back.href }).end();
      return;
    }
    if (url.pathname === '/token') {
      const f = await formOf(req);
      if (lying.mode === 'token-hang') return void hanging.push(res);
      if (lying.mode === 'token-error') return json(res, 400, { error: 'invalid_grant', error_description: 'nope' });
      const p = pending.get(f.get('code') ?? '');
      const now = Math.floor(Date.now() / 1000);
      const m = lying.mode;
      const claims = {
        iss: m === 'wrong-iss' ? 'https://evil.example' : issuer,
        aud: m === 'wrong-aud' ? 'someone-else' : clientId,
        sub: String(lying.claims.sub ?? 'lying-subject'),
        nonce: m === 'wrong-nonce' ? 'not-the-nonce' : p?.nonce,
        iat: m === 'expired' ? now - 7200 : now,
        exp: m === 'expired' ? now - 3600 : now + 300,
      };
      return json(res, 200, {
        access_token: `at-${randomBytes(8).toString('hex')}`,
        token_type: 'Bearer',
        expires_in: 300,
        ...(m === 'no-id-token' ? {} : { id_token: jwt(claims, m === 'bad-signature' ? other : privateKey) }),
      });
    }
    if (url.pathname === '/userinfo') {
      if (lying.mode === 'userinfo-no-sub') return json(res, 200, { email: lying.claims.email });
      if (lying.mode === 'userinfo-other-sub') return json(res, 200, { ...lying.claims, sub: 'somebody-else' });
      return json(res, 200, lying.claims);
    }
    json(res, 404, { error: 'not_found' });
  });
  const origin = await listen(server);
  const lying: LyingOidc = {
    issuer: origin,
    mode: 'ok',
    claims: {},
    stop: async () => {
      hanging.forEach((r) => r.destroy());
      await close(server);
    },
  };
  return lying;
}
