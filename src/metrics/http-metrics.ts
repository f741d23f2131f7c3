import { Request, RequestHandler } from 'express';
import { Histogram } from 'prom-client';

type RouteLike = { path?: unknown } | undefined;

/**
 * The route pattern a request matched (`/api/recipes/:id`), never its raw path: bounded label
 * values. Express sets `req.route` when a route's handlers run, with `req.baseUrl` then the
 * mount path of its router; by the time the response finishes, an error may have unwound the
 * router and reset `baseUrl`, so the pair is captured at the moment Express sets `req.route`.
 */
function captureRoute(req: Request): { label?: string } {
  const seen: { label?: string } = {};
  let route: RouteLike;
  Object.defineProperty(req, 'route', {
    configurable: true,
    enumerable: true,
    get: () => route,
    set: (value: RouteLike) => {
      route = value;
      const path = value?.path;
      if (typeof path === 'string') seen.label = req.baseUrl + path;
      // A route over several paths (router.all([...])): the one this request is on.
      else if (Array.isArray(path)) seen.label = req.baseUrl + (path.find((p) => p === req.path) ?? path.join('|'));
    },
  });
  return seen;
}

/** Unmatched requests share one label per kind, so a scanner's paths cannot grow the label set. */
function fallbackLabel(req: Request): string {
  const url = req.originalUrl;
  if (url.startsWith('/static/')) return '/static/*';
  return 'unmatched';
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** Request rate and duration by route pattern, method and status, counted in memory at `finish`. */
export function httpMetrics(histogram: Histogram<'method' | 'route' | 'status'>): RequestHandler {
  return (req, res, next) => {
    const start = process.hrtime.bigint();
    const seen = captureRoute(req);
    res.once('finish', () => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      histogram.observe(
        { method: METHODS.has(req.method) ? req.method : 'other', route: seen.label ?? fallbackLabel(req), status: String(res.statusCode) },
        seconds,
      );
    });
    next();
  };
}
