import dns from 'node:dns';
import https from 'node:https';
import { IncomingHttpHeaders } from 'node:http';
import net from 'node:net';
import tls from 'node:tls';

/**
 * The doctor's network primitives: every one has a deadline and a size cap, because the server
 * it talks to may be anything (a captive portal, a WAF, a tarpit). Nothing here follows
 * redirects, fetches a missing intermediate certificate or trusts more than it is given.
 */

export interface Target {
  /** The host name from the URL (what certificates and Host headers name). */
  host: string;
  /** The address to connect to (resolved once, so every check talks to the same machine). */
  address: string;
  port: number;
  /** Root certificates to trust instead of Node's bundled store (tests: the test CA). */
  ca?: string[];
}

export class ProbeError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

export async function lookupAll(host: string, timeoutMs: number): Promise<{ address: string; family: number }[]> {
  if (net.isIP(host)) return [{ address: host, family: net.isIP(host) }];
  return withDeadline(dns.promises.lookup(host, { all: true, verbatim: true }), timeoutMs, `no DNS answer within ${timeoutMs} ms`);
}

export function tcpConnect(address: string, port: number, timeoutMs: number): Promise<number> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: address, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new ProbeError(`no TCP connection within ${timeoutMs} ms`, 'ETIMEDOUT'));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(Date.now() - started);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      socket.destroy();
      reject(new ProbeError(err.message, err.code));
    });
  });
}

const servernameFor = (host: string) => (net.isIP(host) ? undefined : host);

export interface TlsResult {
  protocol: string | null;
  cipher: string;
  authorized: boolean;
  authorizationError: string | null;
  /** The peer's certificate, linked to the issuers OpenSSL could find (sent or trusted). */
  peer: tls.DetailedPeerCertificate;
}

/** One TLS handshake, verification recorded but not enforced (the doctor reports, it does not refuse). */
export function tlsHandshake(target: Target, opts: { minVersion?: tls.SecureVersion; maxVersion?: tls.SecureVersion; timeoutMs: number }): Promise<TlsResult> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: target.address,
      port: target.port,
      servername: servernameFor(target.host),
      ca: target.ca,
      minVersion: opts.minVersion,
      maxVersion: opts.maxVersion,
      rejectUnauthorized: false,
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new ProbeError(`no TLS handshake within ${opts.timeoutMs} ms`, 'ETIMEDOUT'));
    }, opts.timeoutMs);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const result: TlsResult = {
        protocol: socket.getProtocol(),
        cipher: socket.getCipher()?.name ?? '',
        authorized: socket.authorized,
        authorizationError: socket.authorizationError ? String((socket.authorizationError as NodeJS.ErrnoException).code ?? socket.authorizationError) : null,
        peer: socket.getPeerCertificate(true),
      };
      socket.destroy();
      resolve(result);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      socket.destroy();
      reject(new ProbeError(err.message, err.code));
    });
  });
}

/** The certificates from the leaf up, as OpenSSL linked them (stops at a self-issued one). */
export function chainOf(peer: tls.DetailedPeerCertificate): tls.PeerCertificate[] {
  const chain: tls.PeerCertificate[] = [];
  const seen = new Set<string>();
  let c: tls.DetailedPeerCertificate | undefined = peer;
  while (c && c.fingerprint256 && !seen.has(c.fingerprint256) && chain.length < 10) {
    seen.add(c.fingerprint256);
    chain.push(c);
    c = c.issuerCertificate;
  }
  return chain;
}

export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  ms: number;
}

/**
 * One HTTPS request to `url` at the target's address, with a deadline for the whole answer and
 * a cap on the body read. Verification is not enforced here: the certificate checks report it.
 */
export function httpsRequest(
  target: Target,
  url: URL,
  opts: { method?: string; headers?: Record<string, string>; body?: string; deadlineMs: number; maxBytes?: number },
): Promise<HttpAnswer> {
  const started = Date.now();
  const maxBytes = opts.maxBytes ?? 256 * 1024;
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    const req = https.request({
      host: target.address,
      port: target.port,
      servername: servernameFor(target.host),
      ca: target.ca,
      rejectUnauthorized: false,
      agent: false,
      method: opts.method ?? 'GET',
      path: `${url.pathname}${url.search}`,
      headers: { host: url.host, 'user-agent': 'linkbridge-doctor', accept: '*/*', ...opts.headers, ...(opts.body !== undefined ? { 'content-length': String(Buffer.byteLength(opts.body)) } : {}) },
    });
    const timer = setTimeout(() => {
      settle(() => reject(new ProbeError(`no complete answer within ${opts.deadlineMs} ms`, 'ETIMEDOUT')));
      req.destroy();
    }, opts.deadlineMs);
    req.once('error', (err: NodeJS.ErrnoException) => settle(() => reject(new ProbeError(err.message, err.code))));
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= maxBytes) chunks.push(chunk);
        else res.destroy(); // enough to judge: the rest is ignored
      });
      const done = () =>
        settle(() => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), ms: Date.now() - started }));
      res.once('end', done);
      res.once('close', done);
      res.once('error', (err: NodeJS.ErrnoException) => settle(() => reject(new ProbeError(err.message, err.code))));
    });
    req.end(opts.body);
  });
}

function withDeadline<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new ProbeError(message, 'ETIMEDOUT')), ms);
    }),
  ]);
}

/** Loopback, private, link-local or carrier-grade NAT: Alexa on the internet cannot reach it. */
export function isNonPublicAddress(address: string): boolean {
  const list = new net.BlockList();
  for (const [net4, prefix] of [['10.0.0.0', 8], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12], ['192.168.0.0', 16], ['100.64.0.0', 10], ['0.0.0.0', 8]] as const) list.addSubnet(net4, prefix, 'ipv4');
  for (const [net6, prefix] of [['::1', 128], ['fc00::', 7], ['fe80::', 10], ['::', 128]] as const) list.addSubnet(net6, prefix, 'ipv6');
  const family = net.isIP(address) === 6 ? 'ipv6' : 'ipv4';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? list.check(mapped[1], 'ipv4') : list.check(address, family);
}
