import { requestCookie } from './cookies';
import { Request, RequestHandler, Response } from 'express';
import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { AppError } from '../lib/errors';
import { safeEqual } from '../lib/crypto';

declare module 'express-session' {
  interface SessionData {
    userId?: number;
  }
}

export class CsrfError extends AppError {
  constructor() {
    super(403, 'csrf', 'Your form expired or was sent from another site. Please go back, reload the page and try again.');
  }
}

/** How long an anonymous form (sign-in, sign-up) stays usable: short, like everything anonymous. */
export const ANONYMOUS_CSRF_TTL_SECONDS = 2 * 3600;

/** `__Host-` when secure: the browser then refuses it from a sibling subdomain or plain http. */
export const csrfCookieName = (secure: boolean) => (secure ? '__Host-lb.csrf' : 'lb.csrf');

const COOKIE_VALUE = /^[A-Za-z0-9_-]{43}$/; // 32 random bytes, base64url

/**
 * Stateless CSRF protection for the browser routes: nothing is stored per visitor, so an
 * anonymous page view writes no row (security.md: "Anonymous visitors cost nothing durable").
 *
 * The form field `_csrf` (res.locals.csrfToken) is HMAC-SHA256 under a key derived from the
 * session secret, over what the request is bound to:
 * - signed in: the session id (a secret only the browser's HttpOnly session cookie carries);
 * - signed out: a random value in a short-lived HttpOnly, SameSite=Lax cookie (signed
 *   double-submit, OWASP CSRF cheat sheet). A cross-site form post carries no Lax cookie, an
 *   attacker cannot read the victim's cookie, and cannot compute a token for any value without
 *   the key, so login CSRF stays impossible.
 * A token of one kind never passes as the other (and a signed-in form needs the session's).
 * Signing in rotates the session id, so every token from before is worthless afterwards.
 *
 * Needs `req.user` (loadUser) before it. The anonymous cookie is issued only when a page that can
 * hold a form is rendered: an anonymous 404 or error page from a crawler sets nothing.
 */
export function csrfProtection(opts: { secret: string; secure: boolean }): RequestHandler {
  const key = Buffer.from(hkdfSync('sha256', opts.secret, 'linkbridge', 'csrf-token v1', 32));
  const cookieName = csrfCookieName(opts.secure);
  const tokenFor = (binding: string) => createHmac('sha256', key).update(binding).digest('base64url');
  const sessionToken = (req: Request) => tokenFor(`session:${req.sessionID}`);
  const anonymousToken = (value: string) => tokenFor(`anonymous:${value}`);

  /** The visitor's cookie value, renewed (or first set) for another full lifetime. */
  const issueCookie = (req: Request, res: Response): string => {
    const value = requestCookie(req, cookieName, COOKIE_VALUE) ?? randomBytes(32).toString('base64url');
    // Like express-session: a Secure cookie only when the request arrived over https (directly or
    // through a trusted proxy's X-Forwarded-Proto), so a misconfigured proxy fails visibly.
    if (!opts.secure || req.secure) {
      res.cookie(cookieName, value, { httpOnly: true, sameSite: 'lax', secure: opts.secure, path: '/', maxAge: ANONYMOUS_CSRF_TTL_SECONDS * 1000 });
    }
    return value;
  };

  return (req, res, next) => {
    const render = res.render.bind(res) as (...args: unknown[]) => void;
    res.render = ((view: string, ...rest: unknown[]) => {
      if (req.user) res.locals.csrfToken = sessionToken(req);
      else if (view !== 'error') res.locals.csrfToken = anonymousToken(issueCookie(req, res));
      render(view, ...rest);
    }) as typeof res.render;
    if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') return next();
    const sent = (req.body as Record<string, unknown> | undefined)?._csrf;
    const cookie = req.user ? undefined : requestCookie(req, cookieName, COOKIE_VALUE);
    const expected = req.user ? sessionToken(req) : cookie && anonymousToken(cookie);
    if (!expected || typeof sent !== 'string' || !safeEqual(sent, expected)) return next(new CsrfError());
    next();
  };
}

