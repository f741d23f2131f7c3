import * as oidc from 'openid-client';
import { logger } from '../lib/logger';
import { IdentityProvider } from './idp.repository';

/**
 * Every call to an upstream provider goes through openid-client (panva, OpenID-certified): no
 * hand-written OAuth client code here. This file only turns our provider row into an
 * openid-client Configuration, and the library's answers into a profile or an UpstreamError.
 */

/** What we need to know about the person the upstream signed in. */
export interface UpstreamProfile {
  subject: string;
  email: string | null;
  /** True only when the upstream says so explicitly (boolean true or the string "true"). */
  emailVerified: boolean;
  name: string | null;
}

/** What the login's round trip carries (sealed in the browser's cookie, never stored). */
export interface RoundTrip {
  state: string;
  nonce?: string;
  codeVerifier: string;
}

/**
 * - `unavailable`: down, slow (timed out), or answered with something unusable at the transport level;
 * - `denied`: the upstream sent the user back with an error (cancelled, refused consent);
 * - `invalid`: the upstream answered, but we cannot accept it (bad ID token, no subject, bad code).
 */
export type UpstreamFailure = 'unavailable' | 'denied' | 'invalid';

export class UpstreamError extends Error {
  constructor(
    readonly failure: UpstreamFailure,
    message: string,
    /** A short, secret-free code for the log (an OAuth error code or openid-client's error code). */
    readonly detail: string,
  ) {
    super(message);
  }
}

const MAX_PROFILE_BYTES = 64 * 1024;
const MAX_CLAIM = 1024;

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);
export const isLoopbackUrl = (u: string) => {
  try {
    return LOOPBACK_HOSTS.has(new URL(u).hostname);
  } catch {
    return false;
  }
};

/** The callback URL registered upstream: exact, from PUBLIC_URL, never from the Host header. */
export const callbackUrl = (publicUrl: string, name: string) => `${publicUrl}/login/idp/${encodeURIComponent(name)}/callback`;

export class UpstreamClients {
  /** Discovery (and the JWKS cache inside a Configuration) per provider row version. */
  private readonly configs = new Map<number, { version: string; at: number; config: Promise<oidc.Configuration> }>();

  constructor(private readonly opts: { publicUrl: string; timeoutSeconds: number; discoveryTtlSeconds?: number }) {}

  /** The upstream's authorization URL for this round trip (discovery first for `oidc`). */
  async authorizationUrl(p: IdentityProvider, secret: string, trip: RoundTrip): Promise<URL> {
    const config = await this.configuration(p, secret);
    const params: Record<string, string> = {
      redirect_uri: callbackUrl(this.opts.publicUrl, p.name),
      scope: p.scope,
      state: trip.state,
      code_challenge: await oidc.calculatePKCECodeChallenge(trip.codeVerifier),
      code_challenge_method: 'S256',
    };
    if (trip.nonce) params.nonce = trip.nonce;
    return oidc.buildAuthorizationUrl(config, params);
  }

  /**
   * Redeems the code in the callback URL and returns who signed in. For `oidc` the ID token is
   * required and validated by openid-client (signature from the JWKS, iss, aud, exp, nonce), and
   * the userinfo answer must name the same subject; for `oauth2`/`amazon` the profile URL is
   * called with the access token and the configured fields are read from its JSON.
   */
  async complete(p: IdentityProvider, secret: string, callback: URL, trip: RoundTrip): Promise<UpstreamProfile> {
    const config = await this.configuration(p, secret);
    let tokens;
    try {
      tokens = await oidc.authorizationCodeGrant(
        config,
        callback,
        { expectedState: trip.state, pkceCodeVerifier: trip.codeVerifier, expectedNonce: trip.nonce, idTokenExpected: p.type === 'oidc' },
        { redirect_uri: callbackUrl(this.opts.publicUrl, p.name) },
      );
    } catch (err) {
      throw translate(err, p);
    }
    if (p.type === 'oidc') {
      const claims = tokens.claims();
      if (!claims || typeof claims.sub !== 'string' || !claims.sub) throw new UpstreamError('invalid', 'The provider did not say who signed in.', 'no_subject');
      let merged: Record<string, unknown> = { ...claims };
      if (config.serverMetadata().userinfo_endpoint && (typeof claims.email !== 'string' || claims.name === undefined)) {
        try {
          // The same subject as the ID token, or openid-client refuses the answer.
          merged = { ...(await oidc.fetchUserInfo(config, tokens.access_token, claims.sub)), ...claims };
        } catch (err) {
          throw translate(err, p);
        }
      }
      return profileFrom(merged, { subject: 'sub', email: 'email', emailVerified: 'email_verified', name: 'name' });
    }
    let body: unknown;
    try {
      const res = await oidc.fetchProtectedResource(config, tokens.access_token, new URL(p.userinfoUrl!), 'GET', undefined, new Headers({ accept: 'application/json' }));
      const text = await boundedText(res);
      if (!res.ok) throw new UpstreamError('invalid', 'The provider refused to tell us who signed in.', `profile_status_${res.status}`);
      body = JSON.parse(text);
    } catch (err) {
      if (err instanceof UpstreamError) throw err;
      if (err instanceof SyntaxError) throw new UpstreamError('invalid', 'The provider answered with something that is not a profile.', 'profile_not_json');
      throw translate(err, p);
    }
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw new UpstreamError('invalid', 'The provider answered with something that is not a profile.', 'profile_not_object');
    return profileFrom(body as Record<string, unknown>, {
      subject: p.subjectField ?? 'sub',
      email: p.emailField ?? undefined,
      emailVerified: p.emailVerifiedField ?? undefined,
      name: p.nameField ?? undefined,
    });
  }

  private configuration(p: IdentityProvider, secret: string): Promise<oidc.Configuration> {
    const version = `${p.updatedAt.getTime()}:${p.clientSecretSealed ?? ''}`;
    const ttl = (this.opts.discoveryTtlSeconds ?? 3600) * 1000;
    const cached = this.configs.get(p.id);
    if (cached && cached.version === version && Date.now() - cached.at < ttl) return cached.config;
    const auth = p.tokenAuthMethod === 'client_secret_basic' ? oidc.ClientSecretBasic(secret) : oidc.ClientSecretPost(secret);
    const timeout = this.opts.timeoutSeconds;
    const config = (async () => {
      if (p.type === 'oidc') {
        try {
          // enableNonRepudiationChecks: openid-client otherwise trusts an ID token from the token
          // endpoint on TLS alone (OIDC Core 3.1.3.7 allows it); we check its signature against the JWKS too.
          const execute = p.allowHttp ? [oidc.allowInsecureRequests, oidc.enableNonRepudiationChecks] : [oidc.enableNonRepudiationChecks];
          const c = await oidc.discovery(new URL(p.issuer!), p.clientId, undefined, auth, { execute, timeout });
          c.timeout = timeout;
          return c;
        } catch (err) {
          throw translate(err, p);
        }
      }
      const c = new oidc.Configuration(
        // A provider without discovery has no issuer: its authorization server's origin stands in
        // (used only to label it; no `iss` is checked for plain OAuth 2.0).
        { issuer: new URL(p.authorizationUrl!).origin, authorization_endpoint: p.authorizationUrl!, token_endpoint: p.tokenUrl! },
        p.clientId,
        undefined,
        auth,
      );
      if (p.allowHttp) oidc.allowInsecureRequests(c);
      c.timeout = timeout;
      return c;
    })();
    this.configs.set(p.id, { version, at: Date.now(), config });
    // A failed discovery is not cached: the next attempt tries again.
    config.catch(() => {
      if (this.configs.get(p.id)?.config === config) this.configs.delete(p.id);
    });
    return config;
  }
}

function claim(body: Record<string, unknown>, field: string | undefined): unknown {
  if (!field) return undefined;
  return Object.prototype.hasOwnProperty.call(body, field) ? body[field] : undefined;
}

function profileFrom(body: Record<string, unknown>, fields: { subject: string; email?: string; emailVerified?: string; name?: string }): UpstreamProfile {
  const rawSubject = claim(body, fields.subject);
  // A numeric id (GitHub-style) is accepted as its decimal string; anything else is no subject.
  const subject = typeof rawSubject === 'string' ? rawSubject : typeof rawSubject === 'number' && Number.isSafeInteger(rawSubject) ? String(rawSubject) : '';
  if (!subject || subject.length > 255 || /[\u0000-\u001f]/.test(subject)) {
    throw new UpstreamError('invalid', 'The provider did not say who signed in.', 'no_subject');
  }
  const text = (v: unknown) => (typeof v === 'string' && v.trim() && v.length <= MAX_CLAIM && !v.includes('\u0000') ? v.trim() : null);
  const email = text(claim(body, fields.email));
  const verified = claim(body, fields.emailVerified);
  return {
    subject,
    email: email && email.length <= 254 && /^[^\s@]+@[^\s@]+$/.test(email) ? email : null,
    emailVerified: verified === true || verified === 'true',
    name: text(claim(body, fields.name))?.slice(0, 100) ?? null,
  };
}

async function boundedText(res: Response): Promise<string> {
  const length = Number(res.headers.get('content-length') ?? 0);
  if (length > MAX_PROFILE_BYTES) throw new UpstreamError('invalid', 'The provider answered with too much.', 'profile_too_large');
  const text = await res.text();
  if (text.length > MAX_PROFILE_BYTES) throw new UpstreamError('invalid', 'The provider answered with too much.', 'profile_too_large');
  return text;
}

/** openid-client's errors -> ours. Only codes and names reach the log, never bodies or tokens. */
function translate(err: unknown, p: IdentityProvider): UpstreamError {
  if (err instanceof UpstreamError) return err;
  const e = err as { name?: string; code?: string; error?: string; status?: number; cause?: { name?: string; code?: string } };
  let out: UpstreamError;
  if (err instanceof oidc.AuthorizationResponseError) {
    out = new UpstreamError('denied', `${p.displayName} did not sign you in.`, `authorization_${safeCode(e.error)}`);
  } else if (err instanceof oidc.ResponseBodyError) {
    // The token or userinfo endpoint answered an OAuth error (invalid_grant: a code used twice, ...).
    out = new UpstreamError('invalid', `${p.displayName} refused the sign-in.`, `response_${safeCode(e.error)}`);
  } else if (e.name === 'TimeoutError' || e.name === 'AbortError' || e.cause?.name === 'TimeoutError') {
    out = new UpstreamError('unavailable', `${p.displayName} did not answer in time.`, 'timeout');
  } else if (err instanceof TypeError || e.code === 'OAUTH_RESPONSE_IS_NOT_CONFORM' || e.code === 'OAUTH_RESPONSE_IS_NOT_JSON' || e.code === 'OAUTH_HTTP_REQUEST_FORBIDDEN') {
    // fetch failed (refused, reset, DNS), a 5xx page, or an answer that is not the protocol's JSON.
    out = new UpstreamError('unavailable', `${p.displayName} is not answering properly right now.`, safeCode(e.code ?? e.cause?.code ?? e.name));
  } else {
    // Everything else is a check that failed: ID token signature, iss, aud, exp, nonce, state...
    out = new UpstreamError('invalid', `${p.displayName} sent an answer we cannot accept.`, safeCode(e.code ?? e.name));
  }
  logger.warn({ provider: p.name, failure: out.failure, detail: out.detail }, 'upstream sign-in failed');
  return out;
}

const safeCode = (v: unknown) => (typeof v === 'string' ? v.replace(/[^A-Za-z0-9_.-]/g, '').slice(0, 60) || 'unknown' : 'unknown');
