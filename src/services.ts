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
import { RecipeService } from './recipes/recipe.service';

/**
 * The composition root of one process: repositories (private to this function) -> services.
 * Routes, the CLI and the benchmark get only what this returns, each thing built once.
 */
export function createServices(config: Config, knex: Knex) {
  // Storage.
  const hot = new HotQueries(knex);
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
  };

  // Revocations reach the caches of every process; main.ts starts the listener (real PostgreSQL).
  const revocations = new RevocationBus();
  const tokenCache = createAccessTokenCache();
  const clientCache = createClientCache();
  revocations.subscribe(tokenCache);
  revocations.subscribe(clientCache);
  const uow = new UnitOfWork(knex, revocations);

  const grants = new GrantService(store.grants, uow);
  const clients = new ClientService(store.clients, clientCache, uow);
  // Rotated refresh tokens' successors are derived with a key from the server's secret (a process
  // without one, such as a CLI run with nothing configured, never refreshes: a random key will do).
  const successorKey = config.sessionSecret ? createHmac('sha256', config.sessionSecret).update('linkbridge refresh-token successor').digest() : randomBytes(32);
  const issuer = new TokenIssuer(store.codes, store.accessTokens, store.refreshTokens, config.tokens, successorKey);
  const hasher = new PasswordHasher(config.password);
  // Mail leaves through a queue: no request waits for it (main.ts and the CLI close it at the end).
  const mail = createMailQueue(config);
  const auth = new AuthService(knex, store.users, store.throttles, hasher, config.throttle, new DeviceCookies(config.sessionSecret));
  const accounts = new AccountService(store.users, grants, uow, store.sessions, mail);
  const secrets = config.encryptionKeys.length ? new SecretBox([...config.encryptionKeys]) : undefined;
  const bridges = new BridgeService(new BridgeRepository(knex), clients, store.grants, grants, uow, secrets);

  return {
    auth,
    accounts,
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
    authorize: new AuthorizeService(knex, store.clients, store.grants, store.consents, issuer),
    token: {
      grantTypes: [new AuthorizationCodeGrant(store.codes, issuer, uow), new RefreshTokenGrant(store.refreshTokens, issuer, grants, uow)],
      revoke: new RevokeService(store.accessTokens, store.refreshTokens, grants, uow),
      introspect: new IntrospectService(store.accessTokens, store.refreshTokens, { issuer: config.publicUrl, refreshGraceSeconds: config.tokens.refreshGraceSeconds }),
    },
    bearer: createBearerAuth(new DbAccessTokenValidator(store.accessTokens, tokenCache)),
    skillEvents: new SkillEventService(store.accessTokens, grants, bridges),
    bridges,
    recipes: new RecipeService(knex, new RecipeRepository(knex)),
    bookmarks: new BookmarkService(new BookmarkRepository(knex)),
    cleanup: new CleanupService(store, grants, { throttleWindowSeconds: config.throttle.windowSeconds, refreshReuseDetectionDays: config.tokens.refreshReuseDetectionDays }),
    /** Seals upstream secrets and tokens at rest; undefined when no key is configured (tests, tools). */
    secrets,
    hasher,
    revocations,
    tokenCache,
  };
}

export type Services = ReturnType<typeof createServices>;
