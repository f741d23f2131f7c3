import express, { Express, Router } from 'express';
import { Knex } from 'knex';
import { skillEventRoutes } from './alexa/skill-events.routes';
import { apiRouter } from './api/api.router';
import { accountRoutes, requireVerifiedForConsent } from './auth/account.routes';
import { authRoutes } from './auth/auth.routes';
import { loadUser, requireLogin, sessionMiddleware } from './auth/session';
import { bookmarkWebRoutes } from './bookmarks/bookmark.web.routes';
import { adminBridgeRoutes } from './bridge/admin-bridges.routes';
import { bridgeBrowserRoutes, bridgeTokenRoutes } from './bridge/bridge.routes';
import { Config } from './config/config';
import { healthRoutes } from './health/health.routes';
import { adminIdpRoutes } from './idp/admin-idps.routes';
import { idpRoutes } from './idp/idp.routes';
import { csrfProtection } from './http/csrf';
import { errorHandler, notFound, wantsJson } from './http/error-handler';
import { requestLogger } from './http/request-logger';
import { rejectNulBytes } from './http/params';
import { noStore, securityHeaders } from './http/security-headers';
import { PUBLIC_DIR, VIEWS_DIR } from './lib/paths';
import { authorizeRoutes } from './oauth/authorize/authorize.routes';
import { adminClientRoutes } from './oauth/clients/admin-clients.routes';
import { connectionsRoutes } from './oauth/grants/connections.routes';
import { metadataRoutes } from './oauth/metadata.routes';
import { tokenRoutes } from './oauth/token/token.routes';
import { recipeWebRoutes } from './recipes/recipe.web.routes';
import { httpMetrics } from './metrics/http-metrics';
import { metricsRoutes } from './metrics/metrics.routes';
import { adminLinkRoutes } from './oauth/timeline/admin-links.routes';
import { Services } from './services';

export interface AppDeps {
  config: Config;
  knex: Knex;
  services: Services;
}

/** Builds the Express app: middleware order, routers, 404 and the error handler. No I/O here. */
export function createApp({ config, knex, services }: AppDeps): Express {
  if (!config.sessionSecret) throw new Error('createApp needs a session secret');
  const app = express();
  app.disable('x-powered-by');
  // No ETag on dynamic answers: they are no-store (tokens, personal data, forms), so a hash of
  // every body would cost CPU for nothing. Static files keep serve-static's own validators.
  app.set('etag', false);
  // Only the proxies named in TRUST_PROXY, never `true` or a bare hop count (security.md): decides
  // req.ip (login throttle), req.protocol and req.secure (Secure cookies).
  app.set('trust proxy', config.trustProxy.length > 0 ? [...config.trustProxy] : false);
  app.set('query parser', 'simple'); // repeated parameters become arrays and are refused
  app.set('view engine', 'ejs');
  // Compiled templates are kept: Express does so only when NODE_ENV=production, and `npm start`
  // runs with NODE_ENV unset (development), where every page would compile its template again.
  app.enable('view cache');
  app.set('views', VIEWS_DIR);
  app.locals.publicUrl = config.publicUrl;

  // Request rate and duration by route pattern, only when /metrics is configured (in memory).
  if (config.metrics.enabled) app.use(httpMetrics(app, services.metrics.httpDuration));
  app.use(requestLogger());
  app.use(securityHeaders({ hsts: config.hsts }));
  app.use(rejectNulBytes); // the query string here; each body parser below is followed by it too
  // The bearer-token API first (the busiest path: no other router's layers to match on the way):
  // no session, cookie or CSRF is involved.
  app.use('/api', apiRouter({ publicUrl: config.publicUrl, bearer: services.bearer, recipes: services.recipes, bookmarks: services.bookmarks }));
  app.use('/static', express.static(PUBLIC_DIR, { maxAge: '1h', index: false }));
  app.use(healthRoutes(knex));
  // GET /metrics for the bearer METRICS_TOKEN (METRICS_PORT serves it on loopback instead: main.ts).
  if (config.metrics.token) app.use(metricsRoutes(services.metrics.registry, config.metrics.token));

  // Machine endpoints: JSON, no cookies, no session.
  app.use(metadataRoutes(config.publicUrl));
  app.use(tokenRoutes({ clients: services.clients, ...services.token }));
  app.use(bridgeTokenRoutes({ bridges: services.bridges, clients: services.clients, metrics: services.metrics }));
  // Skill events the Alexa skill forwards (authenticated as its OAuth client, like the token calls).
  app.use(skillEventRoutes({ clients: services.clients, skillEvents: services.skillEvents }));

  // Browser pages: cookie session, form bodies, CSRF, the signed-in user.
  const browser = Router();
  browser.use(sessionMiddleware({ knex, secret: config.sessionSecret, secure: config.cookieSecure, ttlSeconds: config.sessionTtlSeconds }));
  browser.use(express.urlencoded({ extended: false, limit: '32kb', parameterLimit: 200 }), rejectNulBytes);
  browser.use(noStore); // every page here is about the signed-in user, or a form with a token
  browser.use(loadUser(services.accounts));
  browser.use(csrfProtection({ secret: config.sessionSecret, secure: config.cookieSecure })); // binds to req.user
  const passwordLogin = config.loginMode === 'password';
  browser.use(
    authRoutes(services.auth, services.lifecycle, {
      secureCookies: config.cookieSecure,
      onSignIn: services.onSignIn,
      // "Continue with <provider>" for each enabled provider (src/idp); LOGIN_MODE=idp-only hides the password form.
      loginChoices: async () => ({
        providers: (await services.idps.enabled()).map((p) => ({ name: p.name, displayName: p.displayName, type: p.type })),
        passwordLogin,
        straightTo: config.loginIdp,
      }),
    }),
  );
  browser.use(
    idpRoutes({
      idpLogin: services.idpLogin,
      idps: services.idps,
      authorize: services.authorize,
      publicUrl: config.publicUrl,
      secureCookies: config.cookieSecure,
      passwordLogin,
      deviceCookieTtlSeconds: services.auth.deviceCookieTtlSeconds,
    }),
  );
  browser.use(accountRoutes({ lifecycle: services.lifecycle, accounts: services.accounts, grants: services.grants }));
  browser.use('/oauth/authorize', requireVerifiedForConsent(services.lifecycle));
  browser.use(authorizeRoutes(services.authorize));
  // A bridge links an account just as consent does: the same email-verification rule applies.
  browser.use('/bridge/:name/authorize', requireVerifiedForConsent(services.lifecycle));
  browser.use(bridgeBrowserRoutes(services.bridges, { secureCookies: config.cookieSecure }));
  browser.use(connectionsRoutes(services.grants, services.bridges));
  browser.use(adminClientRoutes(services.clients));
  browser.use(adminLinkRoutes(services.timeline));
  browser.use(adminIdpRoutes(services.idps));
  browser.use(adminBridgeRoutes(services.bridges));
  browser.use(bookmarkWebRoutes(services.bookmarks));
  browser.use(recipeWebRoutes(services.recipes));
  browser.get('/', requireLogin, (_req, res) => res.render('home', { title: 'Home' }));
  // JSON paths never get a session (an unknown /api path is a JSON 404, with no cookie).
  app.use((req, res, next) => (wantsJson(req) ? next() : browser(req, res, next)));

  app.use(notFound);
  app.use(errorHandler);
  return app;
}
