import { ConfigError, loadConfig } from '../../src/config/config';

describe('config', () => {
  it('when nothing is set, then it starts on port 3000 with the embedded database and the defaults', () => {
    const c = loadConfig({});
    expect(c.port).toBe(3000);
    expect(c.publicUrl).toBe('http://localhost:3000');
    expect(c.databaseUrl).toBeUndefined();
    expect(c.dataDir).toBe('./data');
    expect(c.tokens).toEqual({ authCodeTtlSeconds: 60, accessTokenTtlSeconds: 3600, refreshTokenTtlSeconds: 0, refreshGraceSeconds: 300 });
    expect(c.password).toMatchObject({ memoryCost: 19456, timeCost: 2, parallelism: 1 });
    expect(c.trustProxyHops).toBe(0);
    expect(c.cookieSecure).toBe(false);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('when several variables are bad, then one error names every one of them', () => {
    let error: unknown;
    try {
      loadConfig({ PORT: 'eighty', TRUST_PROXY_HOPS: 'true', ACCESS_TOKEN_TTL_SECONDS: '60', LOG_LEVEL: 'loud', PUBLIC_URL: 'not a url' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    for (const name of ['PORT', 'TRUST_PROXY_HOPS', 'ACCESS_TOKEN_TTL_SECONDS', 'LOG_LEVEL', 'PUBLIC_URL']) expect(message).toContain(name);
  });

  it('when access tokens would live under 360 seconds, then start-up is refused (Alexa minimum)', () => {
    expect(() => loadConfig({ ACCESS_TOKEN_TTL_SECONDS: '359' })).toThrow(/ACCESS_TOKEN_TTL_SECONDS/);
    expect(loadConfig({ ACCESS_TOKEN_TTL_SECONDS: '360' }).tokens.accessTokenTtlSeconds).toBe(360);
  });

  it('when production has no session secret, then start-up stops with a clear message', () => {
    expect(() => loadConfig({ NODE_ENV: 'production', PUBLIC_URL: 'https://auth.example.com' })).toThrow(/SESSION_SECRET: required/);
  });

  it('when the session secret is weak, then start-up stops', () => {
    expect(() => loadConfig({ SESSION_SECRET: 'keyboard cat' })).toThrow(/SESSION_SECRET/);
    expect(() => loadConfig({ SESSION_SECRET: 'a'.repeat(40) })).toThrow(/SESSION_SECRET/);
  });

  it('when production runs on plain http, then start-up stops', () => {
    expect(() => loadConfig({ NODE_ENV: 'production', SESSION_SECRET: 'Zq8v2Lk9Rt4Wm1Xc7Bn3Hy6Jp0Ds5Fg8Ae2Ui4Oz', PUBLIC_URL: 'http://auth.example.com' })).toThrow(/PUBLIC_URL/);
  });

  it('when production is configured, then cookies are Secure and the trust-proxy setting is a hop count', () => {
    const c = loadConfig({ NODE_ENV: 'production', SESSION_SECRET: 'Zq8v2Lk9Rt4Wm1Xc7Bn3Hy6Jp0Ds5Fg8Ae2Ui4Oz', PUBLIC_URL: 'https://auth.example.com/', TRUST_PROXY_HOPS: '1', DATABASE_URL: 'postgres://lb@db:5432/lb' });
    expect(c.cookieSecure).toBe(true);
    expect(c.publicUrl).toBe('https://auth.example.com');
    expect(c.trustProxyHops).toBe(1);
  });

  const production = { NODE_ENV: 'production', SESSION_SECRET: 'Zq8v2Lk9Rt4Wm1Xc7Bn3Hy6Jp0Ds5Fg8Ae2Ui4Oz', PUBLIC_URL: 'https://auth.example.com' };

  it('when production has no DATABASE_URL, then start-up is refused with a message naming DATABASE_URL and the opt-in', () => {
    expect(() => loadConfig(production)).toThrow(ConfigError);
    expect(() => loadConfig(production)).toThrow(/DATABASE_URL: required when NODE_ENV=production/);
    expect(() => loadConfig(production)).toThrow(/ALLOW_EMBEDDED_DATABASE=1/);
    expect(() => loadConfig({ ...production, ALLOW_EMBEDDED_DATABASE: '0' })).toThrow(/DATABASE_URL/);
  });

  it('when production opts in with ALLOW_EMBEDDED_DATABASE=1 or has DATABASE_URL, then it starts; development needs neither', () => {
    expect(loadConfig({ ...production, ALLOW_EMBEDDED_DATABASE: '1' }).databaseUrl).toBeUndefined();
    expect(loadConfig({ ...production, ALLOW_EMBEDDED_DATABASE: 'true' }).isProduction).toBe(true);
    expect(loadConfig({ ...production, DATABASE_URL: 'postgres://lb@db:5432/lb' }).databaseUrl).toBe('postgres://lb@db:5432/lb');
    expect(loadConfig({}).databaseUrl).toBeUndefined();
  });

  it('when ALLOW_EMBEDDED_DATABASE is not a yes or no, then start-up names it', () => {
    expect(() => loadConfig({ ...production, ALLOW_EMBEDDED_DATABASE: 'sure' })).toThrow(/ALLOW_EMBEDDED_DATABASE/);
  });

  it('when EMBEDDED_DB_PORT asks for a TCP port, then start-up is refused: the embedded database has only an owner-only Unix socket', () => {
    expect(() => loadConfig({ EMBEDDED_DB_PORT: '5433' })).toThrow(/EMBEDDED_DB_PORT: no longer supported/);
    expect(loadConfig({ EMBEDDED_DB_PORT: '0' }).databaseUrl).toBeUndefined(); // the old default stays harmless
  });

  it('when DATABASE_URL names a Unix socket folder, then it is accepted', () => {
    expect(loadConfig({ DATABASE_URL: 'postgres://postgres@/postgres?host=%2Ftmp%2Fdata%2Frun' }).databaseUrl).toContain('host=');
  });

  it('when several processes are asked for without DATABASE_URL, then start-up is refused', () => {
    expect(() => loadConfig({ WEB_CONCURRENCY: '2' })).toThrow(/WEB_CONCURRENCY/);
  });
});
