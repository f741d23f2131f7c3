import { randomUUID } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { Express } from 'express';
import { Knex } from 'knex';
import request from 'supertest';
import { createApp } from '../../src/app';
import { Config, Env, loadConfig } from '../../src/config/config';
import { createKnex } from '../../src/db/knex';
import { createServices, Services } from '../../src/services';

export const TEST_SESSION_SECRET = 'test-session-secret-0123456789-abcdefghijklmnop';
export const TEST_ENCRYPTION_KEY = Buffer.alloc(32, 7).toString('base64');
export const TEST_PASSWORD = 'correct horse battery staple';

export function testDatabaseUrl(): string {
  const url = process.env.LB_TEST_DATABASE_URL;
  if (!url) throw new Error('LB_TEST_DATABASE_URL is not set: run the tests through jest (globalSetup)');
  return url;
}

export function testConfig(env: Env = {}): Config {
  return loadConfig({
    NODE_ENV: 'test',
    PUBLIC_URL: 'http://localhost:3000',
    SESSION_SECRET: TEST_SESSION_SECRET,
    ENCRYPTION_KEYS: TEST_ENCRYPTION_KEY,
    DATABASE_URL: testDatabaseUrl(),
    DB_POOL_MAX: '4',
    LOGIN_MAX_ATTEMPTS_PER_ADDRESS: '100000',
    SIGNUP_MAX_ATTEMPTS_PER_ADDRESS: '100000',
    PASSWORD_RESET_MAX_PER_ADDRESS: '100000',
    LOG_LEVEL: 'silent',
    // Never ./data of the checkout: a test that mails without SMTP_URL writes to a throwaway outbox.
    DATA_DIR: path.join(os.tmpdir(), `linkbridge-test-data-${process.pid}`),
    ...env,
  });
}

export interface TestContext {
  config: Config;
  knex: Knex;
  services: Services;
  app: Express;
  close(): Promise<void>;
}

/** The real app on the test database, as main.ts builds it. */
export function createTestContext(env: Env = {}): TestContext {
  const config = testConfig(env);
  const knex = createKnex({ url: config.databaseUrl!, poolMax: config.dbPoolMax });
  const services = createServices(config, knex);
  const app = createApp({ config, knex, services });
  return {
    config,
    knex,
    services,
    app,
    close: async () => {
      services.mail.close();
      await services.timeline.stop(); // buffered link events written before the pool goes
      await knex.destroy();
    },
  };
}

export const uniqueEmail = (tag = 'user') => `${tag}-${randomUUID()}@example.test`;

export async function createUser(ctx: TestContext, opts: { email?: string; password?: string; name?: string; isAdmin?: boolean } = {}) {
  return ctx.services.auth.signUp({
    email: opts.email ?? uniqueEmail(),
    password: opts.password ?? TEST_PASSWORD,
    name: opts.name ?? 'Test User',
    isAdmin: opts.isAdmin,
  });
}

export function csrfFrom(html: string): string {
  const m = /name="_csrf" value="([^"]+)"/.exec(html);
  if (!m) throw new Error('no CSRF token in the page');
  return m[1];
}

/** A web agent (supertest, not Chromium): cookies kept between requests. */
export type WebAgent = ReturnType<typeof request.agent>;

/** The app in this process, or the base URL of a server process (http://127.0.0.1:PORT). */
export type AppOrUrl = Express | string;

export function webAgent(app: AppOrUrl): WebAgent {
  return request.agent(app);
}

export async function signInAs(agent: WebAgent, email: string, password = TEST_PASSWORD, returnTo?: string) {
  const page = await agent.get(returnTo ? `/login?return_to=${encodeURIComponent(returnTo)}` : '/login');
  const csrf = csrfFrom(page.text);
  return agent
    .post('/login')
    .type('form')
    .send({ _csrf: csrf, email, password, ...(returnTo ? { return_to: returnTo } : {}) });
}
