import { createHmac, randomBytes } from 'node:crypto';
import { Knex } from 'knex';
import { SkillEventService } from './alexa/skill-events.service';
import { AccountLifecycleService } from './auth/account-lifecycle.service';
import { AccountTokenRepository } from './auth/account-token.repository';
import { AccountService } from './auth/account.service';
import { AuthService } from './auth/auth.service';
import { DeviceCookies } from './auth/device-cookie';
import { PasswordHasher } from './auth/password-hasher';
import { ThrottleRepository } from './auth/throttle.repository';
import { UserRepository } from './auth/user.repository';
import { BookmarkRepository } from './bookmarks/bookmark.repository';
import { BookmarkService } from './bookmarks/bookmark.service';
import { BridgeRepository } from './bridge/bridge.repository';
import { BridgeService } from './bridge/bridge.service';
import { Config } from './config/config';
import { SessionRepository } from './http/session-store';
import { IdpLoginService } from './idp/idp-login.service';
import { IdpRepository } from './idp/idp.repository';
import { ProviderService } from './idp/providers.service';
import { UpstreamClients } from './idp/upstream';
import { SecretBox } from './lib/secret-box';
import { createMailQueue } from './mail/create-mail';
import { CleanupService } from './maintenance/cleanup.service';
import { DbAccessTokenValidator } from './oauth/access/access-token.validator';
import { createBearerAuth } from './oauth/access/bearer';
import { AuthorizeService } from './oauth/authorize/authorize.service';
import { ClientRepository } from './oauth/clients/client.repository';
import { ClientService } from './oauth/clients/client.service';
import { GrantService } from './oauth/grants/grant.service';
import { createAccessTokenCache, createClientCache } from './oauth/revocation/revocable-cache';
import { RevocationBus } from './oauth/revocation/revocation-bus';
import { UnitOfWork } from './oauth/revocation/unit-of-work';
import { AccessTokenRepository } from './oauth/store/access-token.repository';
import { CodeRepository } from './oauth/store/code.repository';
import { ConsentRepository } from './oauth/store/consent.repository';
import { GrantRepository } from './oauth/store/grant.repository';
import { HotQueries } from './oauth/store/hot-queries';
import { RefreshTokenRepository } from './oauth/store/refresh-token.repository';
import { AuthorizationCodeGrant } from './oauth/token/grant-types/authorization-code';
import { RefreshTokenGrant } from './oauth/token/grant-types/refresh-token';
import { IntrospectService } from './oauth/token/introspect.service';
import { RevokeService } from './oauth/token/revoke.service';
import { TokenIssuer } from './oauth/token/token-issuer';
import { RecipeRepository } from './recipes/recipe.repository';
import { LinkEventRepository } from './oauth/timeline/link-event.repository';
import { authorizeClientId, LinkTimeline } from './oauth/timeline/link-timeline.service';
import type { SignInObserver } from './auth/auth.routes';
import { logger } from './lib/logger';
import { createMetrics } from './metrics/metrics';
import { RecipeService } from './recipes/recipe.service';

/**
 * The composition root of one process: repositories (private to this function) -> services.
 * Routes, the CLI and the benchmark get only what this returns, each thing built once.
 */
export function createServices(config: Config, knex: Knex) {
  // The process's metrics (served only when configured; the default process metrics only then).
  const metrics = createMetrics({ defaultMetrics: config.metrics.enabled });

  // Storage.
  const hot = new HotQueries(knex, { pooling: config.databasePooling });
  const store = {
    users: new UserRepository(knex),
    throttles: new ThrottleRepository(knex),
    clients: new ClientRepository(knex),
    grants: new GrantRepository(knex),
    consents: new ConsentRepository(knex),
    codes: new CodeRepository(knex, hot),
    accessTokens: new AccessTokenRepository(knex, hot),
    refreshTokens: new RefreshTokenRepository(knex, hot),
    sessions: new SessionRepository(knex),
    accountTokens: new AccountTokenRepository(knex),
    linkEvents: new LinkEventRepository(knex),
  };

  // Revocations reach the caches of every process; main.ts starts the listener (real PostgreSQL).
  const revocations = new RevocationBus();
  const tokenCache = createAccessTokenCache();
  const clientCache = createClientCache();
  revocations.subscribe(tokenCache);
  revocations.subscribe(clientCache);
  revocations.subscribe(metrics.revocationListener);
  const uow = new UnitOfWork(knex, revocations);

  const timeline = new LinkTimeline(store.linkEvents, store.users, store.clients, store.grants, config.linkEvents);
  const grants = new GrantService(store.grants, uow, timeline, metrics);
  const clients = new ClientService(store.clients, clientCache, uow);
  // Rotated refresh tokens' successors are derived with a key from the server's secret (a process
  // without one, such as a CLI run with nothing configured, never refreshes: a random key will do).
  const successorKey = config.sessionSecret ? createHmac('sha256', config.sessionSecret).update('linkbridge refresh-token successor').digest() : randomBytes(32);
  const issuer = new TokenIssuer(store.codes, store.accessTokens, store.refreshTokens, config.tokens, successorKey);
  const hasher = new PasswordHasher(config.password);
  // Mail leaves through a queue: no request waits for it (main.ts and the CLI close it at the end).
  const mail = createMailQueue(config);
  const auth = new AuthService(knex, store.users, store.throttles, hasher, config.throttle, new DeviceCookies(config.sessionSecret));
  /** Seals upstream secrets and tokens at rest; undefined when no key is configured (tests, tools). */
  const secrets = config.encryptionKeys.length ? new SecretBox([...config.encryptionKeys]) : undefined;
  const bridges = new BridgeService(new BridgeRepository(knex), clients, store.grants, grants, uow, secrets, timeline);
  const accounts = new AccountService(store.users, grants, uow, store.sessions, mail, bridges);
  // Sign-in through other providers: the providers (admin), and the login round trips and identities.
  const idpStore = new IdpRepository(knex);
  const idps = new ProviderService(idpStore, secrets, config.publicUrl);
  const upstream = new UpstreamClients({ publicUrl: config.publicUrl, timeoutSeconds: config.idpTimeoutSeconds });

  // What the metrics read when scraped (plain numbers kept by each part; nothing on the hot path).
  const pool = (knex.client as { pool?: { numUsed(): number; numFree(): number; numPendingAcquires(): number; numPendingCreates(): number } }).pool;
  metrics.sources.pool = () => ({
    used: pool?.numUsed() ?? 0,
    free: pool?.numFree() ?? 0,
    pendingAcquires: pool?.numPendingAcquires() ?? 0,
    pendingCreates: pool?.numPendingCreates() ?? 0,
    max: config.dbPoolMax,
  });
  metrics.sources.caches = () => [
    { cache: 'access_token', entries: tokenCache.size, ...tokenCache.lookups },
    { cache: 'client', entries: clientCache.size, ...clientCache.lookups },
  ];
  metrics.sources.hashing = () => hasher.stats();
  metrics.sources.linkEvents = () => ({ buffered: timeline.buffered, ...timeline.counts });

  return {
    auth,
    accounts,
    idps,
    idpLogin: new IdpLoginService(idpStore, store.users, idps, upstream, auth, secrets),
    lifecycle: new AccountLifecycleService(knex, { users: store.users, tokens: store.accountTokens, sessions: store.sessions, throttles: store.throttles }, auth, accounts, hasher, mail, {
      publicUrl: config.publicUrl,
      requireEmailVerification: config.accounts.requireEmailVerification,
      resetMaxPerEmail: config.accounts.resetMaxPerEmail,
      resetMaxPerAddress: config.accounts.resetMaxPerAddress,
      windowSeconds: config.throttle.windowSeconds,
    }),
    mail,
    clients,
    grants,
    authorize: new AuthorizeService(knex, store.clients, store.grants, store.consents, issuer, timeline, metrics),
    token: {
      grantTypes: [new AuthorizationCodeGrant(store.codes, issuer, uow, timeline), new RefreshTokenGrant(store.refreshTokens, issuer, grants, uow, timeline)],
      revoke: new RevokeService(store.accessTokens, store.refreshTokens, grants, uow),
      metrics,
      introspect: new IntrospectService(store.accessTokens, store.refreshTokens, { issuer: config.publicUrl, refreshGraceSeconds: config.tokens.refreshGraceSeconds }),
    },
    bearer: createBearerAuth(new DbAccessTokenValidator(store.accessTokens, tokenCache)),
    skillEvents: new SkillEventService(store.accessTokens, grants, uow, timeline, metrics, bridges),
    bridges,
    recipes: new RecipeService(knex, new RecipeRepository(knex)),
    bookmarks: new BookmarkService(new BookmarkRepository(knex, hot)),
    cleanup: new CleanupService(store, grants, timeline, { throttleWindowSeconds: config.throttle.windowSeconds, refreshReuseDetectionDays: config.tokens.refreshReuseDetectionDays }),
    secrets,
    hasher,
    revocations,
    tokenCache,
    timeline,
    metrics,
    /** Sign-ins on the way to an authorization: the funnel, and the link's timeline (off the response path). */
    onSignIn: ((attempt) => {
      if (authorizeClientId(attempt.returnTo) === undefined) return;
      metrics.funnel(attempt.succeeded ? 'sign_in_succeeded' : 'sign_in_failed');
      timeline.recordSignIn(attempt).catch((err: unknown) => logger.warn({ err }, 'link timeline: could not record a sign-in'));
    }) as SignInObserver,
  };
}

export type Services = ReturnType<typeof createServices>;
