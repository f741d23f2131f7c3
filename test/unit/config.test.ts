import express from 'express';
import { ConfigError, loadConfig } from '../../src/config/config';

const KEY = Buffer.alloc(32, 1).toString('base64');

describe('config', () => {
  it('when production has no encryption key, then start-up stops naming ENCRYPTION_KEYS; bad keys are named too', () => {
    const prod = { NODE_ENV: 'production', SESSION_SECRET: 'Zq8v2Lk9Rt4Wm1Xc7Bn3Hy6Jp0Ds5Fg8Ae2Ui4Oz', PUBLIC_URL: 'https://auth.example.com' };
    expect(() => loadConfig(prod)).toThrow(/ENCRYPTION_KEYS: required when NODE_ENV=production/);
    expect(() => loadConfig({ ENCRYPTION_KEYS: 'c2hvcnQ=' })).toThrow(/ENCRYPTION_KEYS: key 1 is not 32 bytes/);
    const two = loadConfig({ ENCRYPTION_KEYS: `${KEY}, ${Buffer.alloc(32, 2).toString('base64url')}` });
    expect(two.encryptionKeys.map((k) => k[0])).toEqual([1, 2]);
    expect(loadConfig({}).encryptionKeys).toEqual([]);
  });

  it('when nothing is set, then it starts on port 3000 with the embedded database and the defaults', () => {
    const c = loadConfig({});
    expect(c.port).toBe(3000);
    expect(c.publicUrl).toBe('http://localhost:3000');
    expect(c.databaseUrl).toBeUndefined();
    expect(c.dataDir).toBe('./data');
    expect(c.tokens).toEqual({ authCodeTtlSeconds: 60, accessTokenTtlSeconds: 3600, refreshTokenTtlSeconds: 0, refreshGraceSeconds: 300, refreshReuseDetectionDays: 30 });
    expect(c.password).toMatchObject({ memoryCost: 19456, timeCost: 2, parallelism: 1 });
    expect(c.trustProxy).toEqual([]);
    expect(c.cookieSecure).toBe(false);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('when several variables are bad, then one error names every one of them', () => {
    let error: unknown;
    try {
      loadConfig({ PORT: 'eighty', TRUST_PROXY: 'true', ACCESS_TOKEN_TTL_SECONDS: '60', LOG_LEVEL: 'loud', PUBLIC_URL: 'not a url' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    for (const name of ['PORT', 'TRUST_PROXY', 'ACCESS_TOKEN_TTL_SECONDS', 'LOG_LEVEL', 'PUBLIC_URL']) expect(message).toContain(name);
  });

  it('when sign-up hashing is not configured, then it gets all but one of the slots (at least one), and more than all is refused', () => {
    expect(loadConfig({}).password).toMatchObject({ concurrency: 2, signupConcurrency: 1, signupQueue: 8 });
    expect(loadConfig({ LOGIN_CONCURRENCY: '1' }).password).toMatchObject({ concurrency: 1, signupConcurrency: 1 });
    expect(loadConfig({ LOGIN_CONCURRENCY: '8', SIGNUP_CONCURRENCY: '3' }).password).toMatchObject({ signupConcurrency: 3 });
    expect(() => loadConfig({ LOGIN_CONCURRENCY: '2', SIGNUP_CONCURRENCY: '3' })).toThrow(/SIGNUP_CONCURRENCY/);
    expect(loadConfig({}).throttle).toMatchObject({ signupMaxPerEmail: 5, signupMaxPerAddress: 20 });
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

  it('when production is configured, then cookies are Secure and only the named proxies are trusted', () => {
    const c = loadConfig({ NODE_ENV: 'production', SESSION_SECRET: 'Zq8v2Lk9Rt4Wm1Xc7Bn3Hy6Jp0Ds5Fg8Ae2Ui4Oz', PUBLIC_URL: 'https://auth.example.com/', TRUST_PROXY: 'loopback', ENCRYPTION_KEYS: KEY, DATABASE_URL: 'postgres://lb@db:5432/lb' });
    expect(c.cookieSecure).toBe(true);
    expect(c.publicUrl).toBe('https://auth.example.com');
    expect(c.trustProxy).toEqual(['loopback']);
  });

  describe('TRUST_PROXY', () => {
    it('when it lists names, addresses and CIDR ranges, then each is kept (names in lower case, duplicates once)', () => {
      const c = loadConfig({ TRUST_PROXY: ' Loopback, 10.0.0.1 ,192.168.0.0/16,fd00::/8, ::1,uniquelocal,linklocal,loopback,' });
      expect(c.trustProxy).toEqual(['loopback', '10.0.0.1', '192.168.0.0/16', 'fd00::/8', '::1', 'uniquelocal', 'linklocal']);
      expect(Object.isFrozen(c.trustProxy)).toBe(true);
    });

    it('when it is unset, blank or only commas, then no proxy is trusted', () => {
      for (const TRUST_PROXY of [undefined, '', ' ', ',,']) expect(loadConfig({ TRUST_PROXY }).trustProxy).toEqual([]);
    });

    it.each(['true', 'TRUE', '*', 'all', '0.0.0.0/0', '::/0'])('when it is %s (every address), then start-up is refused', (TRUST_PROXY) => {
      expect(() => loadConfig({ TRUST_PROXY })).toThrow(/TRUST_PROXY: .*would trust every address/);
    });

    it.each(['1', 'localhost', '10.0.0', '10.0.0.256', '10.0.0.0/33', 'fd00::/129', '10.0.0.0/', '10.0.0.0/8/8', '10.0.0.0/255.0.0.0', '10.0.0.0/-1', 'fe80::1%eth0', '2001:db8::g', 'loopback;rm -rf'])(
      'when it holds %s, then start-up is refused naming the variable and the entry',
      (entry) => {
        let error: unknown;
        try {
          loadConfig({ TRUST_PROXY: `loopback,${entry}` });
        } catch (e) {
          error = e;
        }
        expect(error).toBeInstanceOf(ConfigError);
        expect((error as ConfigError).problems).toEqual([expect.stringMatching(/^TRUST_PROXY: /)]);
        expect((error as Error).message).toContain(`"${entry}"`);
      },
    );

    it('when several entries are bad, then each is reported', () => {
      expect(() => loadConfig({ TRUST_PROXY: 'nope,10.0.0.1,also-nope' })).toThrow(/"nope"[\s\S]*"also-nope"/);
    });

    it('when any accepted value is given to Express, then it compiles (no start-up crash)', () => {
      const c = loadConfig({ TRUST_PROXY: 'loopback,linklocal,uniquelocal,10.0.0.1,10.0.0.0/8,::1,fd00::/8,::ffff:10.1.2.3,2001:db8::/32' });
      const app = express();
      expect(() => app.set('trust proxy', [...c.trustProxy])).not.toThrow();
      const trust = app.get('trust proxy fn') as (addr: string, i: number) => boolean;
      expect(trust('127.0.0.1', 0)).toBe(true);
      expect(trust('::ffff:127.0.0.1', 0)).toBe(true);
      expect(trust('10.9.9.9', 0)).toBe(true);
      expect(trust('203.0.113.7', 0)).toBe(false);
    });

    it('when the old TRUST_PROXY_HOPS is set above 0, with or without TRUST_PROXY, then start-up is refused with what to set instead', () => {
      for (const env of [{ TRUST_PROXY_HOPS: '1' }, { TRUST_PROXY_HOPS: '2', TRUST_PROXY: 'loopback' }]) {
        expect(() => loadConfig(env)).toThrow(/TRUST_PROXY_HOPS: no longer supported.*TRUST_PROXY=loopback/);
      }
    });

    it('when the old TRUST_PROXY_HOPS is 0 (the old example file), then it is accepted and trusts nothing', () => {
      expect(loadConfig({ TRUST_PROXY_HOPS: '0' }).trustProxy).toEqual([]);
    });
  });

  const production = { NODE_ENV: 'production', SESSION_SECRET: 'Zq8v2Lk9Rt4Wm1Xc7Bn3Hy6Jp0Ds5Fg8Ae2Ui4Oz', PUBLIC_URL: 'https://auth.example.com', ENCRYPTION_KEYS: KEY };

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

  describe('DATABASE_POOLING and DATABASE_LISTEN_URL', () => {
    const POOLER = 'postgres://app@pgbouncer:6432/linkbridge';
    const DIRECT = 'postgres://app@db:5432/linkbridge';

    it('when nothing is set, then pooling is session and the listener uses DATABASE_URL (none on the embedded database)', () => {
      expect(loadConfig({}).databasePooling).toBe('session');
      expect(loadConfig({}).databaseListenUrl).toBeUndefined();
      expect(loadConfig({ DATABASE_URL: DIRECT })).toMatchObject({ databasePooling: 'session', databaseListenUrl: DIRECT });
    });

    it('when transaction pooling has a listen URL, then the pool uses the pooler and the listener PostgreSQL itself', () => {
      const c = loadConfig({ DATABASE_URL: POOLER, DATABASE_POOLING: 'transaction', DATABASE_LISTEN_URL: DIRECT });
      expect(c).toMatchObject({ databaseUrl: POOLER, databasePooling: 'transaction', databaseListenUrl: DIRECT });
    });

    it('when transaction pooling has no listen URL, then start-up is refused saying what to set', () => {
      let error: unknown;
      try {
        loadConfig({ DATABASE_URL: POOLER, DATABASE_POOLING: 'transaction' });
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).problems).toEqual([expect.stringMatching(/^DATABASE_LISTEN_URL: required when DATABASE_POOLING=transaction\. Set it to PostgreSQL itself, not the pooler/)]);
    });

    it('when the values are wrong or do not fit together, then each is named', () => {
      expect(() => loadConfig({ DATABASE_POOLING: 'statement' })).toThrow(/DATABASE_POOLING: must be session or transaction/);
      expect(() => loadConfig({ DATABASE_POOLING: 'transaction' })).toThrow(/DATABASE_POOLING: transaction needs DATABASE_URL/);
      expect(() => loadConfig({ DATABASE_LISTEN_URL: DIRECT })).toThrow(/DATABASE_LISTEN_URL: needs DATABASE_URL/);
      expect(() => loadConfig({ DATABASE_URL: POOLER, DATABASE_LISTEN_URL: 'db:5432' })).toThrow(/DATABASE_LISTEN_URL: must be a postgres:\/\/ URL/);
    });
  });
});
