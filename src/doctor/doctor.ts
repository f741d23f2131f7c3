import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import { alexaRedirectUris } from '../oauth/clients/redirect-uris';
import { OAuthClient } from '../oauth/domain';
import { Check, fail, pass, skip, warn } from './checks';
import { alexaClientChecks, TokenDefaults } from './client-checks';
import { chainOf, httpsRequest, isNonPublicAddress, lookupAll, ProbeError, Target, tcpConnect, tlsHandshake } from './probe';

/**
 * `alexa:doctor`: from wherever it runs, checks what Alexa will need of a deployment (alexa.md)
 * and says, for each failure, what to fix. Network checks need no database; the client checks
 * (--vendor-id) read the Alexa client.
 */

/** Alexa's budget for a token answer (alexa.md). */
export const TOKEN_BUDGET_MS = 4500;
/** Our budget for the authorization page: the same; slower is a user staring at a blank in-app browser. */
export const PAGE_BUDGET_MS = 4500;
/** Slower than this is a warning: an invalid request costs far less than a real exchange. */
export const SLOW_MS = 2000;
export const CERT_MIN_DAYS_LEFT = 14;
const NETWORK_TIMEOUT_MS = 5000;
const MAX_REDIRECTS = 5;

export interface DoctorOptions {
  baseUrl: string;
  /** Root certificates to trust instead of Node's bundled store (for tests with a test CA). */
  ca?: string[];
  vendorId?: string;
  /** Reads the Alexa client for --vendor-id and the server's token defaults (the only database access). */
  findAlexaClient?: (vendorId: string) => Promise<{ client: OAuthClient | undefined; defaults: TokenDefaults }>;
}

/** A base URL as alexa:setup takes it: absolute, https, no query, fragment or credentials; trailing slashes dropped. */
export function parseBaseUrl(input: string): URL | string {
  let url: URL;
  try {
    url = new URL(input.trim().replace(/\/+$/, ''));
  } catch {
    return 'is not an absolute URL such as https://auth.example.com';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'must be an https:// URL';
  if (url.search || url.hash || input.includes('#') || input.includes('?')) return 'must not have a query or fragment';
  if (url.username || url.password) return 'must not contain credentials';
  return url;
}

/** RFC 6749 §2.3.1: the client ID and secret are form-urlencoded before Basic encodes them. */
const formEncode = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
/** Credentials full of characters Basic and form encoding disagree on: a proxy or server that mangles them shows. */
export const PROBE_CLIENT_ID = 'linkbridge-doctor:a%+/= &?';
export const PROBE_CLIENT_SECRET = 's:e%+/=cr?t';

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const cn = (c: tls.PeerCertificate) => (c.subject?.CN ? String(c.subject.CN) : c.subject?.O ? String(c.subject.O) : 'an unnamed certificate');

export async function runDoctor(opts: DoctorOptions): Promise<Check[]> {
  const checks: Check[] = [];
  const parsed = parseBaseUrl(opts.baseUrl);
  if (typeof parsed === 'string') return [fail('base-url', `--base-url ${parsed}`, 'pass the public base URL Alexa uses, e.g. --base-url https://auth.example.com')];
  const url = parsed;
  const base = url.href.replace(/\/+$/, '');
  const host = url.hostname.replace(/^\[|\]$/g, '');

  // The client first (it decides the authorization request), reported last.
  let client: OAuthClient | undefined;
  const clientChecks: Check[] = [];
  if (opts.vendorId !== undefined && opts.findAlexaClient) {
    try {
      const found = await opts.findAlexaClient(opts.vendorId);
      client = found.client;
      clientChecks.push(...alexaClientChecks(opts.vendorId, base, client, found.defaults));
    } catch (err) {
      // The network checks still run: a database out of reach is one failure, not the end.
      clientChecks.push(fail('alexa-client', `cannot read the Alexa client: ${(err as Error).message}`, 'run the doctor where the configuration (DATABASE_URL, or the data folder) reaches the server\'s database'));
    }
  }
  const finish = (...rest: Check[]) => [...checks, ...rest, ...clientChecks];

  if (url.protocol !== 'https:') {
    return finish(
      fail('base-url', `${base} is plain http: Alexa calls the authorization and token URIs over HTTPS only`, 'terminate TLS at a reverse proxy on port 443 and use its https:// URL (README: HTTPS on port 443)'),
      ...['dns', 'tcp', 'tls-1.2', 'certificate-chain', 'certificate-host', 'certificate-expiry', 'metadata', 'authorization-uri', 'token-uri'].map((n) => skip(n, 'the base URL is not https')),
    );
  }
  const port = url.port ? Number(url.port) : 443;
  checks.push(
    url.port
      ? warn('base-url', `${base} carries port ${url.port}: Alexa calls port 443 only, and the console's URLs must not name a port`, `serve on 443 and use ${url.protocol}//${url.hostname}${url.pathname === '/' ? '' : url.pathname} (a port is only for local tests)`)
      : pass('base-url', `${base} (https, port 443)`),
  );

  const network = ['dns', 'tcp', 'tls-1.2', 'certificate-chain', 'certificate-host', 'certificate-expiry', 'metadata', 'authorization-uri', 'token-uri'];
  const skipFrom = (name: string, because: string) => network.slice(network.indexOf(name)).map((n) => skip(n, because));

  // DNS
  let addresses: { address: string; family: number }[];
  try {
    addresses = await lookupAll(host, NETWORK_TIMEOUT_MS);
    if (addresses.length === 0) throw new ProbeError('no address');
  } catch (err) {
    return finish(fail('dns', `${host} does not resolve from here (${(err as Error).message})`, `publish an A (or AAAA) record for ${host} pointing at the proxy`), ...skipFrom('tcp', 'DNS failed'));
  }
  const list = addresses.map((a) => a.address).join(', ');
  const nonPublic = addresses.filter((a) => isNonPublicAddress(a.address));
  checks.push(
    nonPublic.length > 0
      ? warn('dns', `${host} resolves to ${list}; ${nonPublic.map((a) => a.address).join(', ')} is not a public address, which Alexa on the internet cannot reach`, `make sure public DNS gives ${host} the proxy's public address (this machine may see another answer)`)
      : pass('dns', `${host} resolves to ${list}`),
  );

  // TCP, to every address (Alexa may pick any)
  const reachable: string[] = [];
  const unreachable: string[] = [];
  await Promise.all(
    addresses.map(async (a) => {
      try {
        await tcpConnect(a.address, port, NETWORK_TIMEOUT_MS);
        reachable.push(a.address);
      } catch (err) {
        unreachable.push(`${a.address} (${(err as ProbeError).code ?? (err as Error).message})`);
      }
    }),
  );
  if (reachable.length === 0) {
    return finish(fail('tcp', `nothing accepts connections on port ${port} at ${unreachable.join(', ')}`, `start the TLS proxy on port ${port} and open it in the firewall`), ...skipFrom('tls-1.2', 'no connection'));
  }
  checks.push(
    unreachable.length > 0
      ? warn('tcp', `port ${port} answers at ${reachable.join(', ')} but not at ${unreachable.join(', ')}`, 'remove the DNS record of the address that does not answer (often an AAAA record), or serve on it too')
      : pass('tcp', `port ${port} accepts connections at ${reachable.join(', ')}`),
  );
  const address = addresses.map((a) => a.address).find((a) => reachable.includes(a))!;
  const target: Target = { host, address, port, ca: opts.ca };

  // TLS 1.2 offered (a TLS 1.3-only server has broken linking)
  try {
    const t12 = await tlsHandshake(target, { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', timeoutMs: NETWORK_TIMEOUT_MS });
    checks.push(pass('tls-1.2', `TLS 1.2 is offered (${t12.cipher})`));
  } catch (err) {
    const e = err as ProbeError;
    const notTls = /WRONG_VERSION_NUMBER|PACKET_LENGTH_TOO_LONG|ECONNRESET|UNEXPECTED_EOF/i.test(`${e.code ?? ''} ${e.message}`);
    checks.push(
      notTls
        ? fail('tls-1.2', `no TLS 1.2 handshake (${e.code ?? e.message}): the port may not speak TLS at all (plain HTTP?)`, 'put a TLS proxy on this port (README: HTTPS on port 443)')
        : e.code === 'ETIMEDOUT'
        ? fail('tls-1.2', `no TLS 1.2 handshake within ${NETWORK_TIMEOUT_MS} ms`, 'check that a TLS server (not plain HTTP) listens on this port')
        : fail('tls-1.2', `the server refuses TLS 1.2 (${e.code ?? e.message}): TLS 1.3-only servers and strict cipher lists have broken Alexa linking`, 'allow TLS 1.2 with the usual ECDHE AES-GCM ciphers (nginx: ssl_protocols TLSv1.2 TLSv1.3; Caddy does by default)'),
    );
  }

  // The certificate, with only the trusted roots and nothing fetched: a missing intermediate fails.
  let handshake;
  try {
    handshake = await tlsHandshake(target, { timeoutMs: NETWORK_TIMEOUT_MS });
  } catch (err) {
    const e = err as ProbeError;
    return finish(
      fail('certificate-chain', `no TLS handshake at all (${e.code ?? e.message})`, 'serve TLS on this port with a certificate for the host (README: HTTPS on port 443)'),
      ...skipFrom('certificate-host', 'no TLS handshake'),
    );
  }
  checks.push(chainCheck(handshake.authorizationError, chainOf(handshake.peer)));
  const hostError = tls.checkServerIdentity(host, handshake.peer);
  checks.push(
    hostError
      ? fail('certificate-host', `the certificate is not valid for ${host}: ${hostError.message}`, `get a certificate whose subjectAltName names ${host}`)
      : pass('certificate-host', `the certificate names ${host}`),
  );
  checks.push(expiryCheck(handshake.peer));

  // The metadata document
  checks.push(await metadataCheck(target, base));

  // The Authorization URI
  const redirectUri = client && opts.vendorId ? (alexaRedirectUris(opts.vendorId).find((u) => client!.redirectUris.includes(u)) ?? null) : null;
  checks.push(await authorizationCheck(target, base, client && redirectUri ? { clientId: client.clientId, redirectUri } : undefined));

  // The Access Token URI
  checks.push(await tokenCheck(target, base, redirectUri ?? alexaRedirectUris(opts.vendorId ?? 'LINKBRIDGEDOCTOR')[0]));

  return finish();
}

function chainCheck(error: string | null, chain: tls.PeerCertificate[]): Check {
  const names = chain.map(cn).join(' > ');
  const leafOnly = chain.length === 1;
  switch (error) {
    case null:
      return pass('certificate-chain', `the chain verifies without fetching anything: ${names}`);
    case 'CERT_HAS_EXPIRED':
    case 'CERT_NOT_YET_VALID':
      // The dates are the expiry check's; the chain itself was built up to a trusted root.
      return chain.length > 1 && (chain[chain.length - 1] as tls.DetailedPeerCertificate).issuerCertificate?.fingerprint256 === chain[chain.length - 1].fingerprint256
        ? pass('certificate-chain', `the chain reaches a trusted root: ${names} (see certificate-expiry)`)
        : pass('certificate-chain', `the chain is ${names} (see certificate-expiry)`);
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'UNABLE_TO_GET_ISSUER_CERT':
      if (leafOnly) {
        return fail(
          'certificate-chain',
          `the server does not send the intermediate certificate: it sends only ${names}, issued by ${String(chain[0].issuer?.CN ?? 'an intermediate')}, and Alexa does not fetch missing intermediates`,
          'configure the full chain: nginx ssl_certificate fullchain.pem (never cert.pem alone); other servers: the certificate followed by the intermediate(s)',
        );
      }
      return fail('certificate-chain', `the chain ${names} does not lead to a widely trusted root (a private CA, or a missing intermediate further up)`, 'use a certificate from a public CA (Let\'s Encrypt) and send its full chain');
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
      return fail('certificate-chain', `the certificate is self-signed (${names}): Alexa accepts only certificates from widely trusted CAs`, 'get a certificate from a public CA (Let\'s Encrypt; Caddy does it by itself)');
    case 'SELF_SIGNED_CERT_IN_CHAIN':
      return fail('certificate-chain', `the chain ${names} ends in a root that is not trusted (a private CA)`, 'use a certificate from a public CA');
    default:
      return fail('certificate-chain', `the certificate does not verify: ${error} (${names})`, 'serve a valid certificate from a public CA with its full chain');
  }
}

function expiryCheck(peer: tls.DetailedPeerCertificate): Check {
  let notAfter: Date;
  let notBefore: Date;
  try {
    const x = new X509Certificate(peer.raw);
    notAfter = new Date(x.validTo);
    notBefore = new Date(x.validFrom);
  } catch {
    return fail('certificate-expiry', 'the certificate cannot be read', 'serve a valid certificate');
  }
  const now = Date.now();
  const daysLeft = Math.floor((notAfter.getTime() - now) / 86_400_000);
  if (notBefore.getTime() > now) return fail('certificate-expiry', `the certificate is not valid before ${notBefore.toISOString()}`, 'check the clock of the machine that issued it, or reissue it');
  if (notAfter.getTime() <= now) return fail('certificate-expiry', `the certificate expired on ${notAfter.toISOString()}`, 'renew it now (certbot renew, or let Caddy manage it) and reload the proxy');
  if (daysLeft < CERT_MIN_DAYS_LEFT) return fail('certificate-expiry', `the certificate expires in ${daysLeft} day${daysLeft === 1 ? '' : 's'} (${notAfter.toISOString()}): automatic renewal has stopped`, 'renew it (certbot renew --dry-run shows why renewal fails) and reload the proxy');
  return pass('certificate-expiry', `valid until ${notAfter.toISOString()} (${daysLeft} days)`);
}

function parseJson(body: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(body);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const isJson = (headers: Record<string, unknown>) => /^application\/json\b/i.test(String(headers['content-type'] ?? ''));
const isHtml = (headers: Record<string, unknown>) => /^text\/html\b/i.test(String(headers['content-type'] ?? ''));
const unreachable = (name: string, what: string, err: unknown): Check =>
  (err as ProbeError).code === 'ETIMEDOUT'
    ? fail(name, `${what}: ${(err as Error).message}`, 'find what holds the request: the proxy\'s upstream (is the server running?), a firewall, or the database')
    : fail(name, `${what}: ${(err as Error).message}`, 'check the proxy forwards this path to Linkbridge');

async function metadataCheck(target: Target, base: string): Promise<Check> {
  const name = 'metadata';
  const where = new URL(`${base}/.well-known/oauth-authorization-server`);
  let res;
  try {
    res = await httpsRequest(target, where, { deadlineMs: PAGE_BUDGET_MS, headers: { accept: 'application/json' } });
  } catch (err) {
    return unreachable(name, `${where.pathname} did not answer`, err);
  }
  const doc = res.status === 200 && isJson(res.headers) ? parseJson(res.body) : undefined;
  if (!doc) return fail(name, `${where.pathname} answered ${res.status} ${String(res.headers['content-type'] ?? 'without a content type')}, not the JSON metadata document`, 'let the proxy forward every path to Linkbridge, including /.well-known/');
  const expected: Record<string, string> = { issuer: base, authorization_endpoint: `${base}/oauth/authorize`, token_endpoint: `${base}/oauth/token` };
  const wrong = Object.entries(expected).filter(([k, v]) => doc[k] !== v);
  if (wrong.length > 0) {
    const issuer = typeof doc.issuer === 'string' ? doc.issuer.slice(0, 200) : '(none)';
    return fail(
      name,
      `the metadata names ${wrong.map(([k]) => `${k} ${JSON.stringify(String(doc[k] ?? '')).slice(0, 200)}`).join(', ')}, not URLs on ${base} (the server's PUBLIC_URL is ${issuer})`,
      `start the server with PUBLIC_URL=${base}`,
    );
  }
  return pass(name, `${where.pathname} lists ${base}/oauth/authorize and ${base}/oauth/token`);
}

/**
 * A well-formed authorization request, as Alexa's in-app browser sends it. With the real client
 * (--vendor-id) the answer must be a page (200 HTML: our sign-in or consent page), reached
 * directly or through redirects on the same https origin. Without it the request names a client
 * that does not exist, and the answer must be our error page, 400 HTML, given at once: it proves
 * the path reaches Linkbridge's authorization endpoint, not that a client is configured.
 */
async function authorizationCheck(target: Target, base: string, real: { clientId: string; redirectUri: string } | undefined): Promise<Check> {
  const name = 'authorization-uri';
  const params = new URLSearchParams({
    response_type: 'code',
    client_id: real?.clientId ?? 'lbc_linkbridge_doctor_unknown_client',
    redirect_uri: real?.redirectUri ?? alexaRedirectUris('LINKBRIDGEDOCTOR')[0],
    state: 'linkbridge-doctor+/=state',
    scope: 'read write',
  });
  const origin = new URL(base).origin;
  let url = new URL(`${base}/oauth/authorize?${params}`);
  const started = Date.now();
  for (let hop = 0; ; hop++) {
    let res;
    try {
      res = await httpsRequest(target, url, { deadlineMs: Math.max(1, PAGE_BUDGET_MS - (Date.now() - started)), headers: { accept: 'text/html' } });
    } catch (err) {
      return unreachable(name, `${url.pathname} did not answer within ${seconds(PAGE_BUDGET_MS)}`, err);
    }
    const elapsed = Date.now() - started;
    if (res.status >= 300 && res.status < 400 && res.headers.location) {
      let next: URL;
      try {
        next = new URL(res.headers.location, url);
      } catch {
        return fail(name, `${url.pathname} redirects to an invalid URL`, 'remove the redirect in front of Linkbridge');
      }
      if (next.protocol === 'http:') return fail(name, `${url.pathname} redirects to plain http (${next.origin}${next.pathname})`, 'start the server with an https PUBLIC_URL and TRUST_PROXY naming the proxy, which must send X-Forwarded-Proto: https');
      if (next.origin !== origin) {
        const error = next.searchParams.get('error');
        if (error) return fail(name, `the authorization request was answered with error=${error.slice(0, 60)} at ${next.origin}${next.pathname}`, 'Alexa would show "The authorization server returned with an error parameter": see the server log and the client\'s configuration (--vendor-id checks it)');
        return fail(name, `${url.pathname} redirects to another site, ${next.origin}${next.pathname}: a login wall, access gateway or bot check in front of Linkbridge`, 'let the authorization URL reach Linkbridge directly: Alexa\'s in-app browser must get our sign-in page');
      }
      if (hop >= MAX_REDIRECTS) return fail(name, `more than ${MAX_REDIRECTS} redirects`, 'remove the redirect loop in front of Linkbridge');
      url = next;
      continue;
    }
    const expected = real ? 200 : 400;
    const what = real ? 'the sign-in page' : 'our error page for an unknown client';
    if (res.status !== expected || !isHtml(res.headers)) {
      const blocked = res.status === 401 || res.status === 403 || res.status === 429 || res.status === 503;
      return fail(
        name,
        `${url.pathname} answered ${res.status} ${String(res.headers['content-type'] ?? '')}, not ${what} (${expected} HTML)`.trim(),
        blocked ? 'a WAF, bot protection or access rule answers instead of Linkbridge: let the authorization and token URLs through' : 'check the proxy forwards /oauth/authorize to Linkbridge unchanged (query included)',
      );
    }
    if (elapsed > SLOW_MS) return warn(name, `${what} came in ${seconds(elapsed)}`, 'a slow page in the Alexa app loses users: look at the proxy and database latency');
    return pass(name, `${what} (${res.status} HTML${hop > 0 ? ` after ${hop} redirect${hop > 1 ? 's' : ''} on ${origin}` : ''}) in ${seconds(elapsed)}`);
  }
}

/**
 * An invalid token request the way Alexa sends a real one: form-encoded, HTTP Basic with an ID
 * and a secret full of reserved characters (form-urlencoded first, RFC 6749 §2.3.1), a bogus code.
 */
async function tokenCheck(target: Target, base: string, redirectUri: string): Promise<Check> {
  const name = 'token-uri';
  const url = new URL(`${base}/oauth/token`);
  const basic = Buffer.from(`${formEncode(PROBE_CLIENT_ID)}:${formEncode(PROBE_CLIENT_SECRET)}`).toString('base64');
  let res;
  try {
    res = await httpsRequest(target, url, {
      method: 'POST',
      deadlineMs: TOKEN_BUDGET_MS,
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${basic}`, accept: 'application/json' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: 'lb_ac_linkbridge-doctor-bogus-code', redirect_uri: redirectUri }).toString(),
    });
  } catch (err) {
    if ((err as ProbeError).code === 'ETIMEDOUT') {
      return fail(name, `no answer within ${seconds(TOKEN_BUDGET_MS)}: Alexa gives up after 4.5 s and the user sees "unable to link"`, 'find what is slow: the proxy\'s upstream, DNS of the database, or the database itself (see /metrics)');
    }
    return unreachable(name, `${url.pathname} did not answer`, err);
  }
  const problems: string[] = [];
  const body = isJson(res.headers) ? parseJson(res.body) : undefined;
  if (res.status !== 400 && res.status !== 401) problems.push(`status ${res.status} (expected 400 or 401)`);
  if (!body || typeof body.error !== 'string') problems.push(`not a JSON error (${String(res.headers['content-type'] ?? 'no content type')})`);
  if (!/\bno-store\b/i.test(String(res.headers['cache-control'] ?? ''))) problems.push('no Cache-Control: no-store');
  if (res.status === 401 && !/^basic\b/i.test(String(res.headers['www-authenticate'] ?? ''))) problems.push('a 401 without WWW-Authenticate: Basic');
  if (problems.length > 0) {
    const fix =
      res.status >= 500
        ? 'the server failed: read its log for this request'
        : isHtml(res.headers)
          ? 'something in front of Linkbridge (a WAF, bot protection, an error page of the proxy) answers the token URL: let POST /oauth/token through unchanged'
          : 'let the proxy pass POST /oauth/token and its Authorization header to Linkbridge unchanged';
    return fail(name, `POST ${url.pathname} with a bogus code answered with ${problems.join(', ')}`, fix);
  }
  const summary = `POST ${url.pathname} with a bogus code and reserved characters in Basic: ${res.status} ${String(body!.error).slice(0, 40)}, JSON, no-store${res.status === 401 ? ', WWW-Authenticate: Basic' : ''}, in ${seconds(res.ms)}`;
  if (res.ms > SLOW_MS) return warn(name, summary, `a real exchange does more work than this and must still answer within ${seconds(TOKEN_BUDGET_MS)}: look at the proxy and database latency`);
  return pass(name, summary);
}
