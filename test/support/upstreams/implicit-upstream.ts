import { randomBytes } from 'node:crypto';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';

/**
 * An upstream that offers only the implicit grant (RFC 6749 §4.2): GET /authorize with
 * response_type=token redirects to the registered callback with the access token, `bearer`,
 * expires_in (a string, as in any query string), the scope and the state in the fragment;
 * any other response type gets unsupported_response_type (in the fragment too). No token
 * endpoint. `deny` makes it answer access_denied; POST /revoke records what it received.
 */
export interface ImplicitUpstream {
  url: string;
  clientId: string;
  /** The access tokens it issued, newest last. */
  issued: string[];
  /** What the last authorization request asked (response type, scope, whether it had PKCE). */
  lastRequest?: URLSearchParams;
  deny: boolean;
  revocations: string[];
  setCallback(url: string): void;
  close(): Promise<void>;
}

export async function startImplicitUpstream(): Promise<ImplicitUpstream> {
  let callback = '';
  const send = (res: ServerResponse, status: number, headers: Record<string, string>, body = '') => {
    res.writeHead(status, headers);
    res.end(body);
  };
  const body = (req: IncomingMessage) =>
    new Promise<string>((resolve) => {
      let s = '';
      req.on('data', (d) => (s += d));
      req.on('end', () => resolve(s));
    });
  const u: ImplicitUpstream = {
    url: '',
    clientId: `implicit-${randomBytes(4).toString('hex')}`,
    issued: [],
    deny: false,
    revocations: [],
    setCallback: (url) => (callback = url),
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method === 'GET' && url.pathname === '/authorize') {
      const q = url.searchParams;
      u.lastRequest = q;
      if (q.get('client_id') !== u.clientId || q.get('redirect_uri') !== callback) return send(res, 400, { 'content-type': 'text/plain' }, 'unknown client or redirect URI');
      const back = new URLSearchParams();
      if (q.get('response_type') !== 'token') back.set('error', 'unsupported_response_type');
      else if (u.deny) back.set('error', 'access_denied');
      else {
        const token = `imp_at_${randomBytes(16).toString('hex')}`;
        u.issued.push(token);
        back.set('access_token', token);
        back.set('token_type', 'bearer');
        back.set('expires_in', '1800');
        if (q.get('scope')) back.set('scope', q.get('scope')!);
      }
      if (q.get('state')) back.set('state', q.get('state')!);
      return send(res, 302, { location: `${callback}#${back}` });
    }
    if (req.method === 'POST' && url.pathname === '/revoke') {
      u.revocations.push(new URLSearchParams(await body(req)).get('token') ?? '');
      return send(res, 200, { 'content-type': 'application/json' }, '{}');
    }
    send(res, 404, { 'content-type': 'application/json' }, '{"error":"not_found"}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  u.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return u;
}
