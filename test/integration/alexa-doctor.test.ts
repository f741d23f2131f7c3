import http from 'node:http';
import https from 'node:https';
import net, { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { Check } from '../../src/doctor/checks';
import { createAlexaClient } from '../support/alexa';
import { cli } from '../support/cli';
import { createTestContext, TestContext } from '../support/context';
import { postgresServerEnv, ServerProcess, startServerProcess } from '../support/server-process';
import { makeTestPki, TestPki } from '../support/test-pki';

/**
 * alexa:doctor against real TLS servers on loopback, with a test PKI made by openssl (a root, an
 * intermediate, leaf certificates). `--ca` trusts the test root instead of the bundled store;
 * the base URL carries the test port (the doctor warns that Alexa needs 443).
 */

let pki: TestPki;
const servers: { close(): void }[] = [];
beforeAll(() => {
  pki = makeTestPki();
});
afterAll(() => {
  for (const s of servers) s.close();
  pki.cleanup();
});

type Handler = http.RequestListener;

async function httpsServer(handler: Handler, opts: { key?: string; cert?: string; minVersion?: tls.SecureVersion } = {}) {
  const server = https.createServer({ key: opts.key ?? pki.leaf.key, cert: opts.cert ?? pki.leaf.cert + pki.intermediate, minVersion: opts.minVersion }, (req, res) => handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push({ close: () => server.close() });
  return (server.address() as AddressInfo).port;
}

/** A stand-in that answers as Linkbridge does (metadata, error page, 401 JSON), with knobs to break it. */
function fakeLinkbridge(base: () => string, overrides: Partial<Record<'metadata' | 'authorize' | 'token', Handler>> = {}): Handler {
  return (req, res) => {
    const path = new URL(req.url ?? '/', 'https://x').pathname;
    if (path === '/.well-known/oauth-authorization-server') {
      if (overrides.metadata) return overrides.metadata(req, res);
      res.setHeader('Content-Type', 'application/json');
      return res.end(JSON.stringify({ issuer: base(), authorization_endpoint: `${base()}/oauth/authorize`, token_endpoint: `${base()}/oauth/token` }));
    }
    if (path === '/oauth/authorize') {
      if (overrides.authorize) return overrides.authorize(req, res);
      res.writeHead(400, { 'Content-Type': 'text/html; charset=utf-8' });
      return res.end('<p>This app is not registered with us (unknown client_id).</p>');
    }
    if (path === '/oauth/token') {
      if (overrides.token) return overrides.token(req, res);
      req.resume();
      res.writeHead(401, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', 'WWW-Authenticate': 'Basic realm="linkbridge"' });
      return res.end(JSON.stringify({ error: 'invalid_client' }));
    }
    res.writeHead(404).end();
  };
}

async function fakeServer(overrides: Parameters<typeof fakeLinkbridge>[1] = {}, tlsOpts: Parameters<typeof httpsServer>[1] = {}) {
  let port = 0;
  port = await httpsServer(
    fakeLinkbridge(() => `https://127.0.0.1:${port}`, overrides),
    tlsOpts,
  );
  return `https://127.0.0.1:${port}`;
}

async function doctor(base: string, extra: string[] = [], env: Record<string, string> = {}) {
  const r = await cli(['alexa:doctor', '--base-url', base, '--ca', pki.rootFile, '--json', ...extra], env);
  const checks = (r.stdout ? (r.json().checks as Check[]) : []) ?? [];
  const byName = (name: string) => checks.find((c) => c.name === name)!;
  return { ...r, checks, byName };
}

describe('alexa:doctor against a good server (the real app over TLS with the full chain)', () => {
  let ctx: TestContext;
  let base: string;
  beforeAll(async () => {
    let app: Handler = (_req, res) => res.end();
    const port = await httpsServer((req, res) => app(req, res));
    base = `https://localhost:${port}`;
    ctx = createTestContext({ PUBLIC_URL: base });
    app = ctx.app;
  });
  afterAll(() => ctx.close());

  it('when everything is right, then every check passes, exit 0, with warnings only for the test port and the loopback address', async () => {
    const r = await doctor(base);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.checks.map((c) => c.name)).toEqual(['base-url', 'dns', 'tcp', 'tls-1.2', 'certificate-chain', 'certificate-host', 'certificate-expiry', 'metadata', 'authorization-uri', 'token-uri']);
    for (const c of r.checks) {
      expect(Object.keys(c).sort()).toEqual(['detail', 'fix', 'name', 'ok', 'severity']);
      expect(c.ok).toBe(true);
    }
    expect(r.byName('base-url')).toMatchObject({ severity: 'warning', detail: expect.stringContaining('Alexa calls port 443 only') });
    expect(r.byName('dns')).toMatchObject({ severity: 'warning', detail: expect.stringContaining('not a public address') });
    expect(r.byName('certificate-chain').detail).toContain('localhost > Linkbridge Test Intermediate CA > Linkbridge Test Root CA');
    expect(r.byName('authorization-uri')).toMatchObject({ severity: 'ok', detail: expect.stringContaining('our error page for an unknown client (400 HTML') });
    expect(r.byName('token-uri')).toMatchObject({ severity: 'ok', detail: expect.stringMatching(/401 invalid_client, JSON, no-store, WWW-Authenticate: Basic/) });
  });

  it('when it runs without --json, then it prints one line per check, the fixes and a verdict', async () => {
    const r = await cli(['alexa:doctor', '--base-url', base, '--ca', pki.rootFile]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^WARN {2}base-url: .*port/m);
    expect(r.stdout).toMatch(/^ok {4}certificate-chain: /m);
    expect(r.stdout).toMatch(/^ {6}fix: serve on 443/m);
    expect(r.stdout).toMatch(/All checks passed \(\d warnings\)\./);
  });

  it('when --vendor-id names a well-configured Alexa client, then the authorization request reaches the sign-in page and the client checks pass', async () => {
    const alexa = await createAlexaClient(ctx);
    const r = await doctor(base, ['--vendor-id', alexa.vendorId]);
    expect(r.code).toBe(0);
    expect(r.byName('authorization-uri')).toMatchObject({ ok: true, detail: expect.stringContaining('the sign-in page (200 HTML after 1 redirect') });
    expect(r.checks.slice(-4).map((c) => [c.name, c.severity])).toEqual([
      ['alexa-client', 'ok'],
      ['alexa-redirect-uris', 'ok'],
      ['alexa-access-token-lifetime', 'ok'],
      ['alexa-refresh-policy', 'ok'],
    ]);
  });

  it('when the Alexa client lacks a regional redirect URL, has short access tokens and expiring refresh tokens, then each is a failure with its fix', async () => {
    const alexa = await createAlexaClient(ctx);
    const client = (await ctx.services.clients.findByAlexaVendorId(alexa.vendorId))!;
    await ctx.services.clients.update(client.id, { redirectUris: client.redirectUris.slice(0, 2), refreshTokenTtl: 86400 * 14 });
    // The service refuses lifetimes under 360 s: a row changed by hand (or by an old version) is what the doctor catches.
    await ctx.knex('oauth_clients').where({ id: client.id }).update({ access_token_ttl: 300 });
    const r = await doctor(base, ['--vendor-id', alexa.vendorId]);
    expect(r.code).toBe(1);
    expect(r.byName('alexa-redirect-uris')).toMatchObject({ ok: false, detail: expect.stringContaining(`https://alexa.amazon.co.jp/api/skill/link/${alexa.vendorId} (Far East`), fix: expect.stringContaining(`alexa:setup --vendor-id ${alexa.vendorId}`) });
    expect(r.byName('alexa-access-token-lifetime')).toMatchObject({ ok: false, detail: expect.stringContaining('at least 360 s'), fix: expect.stringContaining('--access-token-ttl 3600') });
    expect(r.byName('alexa-refresh-policy')).toMatchObject({ ok: false, detail: expect.stringContaining('unlinks the user'), fix: expect.stringContaining('--refresh-token-ttl 0') });
  });

  it('when the Alexa client rotates refresh tokens with a grace window, then that is a warning, not a failure', async () => {
    const alexa = await createAlexaClient(ctx, { rotation: 'rotate' });
    const r = await doctor(base, ['--vendor-id', alexa.vendorId]);
    expect(r.code).toBe(0);
    expect(r.byName('alexa-refresh-policy')).toMatchObject({ ok: true, severity: 'warning', fix: expect.stringContaining('--rotation off') });
  });

  it('when no client exists for --vendor-id, then alexa-client fails and says to run alexa:setup', async () => {
    const r = await doctor(base, ['--vendor-id', 'MNOSUCHVENDOR1']);
    expect(r.code).toBe(1);
    expect(r.byName('alexa-client')).toMatchObject({ ok: false, fix: expect.stringContaining(`alexa:setup --vendor-id MNOSUCHVENDOR1 --base-url ${base}`) });
  });

  it('when the server runs with another PUBLIC_URL, then the metadata check names it and the fix', async () => {
    // The same server checked under 127.0.0.1: its metadata speaks of localhost.
    const r = await doctor(base.replace('localhost', '127.0.0.1'));
    expect(r.code).toBe(1);
    expect(r.byName('metadata')).toMatchObject({ ok: false, detail: expect.stringContaining(`PUBLIC_URL is ${base}`), fix: `start the server with PUBLIC_URL=${base.replace('localhost', '127.0.0.1')}` });
  });

  it('when the network checks run, then the database is never opened (a DATABASE_URL that goes nowhere does not matter)', async () => {
    const r = await doctor(base, [], { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' });
    expect(r.code).toBe(0);
  });

  it('when --vendor-id is given but the database is out of reach, then the network checks still run and alexa-client fails saying so', async () => {
    const r = await doctor(base, ['--vendor-id', 'MSOMEVENDOR1'], { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' });
    expect(r.code).toBe(1);
    expect(r.byName('token-uri').ok).toBe(true);
    expect(r.byName('alexa-client')).toMatchObject({ ok: false, detail: expect.stringContaining('cannot read the Alexa client') });
  });
});

describe('alexa:doctor against broken servers', () => {
  it('when the server omits the intermediate certificate, then the chain check fails: the server does not send the intermediate certificate', async () => {
    const r = await doctor(await fakeServer({}, { cert: pki.leaf.cert }));
    expect(r.code).toBe(1);
    expect(r.byName('certificate-chain')).toMatchObject({ ok: false, severity: 'error', detail: expect.stringContaining('the server does not send the intermediate certificate'), fix: expect.stringContaining('fullchain.pem') });
    // The rest still runs and passes: one failure, one fix.
    expect(r.checks.filter((c) => c.severity === 'error').map((c) => c.name)).toEqual(['certificate-chain']);
  });

  it('when the server speaks TLS 1.3 only, then tls-1.2 fails and says to allow TLS 1.2', async () => {
    const r = await doctor(await fakeServer({}, { minVersion: 'TLSv1.3' }));
    expect(r.code).toBe(1);
    expect(r.byName('tls-1.2')).toMatchObject({ ok: false, detail: expect.stringContaining('refuses TLS 1.2'), fix: expect.stringContaining('TLSv1.2') });
    expect(r.byName('certificate-chain').ok).toBe(true);
  });

  it('when the certificate has expired, then certificate-expiry fails with the date', async () => {
    const r = await doctor(await fakeServer({}, { key: pki.expired.key, cert: pki.expired.cert + pki.intermediate }));
    expect(r.code).toBe(1);
    expect(r.byName('certificate-expiry')).toMatchObject({ ok: false, detail: 'the certificate expired on 2020-02-01T00:00:00.000Z' });
  });

  it('when the certificate expires within 14 days, then certificate-expiry fails: renewal has stopped', async () => {
    const r = await doctor(await fakeServer({}, { key: pki.expiringSoon.key, cert: pki.expiringSoon.cert + pki.intermediate }));
    expect(r.code).toBe(1);
    expect(r.byName('certificate-expiry')).toMatchObject({ ok: false, detail: expect.stringMatching(/expires in [45] days/) });
  });

  it('when the certificate is for another host, then certificate-host fails', async () => {
    const r = await doctor(await fakeServer({}, { key: pki.otherHost.key, cert: pki.otherHost.cert + pki.intermediate }));
    expect(r.byName('certificate-host')).toMatchObject({ ok: false, detail: expect.stringContaining('not valid for 127.0.0.1') });
  });

  it('when the certificate comes from a CA the doctor does not trust, then the chain check says it does not lead to a trusted root', async () => {
    const base = await fakeServer();
    const r = await cli(['alexa:doctor', '--base-url', base, '--json']); // Node's bundled roots: the test CA is unknown
    expect(r.code).toBe(1);
    expect((r.json().checks as Check[]).find((c) => c.name === 'certificate-chain')).toMatchObject({ ok: false, detail: expect.stringContaining('does not lead to a widely trusted root') });
  });

  it('when the token endpoint is slow, then token-uri fails after 4.5 s: Alexa gives up', async () => {
    const base = await fakeServer({
      token: (req, res) => {
        req.resume();
        const t = setTimeout(() => res.writeHead(401, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', 'WWW-Authenticate': 'Basic' }).end('{"error":"invalid_client"}'), 6000);
        res.on('close', () => clearTimeout(t));
      },
    });
    const started = Date.now();
    const r = await doctor(base);
    expect(Date.now() - started).toBeLessThan(9000);
    expect(r.code).toBe(1);
    expect(r.byName('token-uri')).toMatchObject({ ok: false, detail: expect.stringContaining('no answer within 4.50 s') });
  }, 20000);

  it('when the token endpoint answers a 401 without the right headers, or an HTML page of a WAF, then token-uri fails and names what is missing', async () => {
    const bare = await doctor(await fakeServer({ token: (req, res) => (req.resume(), res.writeHead(401, { 'Content-Type': 'application/json' }).end('{"error":"invalid_client"}')) }));
    expect(bare.byName('token-uri')).toMatchObject({ ok: false, detail: expect.stringMatching(/no Cache-Control: no-store, a 401 without WWW-Authenticate: Basic/) });
    const waf = await doctor(await fakeServer({ token: (req, res) => (req.resume(), res.writeHead(403, { 'Content-Type': 'text/html' }).end('<h1>Access denied</h1>')) }));
    expect(waf.byName('token-uri')).toMatchObject({ ok: false, fix: expect.stringContaining('WAF') });
  });

  it('when the token endpoint mangles Basic credentials with reserved characters into a 500, then token-uri fails and points at the log', async () => {
    const seen: string[] = [];
    const base = await fakeServer({
      token: (req, res) => {
        req.resume();
        seen.push(Buffer.from(String(req.headers.authorization).slice(6), 'base64').toString());
        res.writeHead(500, { 'Content-Type': 'application/json' }).end('{"error":"server_error"}');
      },
    });
    const r = await doctor(base);
    expect(seen[0]).toBe('linkbridge-doctor%3Aa%25%2B%2F%3D+%26%3F:s%3Ae%25%2B%2F%3Dcr%3Ft');
    expect(r.byName('token-uri')).toMatchObject({ ok: false, fix: expect.stringContaining('log') });
  });

  it.each([
    ['to plain http', (res: http.ServerResponse) => res.writeHead(302, { Location: 'http://127.0.0.1/oauth/authorize' }).end(), 'redirects to plain http'],
    ['to another site (a login wall)', (res: http.ServerResponse) => res.writeHead(302, { Location: 'https://login.example.com/sso?next=x' }).end(), 'redirects to another site, https://login.example.com/sso'],
    ['with a 403 challenge page', (res: http.ServerResponse) => res.writeHead(403, { 'Content-Type': 'text/html' }).end('Just a moment...'), 'answered 403'],
  ])('when the authorization URI redirects %s, then authorization-uri fails', async (_why, answer, detail) => {
    const r = await doctor(await fakeServer({ authorize: (_req, res) => answer(res) }));
    expect(r.code).toBe(1);
    expect(r.byName('authorization-uri')).toMatchObject({ ok: false, detail: expect.stringContaining(detail) });
  });

  it('when the metadata lists http URLs, then metadata fails and says which PUBLIC_URL to set', async () => {
    let port = 0;
    port = await httpsServer(fakeLinkbridge(() => `http://127.0.0.1:${port}`));
    const r = await doctor(`https://127.0.0.1:${port}`);
    expect(r.byName('metadata')).toMatchObject({ ok: false, fix: `start the server with PUBLIC_URL=https://127.0.0.1:${port}` });
  });

  it('when nothing listens on the port, then tcp fails and every later check is skipped', async () => {
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    const r = await doctor(`https://127.0.0.1:${port}`);
    expect(r.code).toBe(1);
    expect(r.byName('tcp')).toMatchObject({ ok: false, detail: expect.stringContaining('ECONNREFUSED') });
    expect(r.checks.filter((c) => c.severity === 'skipped').map((c) => c.name)).toEqual(['tls-1.2', 'certificate-chain', 'certificate-host', 'certificate-expiry', 'metadata', 'authorization-uri', 'token-uri']);
  });

  it('when the host does not resolve, then dns fails and says to publish a record', async () => {
    const r = await doctor('https://no-such-host.invalid');
    expect(r.code).toBe(1);
    expect(r.byName('dns')).toMatchObject({ ok: false, fix: expect.stringContaining('A (or AAAA) record') });
  });

  it('when the port speaks plain HTTP, then the TLS checks fail without hanging', async () => {
    const server = http.createServer((_req, res) => res.end('plain'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push({ close: () => server.close() });
    const r = await doctor(`https://127.0.0.1:${(server.address() as AddressInfo).port}`);
    expect(r.code).toBe(1);
    expect(r.byName('tls-1.2')).toMatchObject({ ok: false, detail: expect.stringContaining('may not speak TLS at all') });
    expect(r.byName('certificate-chain')).toMatchObject({ ok: false, detail: expect.stringContaining('no TLS handshake') });
  });
});

describe('alexa:doctor options', () => {
  it('when --base-url is missing or not a URL, or --ca is not a certificate file, or --vendor-id is malformed, then usage and exit 2', async () => {
    expect((await cli(['alexa:doctor'])).code).toBe(2);
    expect((await cli(['alexa:doctor', '--base-url', 'not a url'])).code).toBe(2);
    expect((await cli(['alexa:doctor', '--base-url', 'https://h.example?x=1'])).code).toBe(2);
    const ca = await cli(['alexa:doctor', '--base-url', 'https://127.0.0.1:1', '--ca', `${pki.dir}/ca.cnf`]);
    expect(ca.code).toBe(2);
    expect(ca.stderr).toContain('no PEM certificate');
    expect((await cli(['alexa:doctor', '--base-url', 'https://127.0.0.1:1', '--ca', '/nonexistent/file'])).stderr).toContain('cannot be read');
    expect((await cli(['alexa:doctor', '--base-url', 'https://127.0.0.1:1', '--vendor-id', "x' OR 1=1"])).code).toBe(2);
  });

  it('when the base URL is plain http, then base-url fails: Alexa needs HTTPS', async () => {
    const r = await doctor('http://127.0.0.1:3000');
    expect(r.code).toBe(1);
    expect(r.byName('base-url')).toMatchObject({ ok: false, detail: expect.stringContaining('plain http') });
  });
});

describe('alexa:doctor against `npm start` behind a TLS proxy', () => {
  let server: ServerProcess;
  let ctx: TestContext;
  let base: string;
  beforeAll(async () => {
    let upstream = 0;
    const proxy = tls.createServer({ key: pki.leaf.key, cert: pki.leaf.cert + pki.intermediate }, (client) => {
      const backend = net.connect(upstream, '127.0.0.1');
      client.pipe(backend).pipe(client);
      const end = () => (client.destroy(), backend.destroy());
      client.on('error', end);
      backend.on('error', end);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    servers.push({ close: () => proxy.close() });
    base = `https://localhost:${(proxy.address() as AddressInfo).port}`;
    server = startServerProcess(postgresServerEnv({ PUBLIC_URL: base, TRUST_PROXY: 'loopback' }));
    upstream = await server.ready;
    ctx = createTestContext({ PUBLIC_URL: base });
  }, 90000);
  afterAll(async () => {
    await server?.stop();
    await ctx?.close();
  });

  it('when the doctor checks the proxied server with the Alexa client, then every check passes', async () => {
    const alexa = await createAlexaClient(ctx);
    const r = await doctor(base, ['--vendor-id', alexa.vendorId]);
    expect(r.checks.filter((c) => !c.ok)).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.byName('authorization-uri').detail).toContain('the sign-in page');
  });
});
