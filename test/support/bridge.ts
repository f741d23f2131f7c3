import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { Express } from 'express';
import { runCli } from '../../src/cli';
import { alexaRedirectUris } from '../../src/oauth/clients/redirect-uris';
import { alexaState } from './alexa';
import { Env } from '../../src/config/config';
import { createTestContext, TEST_ENCRYPTION_KEY, TEST_PASSWORD, TEST_SESSION_SECRET, TestContext, testDatabaseUrl } from './context';

/** The app on a real loopback port: the upstream redirects the browser to it. */
export async function listen(app: Express): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** The test app on a real loopback port (upstreams redirect browsers to it), and how to stop both. */
export async function servedTestContext(env: Env = {}): Promise<{ ctx: TestContext; server: { url: string; close(): Promise<void> }; close(): Promise<void> }> {
  const ctx = createTestContext(env);
  const server = await listen(ctx.app);
  return {
    ctx,
    server,
    close: async () => {
      await server.close();
      await ctx.close();
    },
  };
}

/** A browser's cookies, per host (path and expiry honoured well enough for these flows). */
export class HostJar {
  private readonly jars = new Map<string, Map<string, string>>();
  async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    const host = new URL(url).host;
    const jar = this.jars.get(host) ?? new Map<string, string>();
    this.jars.set(host, jar);
    const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(url, { redirect: 'manual', ...init, headers: { ...(init.headers as Record<string, string>), ...(cookie ? { cookie } : {}) } });
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const i = pair.indexOf('=');
      const name = pair.slice(0, i).trim();
      const gone = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a) || (/^\s*expires=/i.test(a) && new Date(a.split('=')[1]).getTime() < Date.now()));
      if (gone) jar.delete(name);
      else jar.set(name, pair.slice(i + 1));
    }
    return res;
  }
}

const form = (data: Record<string, string>) => ({ method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(data).toString() });

/** Runs the CLI in-process with a secret on standard input. */
export async function cliWithStdin(args: string[], stdinText?: string) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d) => (out += d));
  stderr.on('data', (d) => (err += d));
  const stdin = new PassThrough();
  stdin.end(stdinText ?? '');
  const code = await runCli(args, { NODE_ENV: 'test', LOG_LEVEL: 'silent', DATABASE_URL: testDatabaseUrl(), SESSION_SECRET: TEST_SESSION_SECRET, ENCRYPTION_KEYS: TEST_ENCRYPTION_KEY }, { stdout, stderr, stdin });
  return { code, stdout: out, stderr: err, json: () => JSON.parse(out) };
}

export const uniqueBridgeName = (tag = 'b') => `${tag}-${randomBytes(4).toString('hex')}`;
export const uniqueVendor = () => `M${randomBytes(6).toString('hex').toUpperCase()}`;

export interface StrictUpstream {
  url: string;
  clientSecret: string;
  stats(): Promise<{ refreshes: number; reusedRefreshTokens: number; codes: number; errors: string[]; revocations: number }>;
  stop(): Promise<void>;
}

/** oidc-provider with strict rotation and reuse detection, as a separate process (it is ESM-only). */
export function startStrictUpstream(callback: string, opts: { accessTtl?: number } = {}): Promise<StrictUpstream> {
  const clientSecret = randomBytes(24).toString('base64url');
  const child = spawn(process.execPath, [path.join(__dirname, 'upstreams/strict-upstream.mjs')], {
    env: { PATH: process.env.PATH, UPSTREAM_CALLBACK: callback, UPSTREAM_CLIENT_SECRET: clientSecret, UPSTREAM_ACCESS_TTL: String(opts.accessTtl ?? 3600), NODE_ENV: 'test' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`upstream did not start:\n${output}`)), 20000);
    child.on('exit', (code) => reject(new Error(`upstream exited ${code}:\n${output}`)));
    child.stdout!.on('data', () => {
      const m = /upstream listening on (\d+)/.exec(output);
      if (!m) return;
      clearTimeout(timer);
      const url = `http://127.0.0.1:${m[1]}`;
      resolve({
        url,
        clientSecret,
        stats: async () => (await fetch(`${url}/__stats`)).json(),
        stop: () =>
          new Promise((r) => {
            if (child.exitCode !== null) return r();
            child.on('exit', () => r());
            child.kill('SIGTERM');
          }),
      });
    });
  });
}

export interface BridgeCredentials {
  name: string;
  baseUrl: string;
  clientId: string;
  clientSecret: string;
  vendorId: string;
}

export interface BridgeTokens {
  access_token: string;
  token_type: string;
  expires_in: number;
  refresh_token?: string;
  scope: string;
}

/**
 * Alexa in front of a bridge, over real HTTP: opens the bridge's authorization URI in the
 * companion app, the user signs in to Linkbridge and passes through the upstream, the state must
 * come back byte for byte, and the code is redeemed with Basic at the bridge's token URI.
 */
export class BridgeAlexa {
  readonly state = alexaState();
  readonly verifier = randomBytes(48).toString('base64url');
  tokens: BridgeTokens | undefined;
  readonly jar = new HostJar();

  constructor(
    readonly bridge: BridgeCredentials,
    readonly opts: { scope?: string; implicit?: boolean; pkce?: boolean; tokenBase?: string } = {},
  ) {}

  get redirectUri(): string {
    return alexaRedirectUris(this.bridge.vendorId)[0];
  }

  authorizationUrl(extra: Record<string, string> = {}): string {
    const params = new URLSearchParams({
      client_id: this.bridge.clientId,
      response_type: this.opts.implicit ? 'token' : 'code',
      state: this.state,
      redirect_uri: this.redirectUri,
      ...(this.opts.scope !== undefined ? { scope: this.opts.scope } : {}),
      ...(this.opts.pkce ? { code_challenge: createHash('sha256').update(this.verifier).digest('base64url'), code_challenge_method: 'S256' } : {}),
      ...extra,
    });
    return `${this.bridge.baseUrl}/bridge/${this.bridge.name}/authorize?${params}`;
  }

  /** Follows the browser through login and the upstream until it is sent back to Alexa. */
  async authorize(email: string): Promise<URL> {
    let url = this.authorizationUrl();
    for (let hops = 0; hops < 20; hops++) {
      const res = await this.jar.fetch(url);
      if (res.status >= 300 && res.status < 400) {
        const next = new URL(res.headers.get('location')!, url);
        await res.arrayBuffer();
        if (next.href.startsWith(this.redirectUri)) return next;
        url = next.href;
        continue;
      }
      const html = await res.text();
      if (res.status === 200 && /^\/bridge\/[^/]+\/callback$/.test(new URL(url).pathname) && html.includes('id="finish"')) {
        // Our callback page for an implicit-only upstream: do what its script does, post the fragment.
        const csrf = /name="_csrf" value="([^"]+)"/.exec(html)![1];
        const posted = await this.jar.fetch(new URL(url).origin + new URL(url).pathname, form({ _csrf: csrf, fragment: new URL(url).hash.slice(1) }));
        if (posted.status !== 303) throw new Error(`the fragment post answered ${posted.status}: ${(await posted.text()).slice(0, 300)}`);
        url = new URL(posted.headers.get('location')!, url).href;
        if (url.startsWith(this.redirectUri)) return new URL(url);
        continue;
      }
      if (res.status === 200 && new URL(url).pathname === '/login') {
        const csrf = /name="_csrf" value="([^"]+)"/.exec(html)![1];
        const returnTo = new URL(url).searchParams.get('return_to')!;
        const login = await this.jar.fetch(`${this.bridge.baseUrl}/login`, form({ _csrf: csrf, email, password: TEST_PASSWORD, return_to: returnTo }));
        if (login.status !== 303) throw new Error(`login failed: ${login.status}`);
        url = new URL(login.headers.get('location')!, url).href;
        continue;
      }
      throw new Error(`unexpected ${res.status} at ${url}: ${html.slice(0, 300)}`);
    }
    throw new Error('too many redirects');
  }

  async link(email: string): Promise<BridgeTokens> {
    const back = await this.authorize(email);
    if (back.searchParams.get('state') !== this.state) throw new Error(`state did not come back byte for byte: ${back.href.slice(0, 200)}`);
    const code = back.searchParams.get('code');
    if (!code) throw new Error(`no code: ${back.href.slice(0, 300)}`);
    const res = await this.exchange(code);
    if (res.status !== 200) throw new Error(`code exchange failed: ${res.status} ${JSON.stringify(res.body)}`);
    return this.tokens!;
  }

  async token(data: Record<string, string>, auth: 'basic' | 'body' = 'basic'): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
    const base = this.opts.tokenBase ?? this.bridge.baseUrl;
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
    const body = new URLSearchParams(data);
    if (auth === 'basic') headers.authorization = `Basic ${Buffer.from(`${this.bridge.clientId}:${this.bridge.clientSecret}`).toString('base64')}`;
    else {
      body.set('client_id', this.bridge.clientId);
      body.set('client_secret', this.bridge.clientSecret);
    }
    const res = await fetch(`${base}/bridge/${this.bridge.name}/token`, { method: 'POST', headers, body: body.toString() });
    return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
  }

  async exchange(code: string) {
    const res = await this.token({ grant_type: 'authorization_code', code, redirect_uri: this.redirectUri, ...(this.opts.pkce ? { code_verifier: this.verifier } : {}) });
    if (res.status === 200) this.tokens = res.body as unknown as BridgeTokens;
    return res;
  }

  /** Refreshes with the given (or current) handle and keeps the new pair, as Alexa does. */
  async refresh(handle = this.tokens!.refresh_token!) {
    const res = await this.token({ grant_type: 'refresh_token', refresh_token: handle });
    if (res.status === 200) this.tokens = res.body as unknown as BridgeTokens;
    return res;
  }
}
