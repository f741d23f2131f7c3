import { RequestHandler } from 'express';
import { randomBytes } from 'node:crypto';
import { AppError } from '../lib/errors';
import { safeEqual } from '../lib/crypto';

declare module 'express-session' {
  interface SessionData {
    csrfToken?: string;
    userId?: number;
  }
}

export class CsrfError extends AppError {
  constructor() {
    super(403, 'csrf', 'Your form expired or was sent from another site. Please go back, reload the page and try again.');
  }
}

/**
 * Synchronizer-token CSRF protection: one random token per session, put in every form as
 * `_csrf` (res.locals.csrfToken) and checked on every unsafe request of the browser routes. The
 * token (and so the session row) is created only when a page is rendered that can hold a form:
 * an anonymous 404 or error page from a crawler writes nothing.
 */
export const csrfProtection: RequestHandler = (req, res, next) => {
  const session = req.session;
  const render = res.render.bind(res) as (...args: unknown[]) => void;
  res.render = ((view: string, ...rest: unknown[]) => {
    if (view !== 'error' || req.user) session.csrfToken ??= randomBytes(32).toString('base64url');
    res.locals.csrfToken = session.csrfToken;
    render(view, ...rest);
  }) as typeof res.render;
  if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') return next();
  const sent = (req.body as Record<string, unknown> | undefined)?._csrf;
  if (!session.csrfToken || typeof sent !== 'string' || !safeEqual(sent, session.csrfToken)) return next(new CsrfError());
  next();
};
