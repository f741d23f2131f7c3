import { Knex } from 'knex';
import { SkillEventService } from './alexa/skill-events.service';
import { AccountService } from './auth/account.service';
import { AuthService } from './auth/auth.service';
import { DeviceCookies } from './auth/device-cookie';
import { PasswordHasher } from './auth/password-hasher';
import { ThrottleRepository } from './auth/throttle.repository';
import { UserRepository } from './auth/user.repository';
import { BookmarkRepository } from './bookmarks/bookmark.repository';
import { BookmarkService } from './bookmarks/bookmark.service';
import { Config } from './config/config';
import { HotQueries } from './db/hot-queries';
import { DbAccessTokenValidator } from './oauth/access-token.validator';
import { createBearerAuth } from './oauth/bearer';
import { AuthorizeService } from './oauth/authorize.service';
import { ClientRepository } from './oauth/client.repository';
import { ClientService } from './oauth/client.service';
import { ConsentRepository } from './oauth/consent.repository';
import { GrantRepository } from './oauth/grant.repository';
import { RevocationBus } from './oauth/revocation-bus';
import { createAccessTokenCache, createClientCache } from './oauth/token-cache';
import { TokenRepository } from './oauth/token.repository';
import { TokenService } from './oauth/token.service';
import { RecipeRepository } from './recipes/recipe.repository';
import { RecipeService } from './recipes/recipe.service';

/** Repositories and services of one process, built from config and the knex pool. */
export function createServices(config: Config, knex: Knex) {
  const users = new UserRepository(knex);
  const throttles = new ThrottleRepository(knex);
  const hasher = new PasswordHasher(config.password);
  const auth = new AuthService(knex, users, throttles, hasher, config.throttle, new DeviceCookies(config.sessionSecret));
  // Revocations reach the caches of every process; main.ts starts the listener (real PostgreSQL).
  const revocations = new RevocationBus();
  const tokenCache = createAccessTokenCache();
  const clientCache = createClientCache();
  revocations.subscribe(tokenCache);
  revocations.subscribe(clientCache);
  const clients = new ClientRepository(knex, revocations);
  const grants = new GrantRepository(knex, revocations);
  const tokens = new TokenRepository(knex, revocations, new HotQueries(knex));
  const accounts = new AccountService(knex, users, grants);
  const consents = new ConsentRepository(knex);
  const bearer = createBearerAuth(new DbAccessTokenValidator(tokens, tokenCache));
  const clientService = new ClientService(clients, clientCache);
  const tokenService = new TokenService(knex, tokens, grants, config.tokens);
  const authorize = new AuthorizeService(knex, clients, grants, consents, tokenService);
  const recipes = new RecipeService(knex, new RecipeRepository(knex));
  const bookmarks = new BookmarkService(new BookmarkRepository(knex));
  const skillEvents = new SkillEventService(tokens, grants);
  return { users, throttles, hasher, auth, accounts, clients, grants, tokens, consents, bearer, clientService, tokenService, authorize, recipes, bookmarks, skillEvents, revocations, tokenCache };
}

export type Services = ReturnType<typeof createServices>;
