import { Knex } from 'knex';
import { AccountService } from './auth/account.service';
import { AuthService } from './auth/auth.service';
import { PasswordHasher } from './auth/password-hasher';
import { ThrottleRepository } from './auth/throttle.repository';
import { UserRepository } from './auth/user.repository';
import { Config } from './config/config';

/** Repositories and services of one process, built from config and the knex pool. */
export function createServices(config: Config, knex: Knex) {
  const users = new UserRepository(knex);
  const throttles = new ThrottleRepository(knex);
  const hasher = new PasswordHasher(config.password);
  const auth = new AuthService(knex, users, throttles, hasher, config.throttle);
  // Until OAuth grants exist there is nothing else to revoke when an account is disabled.
  const accounts = new AccountService(knex, users, { revokeAllForUser: async () => 0 });
  return { users, throttles, hasher, auth, accounts };
}

export type Services = ReturnType<typeof createServices>;
