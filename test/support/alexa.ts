import { createHash, randomBytes } from 'node:crypto';
import request from 'supertest';
import { alexaRedirectUris } from '../../src/oauth/clients/redirect-uris';
import { AppOrUrl, csrfFrom, TEST_PASSWORD, TestContext, WebAgent, webAgent } from './context';

export const REGIONS = ['NA', 'EU', 'FE'] as const;
export type Region = (typeof REGIONS)[number];

/** A state like Alexa's: ~670 characters, with `=`, `+` and `/` in it (alexa.md). */
export function alexaState(): string {
  return `${randomBytes(500).toString('base64')}+/=`.slice(0, 667) + 'a+/=';
}

export interface AlexaClient {
  clientId: string;
  clientSecret: string;
  vendorId: string;
}

/** Registers an Alexa client the way `alexa:setup` does. */
export async function createAlexaClient(ctx: TestContext, opts: { rotation?: 'off' | 'rotate'; requirePkce?: boolean; accessTokenTtl?: number } = {}): Promise<AlexaClient> {
  const vendorId = `M${randomBytes(6).toString('hex').toUpperCase()}`;
  const { client, clientSecret } = await ctx.services.clients.create({
    name: 'Recipe Reader for Alexa',
    redirectUris: alexaRedirectUris(vendorId),
    refreshRotation: opts.rotation ?? 'off',
    requirePkce: opts.requirePkce ?? false,
    accessTokenTtl: opts.accessTokenTtl ?? null,
    alexaVendorId: vendorId,
  });
  return { clientId: client.clientId, clientSecret: clientSecret!, vendorId };
}

export interface TokenSet {
  access_token: string;
  token_type: string;
  expires_in: number;
  refresh_token: string;
  scope: string;
}

/**
 * Behaves as Alexa does (alexa.md): opens the authorization URL in the companion app with a
 * regional redirect URI and a long state, lets the user sign in and consent, checks the state
 * comes back byte for byte, redeems the code with redirect_uri and Basic (or body) client
 * authentication, and refreshes on its own, keeping whatever refresh token it is given.
 */
export class AlexaSimulator {
  readonly state = alexaState();
  readonly verifier = randomBytes(48).toString('base64url');
  tokens: TokenSet | undefined;

  constructor(
    private readonly app: AppOrUrl,
    readonly client: AlexaClient,
    readonly opts: { region?: Region; auth?: 'basic' | 'body'; pkce?: boolean; scope?: string } = {},
  ) {}

  get redirectUri(): string {
    const i = REGIONS.indexOf(this.opts.region ?? 'NA');
    return alexaRedirectUris(this.client.vendorId)[i];
  }

  authorizationPath(extra: Record<string, string> = {}): string {
    const params = new URLSearchParams({
      client_id: this.client.clientId,
      response_type: 'code',
      state: this.state,
      scope: this.opts.scope ?? 'read write',
      redirect_uri: this.redirectUri,
      ...(this.opts.pkce ? { code_challenge: createHash('sha256').update(this.verifier).digest('base64url'), code_challenge_method: 'S256' } : {}),
      ...extra,
    });
    return `/oauth/authorize?${params.toString()}`;
  }

  /** The user's side in the companion app: sign in (if needed) and press Allow or Deny. */
  async openAndDecide(user: { email: string; password?: string }, decision: 'allow' | 'deny' = 'allow', agent: WebAgent = webAgent(this.app)): Promise<URL> {
    let res = await agent.get(this.authorizationPath());
    if (res.status === 302 && res.headers.location.startsWith('/login')) {
      const loginPage = await agent.get(res.headers.location);
      const returnTo = new URL(res.headers.location, 'http://localhost').searchParams.get('return_to')!;
      const login = await agent
        .post('/login')
        .type('form')
        .send({ _csrf: csrfFrom(loginPage.text), email: user.email, password: user.password ?? TEST_PASSWORD, return_to: returnTo });
      if (login.status !== 303) throw new Error(`login failed: ${login.status}`);
      res = await agent.get(login.headers.location);
    }
    if (res.status !== 200) throw new Error(`expected the consent page, got ${res.status} ${res.headers.location ?? ''}`);
    const transactionId = /name="transaction_id" value="([^"]+)"/.exec(res.text)![1];
    const decided = await agent.post('/oauth/authorize').type('form').send({ _csrf: csrfFrom(res.text), transaction_id: transactionId, decision });
    if (decided.status !== 302) throw new Error(`expected a redirect after consent, got ${decided.status}`);
    const location = new URL(decided.headers.location);
    if (`${location.origin}${location.pathname}` !== this.redirectUri) throw new Error(`redirected to ${location.href}`);
    if (location.searchParams.get('state') !== this.state) throw new Error('state did not come back byte for byte');
    return location;
  }

  async link(user: { email: string; password?: string }, agent?: WebAgent): Promise<TokenSet> {
    const location = await this.openAndDecide(user, 'allow', agent);
    const code = location.searchParams.get('code');
    if (!code) throw new Error(`no code: ${location.href}`);
    const res = await this.exchange(code);
    if (res.status !== 200) throw new Error(`code exchange failed: ${res.status} ${res.text}`);
    return this.tokens!;
  }

  tokenRequest(form: Record<string, string>) {
    const req = request(this.app).post('/oauth/token').type('form');
    if ((this.opts.auth ?? 'basic') === 'basic') {
      return req.auth(this.client.clientId, this.client.clientSecret).send(form);
    }
    return req.send({ ...form, client_id: this.client.clientId, client_secret: this.client.clientSecret });
  }

  async exchange(code: string) {
    const res = await this.tokenRequest({
      grant_type: 'authorization_code',
      code,
      redirect_uri: this.redirectUri,
      ...(this.opts.pkce ? { code_verifier: this.verifier } : {}),
    });
    if (res.status === 200) this.tokens = res.body as TokenSet;
    return res;
  }

  /** Refreshes with the given (or current) refresh token and keeps the new pair, as Alexa does. */
  async refresh(refreshToken = this.tokens!.refresh_token, scope?: string) {
    const res = await this.tokenRequest({ grant_type: 'refresh_token', refresh_token: refreshToken, ...(scope ? { scope } : {}) });
    if (res.status === 200) this.tokens = res.body as TokenSet;
    return res;
  }
}
