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
 * `_csrf` (res.locals.csrfToken) and checked on every unsafe request of the browser routes.
 */
export const csrfProtection: RequestHandler = (req, res, next) => {
  const session = req.session;
  if (!session.csrfToken) session.csrfToken = randomBytes(32).toString('base64url');
  res.locals.csrfToken = session.csrfToken;
  if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') return next();
  const sent = (req.body as Record<string, unknown> | undefined)?._csrf;
  if (typeof sent !== 'string' || !safeEqual(sent, session.csrfToken)) return next(new CsrfError());
  next();
};
