import { Express, Request, RequestHandler } from 'express';
import { Histogram } from 'prom-client';

type RouteLike = { path?: unknown } | undefined;

const ROUTE = Symbol('route');
const ROUTE_LABEL = Symbol('routeLabel');
type Tracked = Request & { [ROUTE]?: RouteLike; [ROUTE_LABEL]?: string };

/**
 * The route pattern a request matched (`/api/recipes/:id`), never its raw path: bounded label
 * values. Express sets `req.route` when a route's handlers run, with `req.baseUrl` then the
 * mount path of its router; by the time the response finishes, an error may have unwound the
 * router and reset `baseUrl`, so the pair is captured at the moment Express sets `req.route`.
 * The accessor is defined once on the app's request prototype, not on each request: a property
 * defined per request gave every request object its own shape and slowed all the middleware
 * that reads `req` (metrics on cost 5-8% of a cached API request before).
 */
function trackRoutes(app: Express): void {
  Object.defineProperty(app.request, 'route', {
    configurable: true,
    enumerable: true,
    get(this: Tracked) {
      return this[ROUTE];
    },
    set(this: Tracked, value: RouteLike) {
      this[ROUTE] = value;
      const path = value?.path;
      if (typeof path === 'string') this[ROUTE_LABEL] = this.baseUrl + path;
      // A route over several paths (router.all([...])): the one this request is on.
      else if (Array.isArray(path)) this[ROUTE_LABEL] = this.baseUrl + (path.find((p) => p === this.path) ?? path.join('|'));
    },
  });
}

/** Unmatched requests share one label per kind, so a scanner's paths cannot grow the label set. */
function fallbackLabel(req: Request): string {
  const url = req.originalUrl;
  if (url.startsWith('/static/')) return '/static/*';
  return 'unmatched';
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** Request rate and duration by route pattern, method and status, counted in memory at `finish`. */
export function httpMetrics(app: Express, histogram: Histogram<'method' | 'route' | 'status'>): RequestHandler {
  trackRoutes(app);
  return (req, res, next) => {
    const start = performance.now();
    res.once('finish', () => {
      histogram.observe(
        { method: METHODS.has(req.method) ? req.method : 'other', route: (req as Tracked)[ROUTE_LABEL] ?? fallbackLabel(req), status: String(res.statusCode) },
        (performance.now() - start) / 1000,
      );
    });
    next();
  };
}
