import { ErrorRequestHandler, Request, RequestHandler } from 'express';
import { AppError, NotFoundError, OAuthError, ServiceUnavailableError, ValidationError, isDatabaseUnavailable } from '../lib/errors';
import { logger } from '../lib/logger';

/** Paths answered in JSON; everything else is a browser page. */
const JSON_PREFIXES = ['/api/', '/api', '/oauth/token', '/oauth/revoke', '/oauth/introspect', '/alexa/', '/.well-known/', '/healthz', '/readyz'];

export function wantsJson(req: Request): boolean {
  const p = req.path;
  return JSON_PREFIXES.some((prefix) => p === prefix || p.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`));
}

export const notFound: RequestHandler = (_req, _res, next) => next(new NotFoundError('This page does not exist.'));

/**
 * Turns an error from a body parser (bad JSON, too large, bad charset) into an AppError with the
 * same 4xx status; those carry `expose` and `status` from the http-errors package.
 */
function fromHttpError(err: unknown): AppError | undefined {
  const e = err as { status?: unknown; statusCode?: unknown; expose?: unknown; type?: unknown };
  const status = typeof e?.status === 'number' ? e.status : typeof e?.statusCode === 'number' ? e.statusCode : undefined;
  if (status === undefined || status < 400 || status >= 500) return undefined;
  const messages: Record<string, string> = {
    'entity.parse.failed': 'The request body is not valid JSON.',
    'entity.too.large': 'The request body is too large.',
    'parameters.too.many': 'The request has too many parameters.',
    'charset.unsupported': 'The request body uses an unsupported character set.',
    'encoding.unsupported': 'The request body uses an unsupported encoding.',
  };
  const message = (typeof e.type === 'string' && messages[e.type]) || 'The request is not valid.';
  return new AppError(status, 'invalid_request', message);
}

/** The one error handler: public text for the caller, private detail for the log. */
export const errorHandler: ErrorRequestHandler = (err, req, res, _next) => {
  let appError: AppError;
  if (err instanceof AppError) {
    appError = err;
  } else {
    const httpError = fromHttpError(err);
    if (httpError) appError = httpError;
    else if (isDatabaseUnavailable(err)) {
      appError = new ServiceUnavailableError(undefined, err);
      logger.error({ err, reqId: req.id }, 'database unavailable');
    } else {
      appError = new AppError(500, 'server_error', 'Something went wrong on our side. Please try again.');
      logger.error({ err, reqId: req.id }, 'unexpected error');
    }
  }
  if (appError.status >= 500 && err instanceof AppError && appError.cause) {
    logger.error({ err: appError.cause, reqId: req.id }, appError.message);
  }
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const json = wantsJson(req);
  // Browser pages authenticate with a form and a session cookie, never an HTTP scheme: a 401 there
  // would need a WWW-Authenticate challenge (RFC 9110 §15.5.2), and a Basic one would pop up the
  // browser's credential dialog. Any 401 that reaches a page is answered 400 without a challenge.
  const pageWithout401 = !json && appError.status === 401;
  for (const [name, value] of Object.entries(appError.headers)) {
    if (pageWithout401 && name.toLowerCase() === 'www-authenticate') continue;
    res.setHeader(name, value);
  }
  res.status(pageWithout401 ? 400 : appError.status);
  if (appError.status >= 500 || appError instanceof OAuthError) res.setHeader('Cache-Control', 'no-store');
  if (json) {
    const code = appError.status >= 500 ? (appError.status === 503 ? 'temporarily_unavailable' : 'server_error') : appError.code;
    // A validation error names each bad field, so a client can show or fix exactly that field.
    const fields = appError instanceof ValidationError && Object.keys(appError.fields).length > 0 ? { fields: appError.fields } : {};
    res.json({ error: code, error_description: appError.message, ...fields });
    return;
  }
  res.render('error', { title: titleFor(res.statusCode), message: appError.message, status: res.statusCode });
};

function titleFor(status: number): string {
  if (status === 404) return 'Page not found';
  if (status === 403) return 'Not allowed';
  if (status === 429) return 'Too many attempts';
  if (status >= 500) return 'Something went wrong';
  return 'That did not work';
}
