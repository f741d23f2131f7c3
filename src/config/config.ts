import { isIP } from 'node:net';
import path from 'node:path';
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

/** Express's (proxy-addr's) names for address ranges. */
const PROXY_RANGE_NAMES = ['loopback', 'linklocal', 'uniquelocal'] as const;

/**
 * TRUST_PROXY: the proxies whose X-Forwarded-For/-Proto are believed, as a comma-separated list
 * of addresses, CIDR ranges (`10.0.0.0/8`, `fd00::/8`) and proxy-addr's names. Never "every
 * address" (`true`, `*`, a /0): a client that reaches the port directly must not choose the
 * address the per-address login throttle counts (security.md). Each entry is checked here so
 * Express never throws at start-up on one.
 */
const trustProxyFromEnv = z
  .string()
  .transform((value, ctx) => {
    const entries = value.split(',').map((e) => e.trim()).filter((e) => e !== '');
    const out: string[] = [];
    for (const entry of entries) {
      const problem = trustProxyEntryProblem(entry);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
      else out.push(entry.toLowerCase());
    }
    return Object.freeze([...new Set(out)]);
  })
  .optional()
  .transform((v): readonly string[] => v ?? Object.freeze([]));

function trustProxyEntryProblem(entry: string): string | undefined {
  const lower = entry.toLowerCase();
  if ((PROXY_RANGE_NAMES as readonly string[]).includes(lower)) return undefined;
  if (['true', '*', 'all', 'any'].includes(lower)) {
    return `"${entry}" would trust every address, so any client could forge X-Forwarded-For: name your proxies (loopback, or their addresses)`;
  }
  const slash = entry.indexOf('/');
  const address = slash < 0 ? entry : entry.slice(0, slash);
  const version = address.includes('%') ? 0 : isIP(address); // no IPv6 zone ids
  if (version === 0) {
    return `"${entry}" is not an IP address, a CIDR range (such as 10.0.0.0/8) or one of ${PROXY_RANGE_NAMES.join(', ')}`;
  }
  if (slash < 0) return undefined;
  const prefix = entry.slice(slash + 1);
  const max = version === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > max) return `"${entry}" needs a prefix length from 1 to ${max} after the /`;
  if (Number(prefix) === 0) return `"${entry}" would trust every address, so any client could forge X-Forwarded-For: name your proxies`;
  return undefined;
}

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
  // Behind a transaction pooler (PgBouncer pool_mode = transaction) nothing may outlive a
  // transaction: no named prepared statements, no per-connection parameters, no LISTEN.
  DATABASE_POOLING: z.enum(['session', 'transaction'], 'must be session or transaction').default('session'),
  // PostgreSQL itself (not the pooler), for the revocation listener's LISTEN session.
  DATABASE_LISTEN_URL: z
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
  ENCRYPTION_KEYS: z.string().optional(),
  SESSION_TTL_SECONDS: intFromEnv(7 * 24 * 3600, 300, 365 * 24 * 3600),
  TRUST_PROXY: trustProxyFromEnv,
  // Replaced by TRUST_PROXY (a hop count trusted whoever connected); only 0 is still accepted.
  TRUST_PROXY_HOPS: intFromEnv(0, 0, 10),
  COOKIE_SECURE: z.enum(['auto', 'true', 'false']).default('auto'),
  AUTH_CODE_TTL_SECONDS: intFromEnv(60, 10, 600),
  ACCESS_TOKEN_TTL_SECONDS: intFromEnv(3600, 360, 30 * 24 * 3600),
  REFRESH_TOKEN_TTL_SECONDS: intFromEnv(0, 0, 10 * 365 * 24 * 3600),
  REFRESH_GRACE_SECONDS: intFromEnv(300, 0, 24 * 3600),
  REFRESH_REUSE_DETECTION_DAYS: intFromEnv(30, 1, 3650),
  ARGON2_MEMORY_KIB: intFromEnv(19456, 8192, 1048576),
  ARGON2_TIME_COST: intFromEnv(2, 1, 20),
  ARGON2_PARALLELISM: intFromEnv(1, 1, 16),
  LOGIN_CONCURRENCY: intFromEnv(2, 1, 64),
  LOGIN_QUEUE: intFromEnv(32, 0, 10000),
  LOGIN_MAX_ATTEMPTS_PER_ACCOUNT: intFromEnv(10, 1, 1000),
  LOGIN_MAX_ATTEMPTS_PER_ADDRESS: intFromEnv(100, 1, 100000),
  LOGIN_WINDOW_SECONDS: intFromEnv(900, 10, 86400),
  // Sign-up: its own share of the hashing slots (default: all but one of LOGIN_CONCURRENCY, so a
  // log-in always finds one) and its own attempt limits, counted in the same window as log-ins.
  SIGNUP_CONCURRENCY: intFromEnv(0, 0, 64),
  SIGNUP_QUEUE: intFromEnv(8, 0, 10000),
  SIGNUP_MAX_ATTEMPTS_PER_EMAIL: intFromEnv(5, 1, 1000),
  SIGNUP_MAX_ATTEMPTS_PER_ADDRESS: intFromEnv(20, 1, 100000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  SHUTDOWN_TIMEOUT_SECONDS: intFromEnv(10, 1, 300),
  // One full garbage collection once the server has been idle this long after serving requests
  // (src/lib/idle-gc.ts); 0 turns it off.
  IDLE_GC_SECONDS: intFromEnv(5, 0, 3600),
  WEB_CONCURRENCY: intFromEnv(1, 1, 64),
  REQUEST_TIMEOUT_SECONDS: intFromEnv(15, 1, 300),
  HSTS: boolFromEnv.optional(),
  // Mail (password reset, address confirmation, notices). Without SMTP_URL mails are written as
  // .eml files to DATA_DIR/outbox (see `npm run cli -- mail:outbox`).
  SMTP_URL: z
    .string()
    .trim()
    .refine(isSmtpUrl, 'must be an smtp:// or smtps:// URL, such as smtp://user:pass@mail.example.com:587')
    .optional(),
  MAIL_FROM: z.string().trim().max(320).refine((v) => !/[\r\n]/.test(v) && /@/.test(v), 'must be an address, such as "Linkbridge <no-reply@example.com>"').optional(),
  MAIL_RETRY_DELAYS: z
    .string()
    .trim()
    .regex(/^\d+(\.\d+)?(,\d+(\.\d+)?){0,9}$/, 'must be up to 10 comma-separated numbers of seconds, such as 5,30,120')
    .optional(),
  REQUIRE_EMAIL_VERIFICATION: boolFromEnv.optional(),
  PASSWORD_RESET_MAX_PER_EMAIL: intFromEnv(3, 1, 1000),
  PASSWORD_RESET_MAX_PER_ADDRESS: intFromEnv(20, 1, 100000),
  // /metrics: off unless one of these is set (README "Metrics").
  METRICS_TOKEN: z.string().optional(),
  METRICS_PORT: intFromEnv(0, 0, 65535),
  // The link timeline: the newest N events per link, none older than the age (README "Link timeline").
  LINK_EVENTS_PER_LINK: intFromEnv(200, 10, 10000),
  LINK_EVENTS_MAX_AGE_DAYS: intFromEnv(90, 1, 3650),
  // Sign-in through other providers (issue 14): `idp-only` hides the password form (with exactly
  // one enabled provider the login page goes straight to it); calls to a provider time out.
  LOGIN_MODE: z.enum(['password', 'idp-only'], 'must be password or idp-only').default('password'),
  IDP_TIMEOUT_SECONDS: intFromEnv(10, 1, 60),
  // idp-only with several providers: the one the login page goes straight to (default: the only one).
  LOGIN_IDP: z.string().trim().regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'must be the name of a sign-in provider').optional(),
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
  /**
   * `session`: every pooled connection is its own PostgreSQL session (directly, or a pooler in
   * session mode), so hot statements are prepared by name. `transaction`: DATABASE_URL is a
   * transaction pooler, where consecutive transactions of one connection may run on different
   * server sessions: statements are unnamed and no session state is relied upon.
   */
  readonly databasePooling: 'session' | 'transaction';
  /**
   * Where the revocation listener holds its LISTEN session: DATABASE_LISTEN_URL, else
   * DATABASE_URL. Undefined on the embedded database. Never a transaction pooler.
   */
  readonly databaseListenUrl: string | undefined;
  readonly dataDir: string;
  readonly dbPoolMax: number;
  readonly sessionSecret: string | undefined;
  /**
   * AES-256 keys for secrets kept in clear form at rest (upstream client secrets and tokens): the
   * first encrypts, all decrypt. Empty when not configured (outside production a generated one is
   * kept in the data folder).
   */
  readonly encryptionKeys: readonly Buffer[];
  readonly sessionTtlSeconds: number;
  /**
   * Express `trust proxy`: addresses, CIDR ranges and proxy-addr names (loopback, linklocal,
   * uniquelocal) of the proxies whose X-Forwarded-* headers count; empty trusts none. Decides
   * req.ip (the login throttle's address) and req.secure (Secure cookies) alike.
   */
  readonly trustProxy: readonly string[];
  readonly cookieSecure: boolean;
  readonly hsts: boolean;
  readonly tokens: {
    readonly authCodeTtlSeconds: number;
    readonly accessTokenTtlSeconds: number;
    /** 0 means refresh tokens do not expire until revoked. */
    readonly refreshTokenTtlSeconds: number;
    readonly refreshGraceSeconds: number;
    /** How long tokens:cleanup keeps rotated refresh tokens of live links, so their reuse still revokes. */
    readonly refreshReuseDetectionDays: number;
  };
  readonly password: {
    readonly memoryCost: number;
    readonly timeCost: number;
    readonly parallelism: number;
    readonly concurrency: number;
    readonly queue: number;
    readonly signupConcurrency: number;
    readonly signupQueue: number;
  };
  readonly throttle: {
    readonly maxPerAccount: number;
    readonly maxPerAddress: number;
    readonly windowSeconds: number;
    readonly signupMaxPerEmail: number;
    readonly signupMaxPerAddress: number;
  };
  readonly logLevel: string;
  readonly shutdownTimeoutSeconds: number;
  /** 0: off. */
  readonly idleGcSeconds: number;
  readonly webConcurrency: number;
  readonly requestTimeoutSeconds: number;
  readonly mail: {
    /** smtp:// or smtps:// with credentials: never logged. Undefined: the outbox folder. */
    readonly smtpUrl: string | undefined;
    readonly from: string;
    /** DATA_DIR/outbox: where mails go without SMTP_URL (folder 0700, files 0600). */
    readonly outboxDir: string;
    /** Waits before each retry of a failed send; its length is the number of retries. */
    readonly retryDelaysMs: readonly number[];
  };
  readonly accounts: {
    /** Sign-up answers alike for new and taken addresses, and consent needs a confirmed address. */
    readonly requireEmailVerification: boolean;
    /** Password-reset requests per canonical email and per client address, per LOGIN_WINDOW_SECONDS. */
    readonly resetMaxPerEmail: number;
    readonly resetMaxPerAddress: number;
  };
  readonly metrics: {
    /** Serve /metrics (and count HTTP requests): a token or a port is configured. */
    readonly enabled: boolean;
    /** Bearer token for GET /metrics on the main port. */
    readonly token: string | undefined;
    /** A separate port on 127.0.0.1 serving /metrics without a token; 0: none. */
    readonly port: number;
  };
  readonly linkEvents: {
    readonly perLink: number;
    readonly maxAgeDays: number;
  };
  /** `password`: the password form and any providers; `idp-only`: providers only. */
  readonly loginMode: 'password' | 'idp-only';
  /** Bound on every call to an upstream provider (discovery, token, userinfo). */
  readonly idpTimeoutSeconds: number;
  /** With LOGIN_MODE=idp-only: the provider the login page sends everyone to (else the only enabled one). */
  readonly loginIdp: string | undefined;
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
  if (e.SIGNUP_CONCURRENCY > e.LOGIN_CONCURRENCY) {
    problems.push('SIGNUP_CONCURRENCY: must not exceed LOGIN_CONCURRENCY (sign-ups take a share of the same hashing slots)');
  }
  const encryptionKeys = parseEncryptionKeys(e.ENCRYPTION_KEYS, problems);
  if (isProduction && encryptionKeys.length === 0) {
    problems.push('ENCRYPTION_KEYS: required when NODE_ENV=production, to encrypt upstream secrets and tokens at rest (try: openssl rand -base64 32)');
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
  if (e.METRICS_TOKEN !== undefined && isWeakSecret(e.METRICS_TOKEN)) {
    problems.push('METRICS_TOKEN: must be at least 32 characters of random text (try: openssl rand -base64 48)');
  }
  if (e.METRICS_PORT !== 0 && e.METRICS_PORT === e.PORT) {
    problems.push('METRICS_PORT: must differ from PORT (it is a separate listener on 127.0.0.1)');
  }
  if (e.DATABASE_POOLING === 'transaction' && !e.DATABASE_URL) {
    problems.push('DATABASE_POOLING: transaction needs DATABASE_URL pointing at the pooler (the embedded database is never pooled)');
  } else if (e.DATABASE_POOLING === 'transaction' && !e.DATABASE_LISTEN_URL) {
    problems.push(
      'DATABASE_LISTEN_URL: required when DATABASE_POOLING=transaction. Set it to PostgreSQL itself, not the pooler ' +
        '(postgres://user:password@db-host:5432/linkbridge): revocations reach every process through LISTEN, which needs a session a transaction pooler does not keep',
    );
  }
  if (e.DATABASE_LISTEN_URL && !e.DATABASE_URL) {
    problems.push('DATABASE_LISTEN_URL: needs DATABASE_URL as well (the embedded database has no separate listener)');
  }
  if (e.WEB_CONCURRENCY > 1 && !e.DATABASE_URL) {
    problems.push('WEB_CONCURRENCY: several processes need DATABASE_URL (the embedded database belongs to one process)');
  }
  if (e.TRUST_PROXY_HOPS > 0) {
    problems.push(
      'TRUST_PROXY_HOPS: no longer supported, because a hop count believes X-Forwarded-For from anyone who reaches the port directly. ' +
        'Remove it and name your proxies instead: TRUST_PROXY=loopback for a tunnel or proxy on this machine, else their addresses or CIDR ranges',
    );
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
    databasePooling: e.DATABASE_POOLING,
    databaseListenUrl: e.DATABASE_URL ? (e.DATABASE_LISTEN_URL ?? e.DATABASE_URL) : undefined,
    dataDir: e.DATA_DIR,
    dbPoolMax: e.DB_POOL_MAX,
    sessionSecret: e.SESSION_SECRET,
    encryptionKeys: Object.freeze(encryptionKeys),
    sessionTtlSeconds: e.SESSION_TTL_SECONDS,
    trustProxy: e.TRUST_PROXY,
    cookieSecure,
    hsts: e.HSTS ?? publicUrl.startsWith('https://'),
    tokens: Object.freeze({
      authCodeTtlSeconds: e.AUTH_CODE_TTL_SECONDS,
      accessTokenTtlSeconds: e.ACCESS_TOKEN_TTL_SECONDS,
      refreshTokenTtlSeconds: e.REFRESH_TOKEN_TTL_SECONDS,
      refreshGraceSeconds: e.REFRESH_GRACE_SECONDS,
      refreshReuseDetectionDays: e.REFRESH_REUSE_DETECTION_DAYS,
    }),
    password: Object.freeze({
      memoryCost: e.ARGON2_MEMORY_KIB,
      timeCost: e.ARGON2_TIME_COST,
      parallelism: e.ARGON2_PARALLELISM,
      concurrency: e.LOGIN_CONCURRENCY,
      queue: e.LOGIN_QUEUE,
      signupConcurrency: e.SIGNUP_CONCURRENCY || Math.max(1, e.LOGIN_CONCURRENCY - 1),
      signupQueue: e.SIGNUP_QUEUE,
    }),
    throttle: Object.freeze({
      maxPerAccount: e.LOGIN_MAX_ATTEMPTS_PER_ACCOUNT,
      maxPerAddress: e.LOGIN_MAX_ATTEMPTS_PER_ADDRESS,
      windowSeconds: e.LOGIN_WINDOW_SECONDS,
      signupMaxPerEmail: e.SIGNUP_MAX_ATTEMPTS_PER_EMAIL,
      signupMaxPerAddress: e.SIGNUP_MAX_ATTEMPTS_PER_ADDRESS,
    }),
    logLevel: e.LOG_LEVEL,
    shutdownTimeoutSeconds: e.SHUTDOWN_TIMEOUT_SECONDS,
    idleGcSeconds: e.IDLE_GC_SECONDS,
    webConcurrency: e.WEB_CONCURRENCY,
    requestTimeoutSeconds: e.REQUEST_TIMEOUT_SECONDS,
    mail: Object.freeze({
      smtpUrl: e.SMTP_URL,
      from: e.MAIL_FROM ?? `Linkbridge <no-reply@${new URL(publicUrl).hostname}>`,
      outboxDir: path.join(e.DATA_DIR, 'outbox'),
      retryDelaysMs: Object.freeze((e.MAIL_RETRY_DELAYS ?? '5,30,120').split(',').map((v) => Math.round(Number(v) * 1000))),
    }),
    accounts: Object.freeze({
      requireEmailVerification: e.REQUIRE_EMAIL_VERIFICATION ?? false,
      resetMaxPerEmail: e.PASSWORD_RESET_MAX_PER_EMAIL,
      resetMaxPerAddress: e.PASSWORD_RESET_MAX_PER_ADDRESS,
    }),
    metrics: Object.freeze({
      enabled: e.METRICS_TOKEN !== undefined || e.METRICS_PORT !== 0,
      token: e.METRICS_TOKEN,
      port: e.METRICS_PORT,
    }),
    linkEvents: Object.freeze({ perLink: e.LINK_EVENTS_PER_LINK, maxAgeDays: e.LINK_EVENTS_MAX_AGE_DAYS }),
    loginMode: e.LOGIN_MODE,
    idpTimeoutSeconds: e.IDP_TIMEOUT_SECONDS,
    loginIdp: e.LOGIN_IDP,
  });
}

/** Returns a copy of the config with a session secret filled in (development only). */
export function withSessionSecret(config: Config, secret: string): Config {
  return Object.freeze({ ...config, sessionSecret: secret });
}

/** Returns a copy of the config with an encryption key filled in (development only). */
export function withEncryptionKey(config: Config, key: Buffer): Config {
  return Object.freeze({ ...config, encryptionKeys: Object.freeze([key]) });
}

/** ENCRYPTION_KEYS: comma-separated base64 (or base64url) keys of exactly 32 bytes; the first encrypts. */
function parseEncryptionKeys(value: string | undefined, problems: string[]): Buffer[] {
  if (value === undefined) return [];
  const keys: Buffer[] = [];
  value.split(',').map((k) => k.trim()).filter(Boolean).forEach((k, i) => {
    const key = /^[A-Za-z0-9+/_-]+={0,2}$/.test(k) ? Buffer.from(k, k.includes('-') || k.includes('_') ? 'base64url' : 'base64') : Buffer.alloc(0);
    if (key.length === 32) keys.push(key);
    else problems.push(`ENCRYPTION_KEYS: key ${i + 1} is not 32 bytes of base64 (try: openssl rand -base64 32)`);
  });
  return keys;
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

function isSmtpUrl(value: string): boolean {
  try {
    const u = new URL(value);
    return (u.protocol === 'smtp:' || u.protocol === 'smtps:') && u.hostname !== '';
  } catch {
    return false;
  }
}

function blankToUndefined(env: Env): Env {
  const out: Env = {};
  for (const [k, v] of Object.entries(env)) out[k] = v === '' ? undefined : v;
  return out;
}
