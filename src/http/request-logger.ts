import { randomUUID } from 'node:crypto';
import { RequestHandler } from 'express';
import { logger, logRequest } from '../lib/logger';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** This request's id (X-Request-Id), set by requestLogger(). */
      id?: string;
    }
  }
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * One JSON line per request with a request id (X-Request-Id: the caller's when well-formed, else
 * a new UUID). Only method, path and status are logged: never the query string (authorization
 * requests and mistaken clients put codes and tokens there), headers or bodies. 5xx answers are
 * logged at `error`, a request whose connection closed before the answer as "request aborted".
 * No per-request child logger and no serializers: one closure and one listener per request.
 */
export function requestLogger(): RequestHandler {
  return (req, res, next) => {
    const incoming = req.headers['x-request-id'];
    const id = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    req.id = id;
    res.setHeader('X-Request-Id', id);
    const url = req.url; // routers mounted on a prefix rewrite req.url while they run
    if (url === '/healthz' || !logger.isLevelEnabled('info')) return next();
    const started = performance.now();
    res.once('close', () => {
      const q = url.indexOf('?');
      logRequest({
        id,
        method: req.method,
        path: q === -1 ? url : url.slice(0, q),
        status: res.statusCode,
        ms: Math.round((performance.now() - started) * 100) / 100,
        aborted: !res.writableFinished,
      });
    });
    next();
  };
}
