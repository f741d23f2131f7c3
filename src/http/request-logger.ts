import { randomUUID } from 'node:crypto';
import { IncomingMessage, ServerResponse } from 'node:http';
import { RequestHandler } from 'express';
import pinoHttp from 'pino-http';
import { logger } from '../lib/logger';

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

function requestId(req: IncomingMessage, res: ServerResponse): string {
  const incoming = req.headers['x-request-id'];
  const id = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
  res.setHeader('X-Request-Id', id);
  return id;
}

/**
 * One JSON line per request with a request id. Only method, path and status are logged: never the
 * query string (authorization requests and mistaken clients put codes and tokens there), headers
 * or bodies. When the level is above `info` no request line would be written, so only the id is
 * assigned (pino-http's per-request child logger costs ~6% of a bearer API request).
 */
export function requestLogger(): RequestHandler {
  const full = pinoHttp({
    logger,
    genReqId: requestId,
    serializers: {
      req: (req: { id: unknown; method: string; url: string }) => ({
        id: req.id,
        method: req.method,
        path: String(req.url).split('?')[0],
      }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
    customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : 'info'),
    quietReqLogger: true,
    autoLogging: { ignore: (req) => req.url === '/healthz' },
  });
  return (req, res, next) => {
    if (logger.isLevelEnabled('info')) return full(req, res, next);
    req.id = requestId(req, res);
    next();
  };
}
