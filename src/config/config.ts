import { z } from 'zod';

/**
 * The whole configuration, parsed once at start-up from the environment (see .env.example).
 * Every bad variable is reported at once, by name, so an operator fixes them in one go.
 */

const WEAK_SECRETS = new Set(['secret', 'changeme', 'change-me', 'keyboard cat', 'password']);

const intFromEnv = (def: number, min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`))
    .optional()
    .transform((v) => v ?? def);

const boolFromEnv = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  HOST: z.string().trim().min(1).default('0.0.0.0'),
  PORT: intFromEnv(3000, 0, 65535),
  PUBLIC_URL: z
    .string()
    .trim()
    .refine(isBaseUrl, 'must be an absolute http(s) URL without query or fragment, such as https://auth.example.com')
    .optional(),
  DATABASE_URL: z
    .string()
    .trim()
    .refine((u) => /^postgres(ql)?:\/\//.test(u), 'must be a postgres:// URL')
    .optional(),
  DATA_DIR: z.string().trim().min(1).default('./data'),
  /** Removed: the embedded database no longer listens on TCP. Still read, to say so. */
  EMBEDDED_DB_PORT: z.string().trim().optional(),
  ALLOW_EMBEDDED_DATABASE: boolFromEnv.optional(),
  DB_POOL_MAX: intFromEnv(10, 1, 200),
  SESSION_SECRET: z.string().optional(),
  SESSION_TTL_SECONDS: intFromEnv(7 * 24 * 3600, 300, 365 * 24 * 3600),
  TRUST_PROXY_HOPS: intFromEnv(0, 0, 10),
  COOKIE_SECURE: z.enum(['auto', 'true', 'false']).default('auto'),
  AUTH_CODE_TTL_SECONDS: intFromEnv(60, 10, 600),
  ACCESS_TOKEN_TTL_SECONDS: intFromEnv(3600, 360, 30 * 24 * 3600),
  REFRESH_TOKEN_TTL_SECONDS: intFromEnv(0, 0, 10 * 365 * 24 * 3600),
  REFRESH_GRACE_SECONDS: intFromEnv(300, 0, 24 * 3600),
  ARGON2_MEMORY_KIB: intFromEnv(19456, 8192, 1048576),
  ARGON2_TIME_COST: intFromEnv(2, 1, 20),
  ARGON2_PARALLELISM: intFromEnv(1, 1, 16),
  LOGIN_CONCURRENCY: intFromEnv(2, 1, 64),
  LOGIN_QUEUE: intFromEnv(32, 0, 10000),
  LOGIN_MAX_ATTEMPTS_PER_ACCOUNT: intFromEnv(10, 1, 1000),
  LOGIN_MAX_ATTEMPTS_PER_ADDRESS: intFromEnv(100, 1, 100000),
  LOGIN_WINDOW_SECONDS: intFromEnv(900, 10, 86400),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  SHUTDOWN_TIMEOUT_SECONDS: intFromEnv(10, 1, 300),
  WEB_CONCURRENCY: intFromEnv(1, 1, 64),
  REQUEST_TIMEOUT_SECONDS: intFromEnv(15, 1, 300),
  HSTS: boolFromEnv.optional(),
});

export type Env = Record<string, string | undefined>;

export interface Config {
  readonly env: 'development' | 'production' | 'test';
  readonly isProduction: boolean;
  readonly host: string;
  readonly port: number;
  /** The issuer: every absolute URL we print or publish is built from it, never from Host. */
  readonly publicUrl: string;
  readonly databaseUrl: string | undefined;
  readonly dataDir: string;
  readonly dbPoolMax: number;
  readonly sessionSecret: string | undefined;
  readonly sessionTtlSeconds: number;
  readonly trustProxyHops: number;
  readonly cookieSecure: boolean;
  readonly hsts: boolean;
  readonly tokens: {
    readonly authCodeTtlSeconds: number;
    readonly accessTokenTtlSeconds: number;
    /** 0 means refresh tokens do not expire until revoked. */
    readonly refreshTokenTtlSeconds: number;
    readonly refreshGraceSeconds: number;
  };
  readonly password: {
    readonly memoryCost: number;
    readonly timeCost: number;
    readonly parallelism: number;
    readonly concurrency: number;
    readonly queue: number;
  };
  readonly throttle: {
    readonly maxPerAccount: number;
    readonly maxPerAddress: number;
    readonly windowSeconds: number;
  };
  readonly logLevel: string;
  readonly shutdownTimeoutSeconds: number;
  readonly webConcurrency: number;
  readonly requestTimeoutSeconds: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Parses the environment. Throws ConfigError naming every bad variable. */
export function loadConfig(env: Env): Config {
  const parsed = envSchema.safeParse(blankToUndefined(env));
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => `${i.path.join('.') || '(environment)'}: ${i.message}`),
    );
  }
  const e = parsed.data;
  const problems: string[] = [];
  const isProduction = e.NODE_ENV === 'production';
  const publicUrl = (e.PUBLIC_URL ?? `http://localhost:${e.PORT || 3000}`).replace(/\/+$/, '');

  if (e.SESSION_SECRET !== undefined && isWeakSecret(e.SESSION_SECRET)) {
    problems.push('SESSION_SECRET: must be at least 32 characters of random text (try: openssl rand -base64 48)');
  }
  if (isProduction && e.SESSION_SECRET === undefined) {
    problems.push('SESSION_SECRET: required when NODE_ENV=production (try: openssl rand -base64 48)');
  }
  if (isProduction && !publicUrl.startsWith('https://')) {
    problems.push('PUBLIC_URL: must be an https:// URL when NODE_ENV=production (Alexa requires HTTPS)');
  }
  // The embedded database is for development and single-user machines (design: "local users are
  // attackers too"); a production server says so explicitly or uses a PostgreSQL server.
  if (isProduction && !e.DATABASE_URL && e.ALLOW_EMBEDDED_DATABASE !== true) {
    problems.push(
      'DATABASE_URL: required when NODE_ENV=production (postgres://user:password@host:5432/db). ' +
        'The embedded database is for development and single-user machines; to run on it anyway, set ALLOW_EMBEDDED_DATABASE=1',
    );
  }
  if (e.EMBEDDED_DB_PORT !== undefined && e.EMBEDDED_DB_PORT !== '0') {
    problems.push(
      'EMBEDDED_DB_PORT: no longer supported: the embedded database is not served on TCP (every local user could reach it). ' +
        'It listens on a Unix socket only the owner can open: psql -h <DATA_DIR>/run -U postgres postgres',
    );
  }
  if (e.WEB_CONCURRENCY > 1 && !e.DATABASE_URL) {
    problems.push('WEB_CONCURRENCY: several processes need DATABASE_URL (the embedded database belongs to one process)');
  }
  if (problems.length) throw new ConfigError(problems);

  const cookieSecure =
    e.COOKIE_SECURE === 'auto' ? isProduction || publicUrl.startsWith('https://') : e.COOKIE_SECURE === 'true';

  return Object.freeze({
    env: e.NODE_ENV,
    isProduction,
    host: e.HOST,
    port: e.PORT,
    publicUrl,
    databaseUrl: e.DATABASE_URL,
    dataDir: e.DATA_DIR,
    dbPoolMax: e.DB_POOL_MAX,
    sessionSecret: e.SESSION_SECRET,
    sessionTtlSeconds: e.SESSION_TTL_SECONDS,
    trustProxyHops: e.TRUST_PROXY_HOPS,
    cookieSecure,
    hsts: e.HSTS ?? publicUrl.startsWith('https://'),
    tokens: Object.freeze({
      authCodeTtlSeconds: e.AUTH_CODE_TTL_SECONDS,
      accessTokenTtlSeconds: e.ACCESS_TOKEN_TTL_SECONDS,
      refreshTokenTtlSeconds: e.REFRESH_TOKEN_TTL_SECONDS,
      refreshGraceSeconds: e.REFRESH_GRACE_SECONDS,
    }),
    password: Object.freeze({
      memoryCost: e.ARGON2_MEMORY_KIB,
      timeCost: e.ARGON2_TIME_COST,
      parallelism: e.ARGON2_PARALLELISM,
      concurrency: e.LOGIN_CONCURRENCY,
      queue: e.LOGIN_QUEUE,
    }),
    throttle: Object.freeze({
      maxPerAccount: e.LOGIN_MAX_ATTEMPTS_PER_ACCOUNT,
      maxPerAddress: e.LOGIN_MAX_ATTEMPTS_PER_ADDRESS,
      windowSeconds: e.LOGIN_WINDOW_SECONDS,
    }),
    logLevel: e.LOG_LEVEL,
    shutdownTimeoutSeconds: e.SHUTDOWN_TIMEOUT_SECONDS,
    webConcurrency: e.WEB_CONCURRENCY,
    requestTimeoutSeconds: e.REQUEST_TIMEOUT_SECONDS,
  });
}

/** Returns a copy of the config with a session secret filled in (development only). */
export function withSessionSecret(config: Config, secret: string): Config {
  return Object.freeze({ ...config, sessionSecret: secret });
}

export function isWeakSecret(secret: string): boolean {
  return secret.length < 32 || WEAK_SECRETS.has(secret.toLowerCase()) || new Set(secret).size < 10;
}

function isBaseUrl(value: string): boolean {
  try {
    const u = new URL(value);
    return (u.protocol === 'https:' || u.protocol === 'http:') && !u.search && !u.hash && !u.username && !u.password;
  } catch {
    return false;
  }
}

function blankToUndefined(env: Env): Env {
  const out: Env = {};
  for (const [k, v] of Object.entries(env)) out[k] = v === '' ? undefined : v;
  return out;
}
