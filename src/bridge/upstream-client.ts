import { logger } from '../lib/logger';
import { AnswerField, DEFAULT_FIELDS, FieldPaths } from './bridge.types';

/**
 * The HTTP side of a bridge: token requests to the upstream in whatever shape it wants (Basic or
 * body credentials, form or JSON body, extra parameters) and its answers read through configured
 * field paths with coercion (`"3600"` is 3600, `token_type` may be missing). Every failure is
 * classified, because the classification decides whether a user stays linked (alexa.md):
 * - transient (timeout, network error, 5xx, 429): Alexa gets a 5xx and retries, the link stays;
 * - invalid_grant: the upstream really refuses this refresh token, the link ends;
 * - refused (any other OAuth error) and unreadable (a field missing): our configuration or the
 *   upstream is wrong; the link stays and the log says which field or error it was.
 * Nothing here logs a token, a code or a secret: only field names, status codes and error codes.
 */

export type UpstreamFailureKind = 'transient' | 'invalid_grant' | 'refused' | 'unreadable';

export class UpstreamError extends Error {
  /**
   * A 2xx answer we cannot use may still carry a rotated refresh token: the old one is then spent,
   * so the caller must keep this one or the next refresh would be a reuse. Never logged.
   */
  rotatedRefreshToken: string | undefined;

  constructor(
    readonly kind: UpstreamFailureKind,
    message: string,
    readonly detail: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'UpstreamError';
  }
}

export interface UpstreamEndpointConfig {
  name: string;
  tokenUrl: string;
  clientId: string;
  clientSecret: string | undefined;
  tokenAuth: 'basic' | 'body';
  tokenBody: 'form' | 'json';
  tokenParams: Record<string, string>;
  fields: FieldPaths;
  expiresInDefault: number;
}

export interface UpstreamTokens {
  accessToken: string;
  refreshToken: string | undefined;
  /** Seconds, from the upstream or the bridge's default. */
  expiresIn: number;
  expiresInFromUpstream: boolean;
}

const MAX_ANSWER_BYTES = 64 * 1024;
const PATH = /^[A-Za-z0-9_$-]{1,64}(\.[A-Za-z0-9_$-]{1,64}){0,7}$/;

export const isFieldPath = (path: string): boolean => PATH.test(path) && !path.split('.').some((p) => p === '__proto__' || p === 'constructor' || p === 'prototype');

/** The value at a dot path, reading own properties only (an answer is data, never a prototype chain). */
export function readPath(value: unknown, path: string): unknown {
  let current = value;
  for (const key of path.split('.')) {
    if (current === null || typeof current !== 'object' || Array.isArray(current) || !Object.prototype.hasOwnProperty.call(current, key)) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

/** The key paths of an answer (never its values), for a log line that says what was there instead. */
export function keyPaths(value: unknown, prefix = '', depth = 0): string[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || depth > 3) return [];
  const out: string[] = [];
  for (const [k, v] of Object.entries(value).slice(0, 30)) {
    const p = prefix ? `${prefix}.${k.slice(0, 40)}` : k.slice(0, 40);
    out.push(p, ...keyPaths(v, p, depth + 1));
  }
  return out.slice(0, 60);
}

/** expires_in as an integer number of seconds: a number, or a string of digits; anything else is absent. */
export function coerceExpiresIn(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return Math.floor(v);
  if (typeof v === 'string' && /^\s*\d{1,10}(\.\d+)?\s*$/.test(v)) return Math.floor(Number(v));
  return undefined;
}

/** RFC 6749 §2.3.1: the client id and secret are form-encoded before they are put into Basic. */
function basic(id: string, secret: string): string {
  const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}`;
}

async function readCapped(res: Response): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_ANSWER_BYTES) {
      await reader.cancel().catch(() => undefined);
      throw new UpstreamError('unreadable', 'The upstream answer is too large.', { bytes: size });
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** JSON, or a form-encoded answer (some servers still answer that way); undefined if neither. */
function parseAnswer(text: string, contentType: string): Record<string, unknown> | undefined {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    try {
      const v = JSON.parse(trimmed) as unknown;
      return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
    } catch {
      return undefined;
    }
  }
  if (/x-www-form-urlencoded|text\/plain/i.test(contentType) && trimmed.includes('=')) return Object.fromEntries(new URLSearchParams(trimmed));
  return undefined;
}

const ERROR_CODE = /^[\x20-\x21\x23-\x5b\x5d-\x7e]{1,64}$/; // RFC 6749 §5.2: NQSCHAR

/** The OAuth error code of an answer: top level or nested under `error` (some servers do that). */
function errorCode(answer: Record<string, unknown> | undefined): string | undefined {
  if (!answer) return undefined;
  const e = answer.error;
  const code = typeof e === 'string' ? e : e && typeof e === 'object' ? (e as Record<string, unknown>).code ?? (e as Record<string, unknown>).error : undefined;
  return typeof code === 'string' && ERROR_CODE.test(code) ? code : undefined;
}

export class UpstreamClient {
  constructor(private readonly opts: { fetch?: typeof fetch } = {}) {}

  /** RFC 6749 §4.1.3 at the upstream, with our callback and the PKCE verifier. */
  redeemCode(cfg: UpstreamEndpointConfig, params: { code: string; redirectUri: string; codeVerifier?: string }, timeoutMs: number): Promise<UpstreamTokens> {
    return this.tokenRequest(cfg, { grant_type: 'authorization_code', code: params.code, redirect_uri: params.redirectUri, ...(params.codeVerifier ? { code_verifier: params.codeVerifier } : {}) }, timeoutMs, true);
  }

  /**
   * RFC 6749 §4.2.2: the parameters of an implicit-only upstream's redirect fragment (our callback
   * page posts them). Standard names, as the RFC fixes them; no refresh token.
   */
  readImplicit(cfg: UpstreamEndpointConfig, fragment: Record<string, string>): UpstreamTokens {
    const tokens = this.read({ ...cfg, fields: DEFAULT_FIELDS }, fragment);
    return { ...tokens, refreshToken: undefined };
  }

  /** RFC 6749 §6 at the upstream. */
  refresh(cfg: UpstreamEndpointConfig, refreshToken: string, timeoutMs: number): Promise<UpstreamTokens> {
    return this.tokenRequest(cfg, { grant_type: 'refresh_token', refresh_token: refreshToken }, timeoutMs, false);
  }

  /** RFC 7009 at the upstream; resolves whether it worked (revocation is best effort). */
  async revoke(cfg: UpstreamEndpointConfig & { revocationUrl: string }, token: string, hint: 'refresh_token' | 'access_token', timeoutMs: number): Promise<boolean> {
    try {
      const res = await this.post(cfg, cfg.revocationUrl, { token, token_type_hint: hint }, timeoutMs, false);
      await readCapped(res).catch(() => '');
      if (!res.ok) logger.warn({ bridge: cfg.name, status: res.status }, 'bridge: the upstream refused the revocation');
      return res.ok;
    } catch (err) {
      logger.warn({ bridge: cfg.name, reason: (err as Error).message }, 'bridge: the upstream revocation failed');
      return false;
    }
  }

  private async post(cfg: UpstreamEndpointConfig, url: string, grantParams: Record<string, string>, timeoutMs: number, withExtra: boolean): Promise<Response> {
    const body: Record<string, string> = { ...(withExtra ? cfg.tokenParams : {}), ...grantParams };
    const headers: Record<string, string> = { accept: 'application/json' };
    if (cfg.tokenAuth === 'basic' && cfg.clientSecret !== undefined) headers.authorization = basic(cfg.clientId, cfg.clientSecret);
    else {
      body.client_id = cfg.clientId;
      if (cfg.clientSecret !== undefined) body.client_secret = cfg.clientSecret;
    }
    let payload: string;
    if (cfg.tokenBody === 'json') {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body);
    } else {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      payload = new URLSearchParams(body).toString();
    }
    try {
      return await (this.opts.fetch ?? fetch)(url, { method: 'POST', headers, body: payload, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      const timedOut = e.name === 'TimeoutError' || e.name === 'AbortError';
      throw new UpstreamError('transient', timedOut ? `The upstream did not answer within ${timeoutMs} ms.` : 'The upstream could not be reached.', { cause: e.cause?.code ?? e.name });
    }
  }

  private async tokenRequest(cfg: UpstreamEndpointConfig, params: Record<string, string>, timeoutMs: number, isCode: boolean): Promise<UpstreamTokens> {
    const started = Date.now();
    const grant = params.grant_type;
    try {
      const res = await this.post(cfg, cfg.tokenUrl, params, timeoutMs, true);
      let text: string;
      try {
        text = await readCapped(res);
      } catch (err) {
        if (err instanceof UpstreamError) throw err;
        throw new UpstreamError('transient', 'The upstream answer was cut off.', { status: res.status });
      }
      const answer = parseAnswer(text, res.headers.get('content-type') ?? '');
      const code = errorCode(answer);
      if (res.status >= 500 || res.status === 429) throw new UpstreamError('transient', `The upstream answered ${res.status}.`, { status: res.status, error: code });
      if (code === 'temporarily_unavailable' || code === 'server_error') throw new UpstreamError('transient', `The upstream answered ${code}.`, { status: res.status, error: code });
      if (code === 'invalid_grant') throw new UpstreamError('invalid_grant', 'The upstream refused the grant (invalid_grant).', { status: res.status, error: code });
      if (res.status < 200 || res.status >= 300 || code) throw new UpstreamError('refused', `The upstream refused the request (${code ?? `HTTP ${res.status}`}).`, { status: res.status, error: code });
      if (!answer) throw new UpstreamError('unreadable', 'The upstream answer is neither JSON nor form-encoded.', { status: res.status, contentType: (res.headers.get('content-type') ?? '').slice(0, 60) });
      const tokens = this.read(cfg, answer);
      logger.info({ bridge: cfg.name, grant, status: res.status, ms: Date.now() - started, expiresInFromUpstream: tokens.expiresInFromUpstream }, 'bridge: upstream token answer');
      if (!isCode && tokens.refreshToken === undefined) logger.info({ bridge: cfg.name }, 'bridge: the upstream did not rotate the refresh token (the stored one is kept)');
      return tokens;
    } catch (err) {
      if (err instanceof UpstreamError) {
        const log = err.kind === 'transient' ? logger.warn.bind(logger) : logger.error.bind(logger);
        log({ bridge: cfg.name, grant, kind: err.kind, ms: Date.now() - started, ...err.detail }, `bridge: ${err.message}`);
      }
      throw err;
    }
  }

  /** The answer through the configured field paths; a missing access token names its path. */
  private read(cfg: UpstreamEndpointConfig, answer: Record<string, unknown>): UpstreamTokens {
    const field = (f: AnswerField) => readPath(answer, cfg.fields[f]);
    const refresh = field('refresh_token');
    const refreshToken = typeof refresh === 'string' && refresh !== '' && refresh.length <= 8192 ? refresh : undefined;
    const unreadable = (message: string, detail: Record<string, unknown>) => {
      const e = new UpstreamError('unreadable', message, detail);
      e.rotatedRefreshToken = refreshToken;
      return e;
    };
    const accessToken = field('access_token');
    if (typeof accessToken !== 'string' || accessToken === '' || accessToken.length > 8192) {
      throw unreadable(`The upstream answer has no access_token at "${cfg.fields.access_token}".`, { missing: cfg.fields.access_token, present: keyPaths(answer) });
    }
    if (refresh !== undefined && refreshToken === undefined) logger.warn({ bridge: cfg.name, field: cfg.fields.refresh_token }, 'bridge: the upstream refresh_token is not a string; ignored');
    const rawExpires = field('expires_in');
    const expiresIn = coerceExpiresIn(rawExpires);
    if (rawExpires !== undefined && expiresIn === undefined) logger.warn({ bridge: cfg.name, field: cfg.fields.expires_in }, 'bridge: the upstream expires_in is not a number of seconds; using the default');
    const tokenType = field('token_type');
    if (typeof tokenType === 'string' && tokenType.toLowerCase() !== 'bearer') {
      throw unreadable(`The upstream token_type at "${cfg.fields.token_type}" is not Bearer.`, { tokenType: tokenType.slice(0, 20).replace(/[^A-Za-z0-9_-]/g, '?') });
    }
    return { accessToken, refreshToken, expiresIn: expiresIn ?? cfg.expiresInDefault, expiresInFromUpstream: expiresIn !== undefined };
  }
}
