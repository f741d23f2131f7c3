import { RequestHandler } from 'express';

/**
 * The Content-Security-Policy. No script runs on our pages, so scripts are off entirely; the one
 * exception (a bridge's callback page for an implicit-only upstream, which must read the
 * fragment) allows exactly its own inline script by hash.
 */
export function contentSecurityPolicy(scriptSrc = "'none'"): string {
  return [
    "default-src 'self'",
    `script-src ${scriptSrc}`,
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/**
 * Security headers on every response. The CSP has no `form-action`: Chrome applies it to the
 * redirect that follows the consent POST and would silently block the hop to Alexa
 * (security.md).
 */
export function securityHeaders(opts: { hsts: boolean }): RequestHandler {
  const csp = contentSecurityPolicy();
  return (_req, res, next) => {
    res.setHeader('Content-Security-Policy', csp);
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    res.setHeader('Permissions-Policy', 'camera=(), microphone=(), geolocation=(), payment=()');
    if (opts.hsts) res.setHeader('Strict-Transport-Security', 'max-age=31536000');
    next();
  };
}

/** Pages and answers that carry credentials or personal data are never cached. */
export const noStore: RequestHandler = (_req, res, next) => {
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Pragma', 'no-cache');
  next();
};
