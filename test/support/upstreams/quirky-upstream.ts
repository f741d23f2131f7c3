import { randomBytes } from 'node:crypto';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';

/**
 * A deliberately non-conforming upstream, combining what makes servers unusable for Alexa
 * directly (issue 15): token requests only as JSON, client credentials only in the body (Basic is
 * refused), answers nested in camelCase (`data.accessToken`) with `expiresIn` as a string and no
 * token_type, scopes separated by commas, an extra authorize parameter and an extra token
 * parameter it insists on, and no `state` in its redirect back. It also rotates refresh tokens
 * strictly and revokes the chain on reuse. Controls let a test take it down (`outage`), make it
 * hang (`hangMs`) or revoke everything (`revokeAll`).
 */
export interface QuirkyUpstream {
  url: string;
  clientId: string;
  clientSecret: string;
  stats: { codes: number; refreshes: number; reused: number; revoked: number; rejected: string[] };
  /** Each RFC 7009 call as received: what kind of token (by its prefix, never the value), the hint, and whether the credentials were right. */
  revocations: Array<{ token: 'refresh' | 'access' | 'unknown'; hint: string | undefined; authenticated: boolean }>;
  /** 'down': the revocation endpoint answers 503; 'hang': it never answers. */
  revocationOutage: false | 'down' | 'hang';
  /** 'down': 503 on the token endpoint; 'network': connections are cut. */
  outage: false | 'down' | 'network';
  hangMs: number;
  /** What the answers say in data.expiresIn; undefined leaves it out. */
  expiresIn: string | undefined;
  revokeAll(): void;
  setCallback(url: string): void;
  close(): Promise<void>;
}

interface Chain {
  live: string | undefined;
  spent: Set<string>;
  revoked: boolean;
}

export async function startQuirkyUpstream(opts: { scopesRequired?: string[] } = {}): Promise<QuirkyUpstream> {
  const clientId = `quirky-${randomBytes(4).toString('hex')}`;
  const clientSecret = randomBytes(24).toString('base64url');
  const codes = new Map<string, { redirectUri: string }>();
  const chains: Chain[] = [];
  let callback = '';
  const scopesRequired = opts.scopesRequired ?? ['profile.read', 'devices.control'];

  const answer = (res: ServerResponse, status: number, body: unknown) => {
    res.statusCode = status;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(body));
  };
  const body = (req: IncomingMessage) =>
    new Promise<string>((resolve) => {
      let s = '';
      req.on('data', (d) => (s += d));
      req.on('end', () => resolve(s));
    });
  const issue = (chain: Chain) => {
    const refreshToken = `q_rt_${randomBytes(16).toString('hex')}`;
    chain.live = refreshToken;
    return { data: { accessToken: `q_at_${randomBytes(16).toString('hex')}`, refreshToken, ...(u.expiresIn !== undefined ? { expiresIn: u.expiresIn } : {}) } };
  };

  const u: QuirkyUpstream = {
    url: '',
    clientId,
    clientSecret,
    stats: { codes: 0, refreshes: 0, reused: 0, revoked: 0, rejected: [] },
    revocations: [],
    revocationOutage: false,
    outage: false,
    hangMs: 0,
    expiresIn: '7200',
    revokeAll: () => chains.forEach((c) => (c.revoked = true)),
    setCallback: (url) => (callback = url),
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
  const reject = (res: ServerResponse, status: number, error: string, why: string) => {
    u.stats.rejected.push(why);
    answer(res, status, { error });
  };

  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method === 'GET' && url.pathname === '/oauth2/auth') {
      const q = url.searchParams;
      if (q.get('client_id') !== clientId || q.get('redirect_uri') !== callback) return reject(res, 400, 'invalid_request', 'authorize: client or redirect');
      if (q.get('audience') !== 'https://api.quirky.test') return reject(res, 400, 'invalid_request', 'authorize: audience missing');
      const scopes = (q.get('scope') ?? '').split(',');
      if (scopesRequired.some((s) => !scopes.includes(s))) return reject(res, 400, 'invalid_scope', `authorize: scopes ${q.get('scope')}`);
      const code = `q_code_${randomBytes(12).toString('hex')}`;
      codes.set(code, { redirectUri: callback });
      res.statusCode = 302;
      res.setHeader('location', `${callback}?code=${code}`); // no state: this upstream never echoes it
      res.end();
      return;
    }
    if (req.method === 'POST' && url.pathname === '/api/token') {
      if (u.outage === 'network') return req.socket.destroy();
      if (u.hangMs) await new Promise((r) => setTimeout(r, u.hangMs));
      if (u.outage === 'down') return answer(res, 503, { message: 'maintenance' });
      if (req.headers.authorization) return reject(res, 401, 'invalid_client', 'token: Basic is not accepted');
      if (!/^application\/json/.test(req.headers['content-type'] ?? '')) return reject(res, 415, 'invalid_request', 'token: not JSON');
      let p: Record<string, string>;
      try {
        p = JSON.parse(await body(req)) as Record<string, string>;
      } catch {
        return reject(res, 400, 'invalid_request', 'token: bad JSON');
      }
      if (p.client_id !== clientId || p.client_secret !== clientSecret) return reject(res, 401, 'invalid_client', 'token: credentials');
      if (p.tenant !== 'acme') return reject(res, 400, 'invalid_request', 'token: tenant missing');
      if (p.grant_type === 'authorization_code') {
        const c = codes.get(p.code);
        codes.delete(p.code);
        if (!c || p.redirect_uri !== c.redirectUri) return reject(res, 400, 'invalid_grant', 'token: code');
        u.stats.codes++;
        const chain: Chain = { live: undefined, spent: new Set(), revoked: false };
        chains.push(chain);
        return answer(res, 200, issue(chain));
      }
      if (p.grant_type === 'refresh_token') {
        const chain = chains.find((c) => c.live === p.refresh_token || c.spent.has(p.refresh_token));
        if (!chain || chain.revoked) return reject(res, 400, 'invalid_grant', 'refresh: unknown or revoked');
        if (chain.spent.has(p.refresh_token)) {
          u.stats.reused++;
          chain.revoked = true; // reuse detection: the whole chain goes
          return reject(res, 400, 'invalid_grant', 'refresh: reused');
        }
        chain.spent.add(p.refresh_token);
        u.stats.refreshes++;
        return answer(res, 200, issue(chain));
      }
      return reject(res, 400, 'unsupported_grant_type', 'token: grant type');
    }
    if (req.method === 'POST' && url.pathname === '/api/revoke') {
      const p = JSON.parse((await body(req)) || '{}') as Record<string, string>;
      const token = p.token?.startsWith('q_rt_') ? 'refresh' : p.token?.startsWith('q_at_') ? 'access' : 'unknown';
      u.revocations.push({ token, hint: p.token_type_hint, authenticated: !req.headers.authorization && p.client_id === clientId && p.client_secret === clientSecret });
      if (u.revocationOutage === 'hang') return; // never answers: the caller's timeout must end it
      if (u.revocationOutage === 'down') return answer(res, 503, { message: 'maintenance' });
      const chain = chains.find((c) => c.live === p.token);
      if (chain) chain.revoked = true;
      u.stats.revoked++;
      return answer(res, 200, {});
    }
    answer(res, 404, { error: 'not_found' });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  u.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return u;
}
