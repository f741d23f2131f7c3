import { randomBytes } from 'node:crypto';
import { Knex } from 'knex';
import pg from 'pg';
import { loadConfig } from '../src/config/config';
import { randomToken, sha256, TOKEN_PREFIX } from '../src/lib/crypto';
import { alexaRedirectUris } from '../src/oauth/clients/redirect-uris';
import { createServices } from '../src/services';

/**
 * Realistic volumes, loaded with set-based SQL (INSERT ... SELECT generate_series) so seeding
 * takes seconds: users with one shared argon2id hash (computed once, with the server's own
 * parameters so a login never triggers a rehash), one live grant with an access and a refresh
 * token per user, recipes and bookmarks. Only the tokens the load uses are generated in
 * JavaScript (we need their plaintext); every other token is a random hash, as the server
 * would store it.
 */

export interface SeedSizes {
  users: number;
  /** Extra grants (users 1..N) for the client with refresh-token rotation. */
  rotateGrants: number;
  recipes: number;
  /** Access tokens whose plaintext the API load cycles through (one per user, users 1..N). */
  apiTokens: number;
  /** Access tokens with plaintext only the api-me rows use (the users after the apiTokens' ones). */
  warmTokens: number;
  /** Access tokens with plaintext for first calls (at most this many: one per remaining user). */
  coldTokens: number;
  /** Refresh tokens with plaintext, per policy. */
  refreshTokens: number;
  /** Rows of filler in the peer's table, per model (Grant, RefreshToken, AccessToken). */
  peerFiller: number;
}

export interface BenchClient {
  id: number;
  clientId: string;
  clientSecret: string;
  redirectUri: string;
}

export interface SeedResult {
  password: string;
  emails: (n: number) => string;
  clientOff: BenchClient;
  clientRotate: BenchClient;
  apiTokens: string[];
  /** sha256 hex of apiTokens, in the same order (what the floor looks up). */
  apiTokenHashes: string[];
  warmTokens: string[];
  coldTokens: string[];
  refreshOff: string[];
  refreshRotate: string[];
  /** Grant ids of the "off" client (for authorization codes). */
  offGrantIds: number[];
  counts: Record<string, number>;
  seconds: number;
}

export const BENCH_PASSWORD = 'bench-password-0123456789';
export const benchEmail = (n: number) => `user${n}@bench.test`;

/** The peer's storage: one generic table, as oidc-provider's adapter interface suggests. */
export const PEER_TABLE_DDL = `
  CREATE TABLE oidc_models (
    id text NOT NULL,
    type text NOT NULL,
    payload jsonb NOT NULL,
    grant_id text,
    user_code text,
    uid text,
    expires_at timestamptz,
    consumed_at timestamptz,
    PRIMARY KEY (id, type)
  );
  CREATE INDEX oidc_models_grant_id_idx ON oidc_models (grant_id);
  CREATE INDEX oidc_models_user_code_idx ON oidc_models (user_code);
  CREATE INDEX oidc_models_uid_idx ON oidc_models (uid);
  CREATE INDEX oidc_models_expires_at_idx ON oidc_models (expires_at);`;

const RANDOM_HASH = "md5(random()::text || clock_timestamp()::text) || md5(random()::text || g::text)";

async function insertKnown(db: pg.Client, table: 'oauth_access_tokens' | 'oauth_refresh_tokens', hashes: string[], grantIds: number[]): Promise<void> {
  const expires = table === 'oauth_access_tokens' ? "now() + interval '1 day'" : 'NULL';
  for (let i = 0; i < hashes.length; i += 10000) {
    await db.query(
      `INSERT INTO ${table} (token_hash, grant_id, scope, expires_at)
       SELECT h, g, '{read,write}', ${expires} FROM unnest($1::text[], $2::bigint[]) AS x(h, g)`,
      [hashes.slice(i, i + 10000), grantIds.slice(i, i + 10000)],
    );
  }
}

export async function seedDatabase(knex: Knex, url: string, sizes: SeedSizes, log: (m: string) => void): Promise<SeedResult> {
  const started = Date.now();
  // The server's own composition root: the same hasher parameters and client service.
  const services = createServices(loadConfig({}), knex);
  const passwordHash = await services.hasher.hash(BENCH_PASSWORD);

  // Two Alexa-style clients through the real service (secrets hashed as in production).
  const service = services.clients;
  const makeClient = async (rotation: 'off' | 'rotate'): Promise<BenchClient> => {
    const vendorId = `MBENCH${rotation.toUpperCase()}${randomBytes(3).toString('hex').toUpperCase()}`;
    const { client, clientSecret } = await service.create({
      name: `Bench Alexa (rotation ${rotation})`,
      redirectUris: alexaRedirectUris(vendorId),
      refreshRotation: rotation,
      alexaVendorId: vendorId,
    });
    return { id: client.id, clientId: client.clientId, clientSecret: clientSecret!, redirectUri: client.redirectUris[0] };
  };
  const clientOff = await makeClient('off');
  const clientRotate = await makeClient('rotate');

  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    const step = async (what: string, sql: string, params: unknown[] = []) => {
      const t = Date.now();
      const r = await db.query(sql, params);
      log(`  ${what}: ${r.rowCount ?? 0} rows in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    };

    await step(
      'users',
      // Bulk insert in SQL: these ASCII lower-case addresses are their own canonicalEmail() form.
      `INSERT INTO users (email, email_canonical, name, password_hash)
       SELECT 'user' || g || '@bench.test', 'user' || g || '@bench.test', 'Bench User ' || g, $1 FROM generate_series(1, $2::int) g`,
      [passwordHash, sizes.users],
    );
    await step(
      'grants (rotation off)',
      `INSERT INTO oauth_grants (user_id, client_id, scope) SELECT id, $1, '{read,write}' FROM users ORDER BY id`,
      [clientOff.id],
    );
    await step(
      'grants (rotation rotate)',
      `INSERT INTO oauth_grants (user_id, client_id, scope) SELECT id, $1, '{read,write}' FROM users ORDER BY id LIMIT $2`,
      [clientRotate.id, sizes.rotateGrants],
    );

    const grantIds = async (clientId: number, limit: number): Promise<number[]> => {
      const { rows } = await db.query<{ id: string }>('SELECT id FROM oauth_grants WHERE client_id = $1 ORDER BY user_id LIMIT $2', [clientId, limit]);
      return rows.map((r) => Number(r.id));
    };
    const offGrantIds = await grantIds(clientOff.id, sizes.users);
    const rotateGrantIds = await grantIds(clientRotate.id, sizes.rotateGrants);

    // Tokens with a known plaintext: access tokens of users 1..apiTokens; refresh tokens of the
    // first grants of each client.
    const apiTokens = Array.from({ length: sizes.apiTokens }, () => randomToken(TOKEN_PREFIX.accessToken));
    const apiTokenHashes = apiTokens.map(sha256);
    // One token per grant: users 1..apiTokens (every other target), then the api-me rows' own, then
    // first calls, so that no target's use of a token warms the cache for another's.
    const warmCount = Math.max(0, Math.min(sizes.warmTokens, offGrantIds.length - apiTokens.length));
    const coldCount = Math.max(0, Math.min(sizes.coldTokens, offGrantIds.length - apiTokens.length - warmCount));
    const warmTokens = Array.from({ length: warmCount }, () => randomToken(TOKEN_PREFIX.accessToken));
    const coldTokens = Array.from({ length: coldCount }, () => randomToken(TOKEN_PREFIX.accessToken));
    const refreshOff = Array.from({ length: sizes.refreshTokens }, () => randomToken(TOKEN_PREFIX.refreshToken));
    const refreshRotate = Array.from({ length: Math.min(sizes.refreshTokens, rotateGrantIds.length) }, () => randomToken(TOKEN_PREFIX.refreshToken));
    let t = Date.now();
    await insertKnown(db, 'oauth_access_tokens', apiTokenHashes, offGrantIds.slice(0, apiTokens.length));
    const afterApi = apiTokens.length;
    await insertKnown(db, 'oauth_access_tokens', warmTokens.map(sha256), offGrantIds.slice(afterApi, afterApi + warmCount));
    await insertKnown(db, 'oauth_access_tokens', coldTokens.map(sha256), offGrantIds.slice(afterApi + warmCount, afterApi + warmCount + coldCount));
    await insertKnown(db, 'oauth_refresh_tokens', refreshOff.map(sha256), offGrantIds.slice(0, refreshOff.length));
    await insertKnown(db, 'oauth_refresh_tokens', refreshRotate.map(sha256), rotateGrantIds.slice(0, refreshRotate.length));
    log(`  tokens with known plaintext: ${apiTokens.length + warmTokens.length + coldTokens.length + refreshOff.length + refreshRotate.length} in ${((Date.now() - t) / 1000).toFixed(1)} s`);

    // Every other grant gets its live pair too, with random hashes.
    await step(
      'access tokens (the rest)',
      `INSERT INTO oauth_access_tokens (token_hash, grant_id, scope, expires_at)
       SELECT ${RANDOM_HASH}, g, '{read,write}', now() + interval '1 hour' * (1 + random())
         FROM (SELECT id AS g FROM oauth_grants gr WHERE NOT EXISTS (SELECT 1 FROM oauth_access_tokens t WHERE t.grant_id = gr.id)) x`,
    );
    await step(
      'refresh tokens (the rest)',
      `INSERT INTO oauth_refresh_tokens (token_hash, grant_id, scope)
       SELECT ${RANDOM_HASH}, g, '{read,write}'
         FROM (SELECT id AS g FROM oauth_grants gr WHERE NOT EXISTS (SELECT 1 FROM oauth_refresh_tokens t WHERE t.grant_id = gr.id)) x`,
    );

    const words = ['tomato', 'basil', 'lemon', 'garlic', 'rice', 'lentil', 'chickpea', 'ginger', 'apple', 'walnut', 'fennel', 'pepper', 'butter', 'potato', 'leek', 'thyme'];
    await step(
      'recipes',
      `INSERT INTO recipes (author_id, title, summary, ingredients, steps, minutes, servings, is_published, created_at, updated_at)
       SELECT 1 + (g * 7919) % $1::int,
              initcap(w[1 + g % 16]) || ' and ' || w[1 + (g / 16) % 16] || ' ' || (ARRAY['soup','salad','stew','pie','bake','curry','risotto','tart'])[1 + g % 8] || ' #' || g,
              'A weeknight ' || w[1 + (g / 3) % 16] || ' dish that keeps well and reheats in minutes.',
              ARRAY[w[1 + g % 16], w[1 + (g / 16) % 16], w[1 + (g / 5) % 16], '1 onion', '2 tbsp olive oil', 'salt', 'black pepper'],
              ARRAY['Prepare the ' || w[1 + g % 16] || '.', 'Soften the onion in the oil for 8 minutes.', 'Add the rest and simmer for 20 minutes.', 'Season and serve.'],
              10 + g % 110, 1 + g % 8, g % 5 <> 0,
              now() - (g || ' minutes')::interval, now() - (g || ' minutes')::interval
         FROM generate_series(1, $2::int) g, (SELECT $3::text[] AS w) words`,
      [sizes.users, sizes.recipes, words],
    );
    await step(
      'bookmarks (API users: 5 to 24 each)',
      `INSERT INTO bookmarks (user_id, recipe_id, created_at)
       SELECT u, 1 + (u * 31 + k * 977) % $2::int, now() - (k || ' hours')::interval
         FROM generate_series(1, $1::int) u, generate_series(1, 24) k
        WHERE k <= 5 + u % 20
       ON CONFLICT DO NOTHING`,
      [sizes.apiTokens, sizes.recipes],
    );

    // The peer's table, with as many rows per model as we have grants and tokens.
    await db.query(PEER_TABLE_DDL);
    await step(
      'peer filler (Grant, RefreshToken, AccessToken)',
      `INSERT INTO oidc_models (id, type, payload, grant_id, expires_at)
       SELECT md5(random()::text || g) || md5(g::text), m,
              jsonb_build_object('iat', 1700000000, 'exp', 2000000000, 'accountId', (g % 1000 + 1)::text, 'clientId', 'filler', 'grantId', 'fg' || g, 'kind', m, 'jti', 'f' || g, 'scope', 'read write'),
              'fg' || g, now() + interval '1 day'
         FROM generate_series(1, $1::int) g, unnest(ARRAY['Grant', 'RefreshToken', 'AccessToken']) m`,
      [sizes.peerFiller],
    );

    t = Date.now();
    await db.query('VACUUM ANALYZE');
    // Flush the bulk load now rather than in a checkpoint during the first measured rounds
    // (needs superuser or pg_checkpoint; without it the first rounds may be slower).
    await db.query('CHECKPOINT').catch(() => undefined);
    log(`  vacuum analyze, checkpoint: ${((Date.now() - t) / 1000).toFixed(1)} s`);

    const counts: Record<string, number> = {};
    for (const table of ['users', 'oauth_grants', 'oauth_access_tokens', 'oauth_refresh_tokens', 'recipes', 'bookmarks', 'oidc_models']) {
      const { rows } = await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`);
      counts[table] = Number(rows[0].n);
    }
    return {
      password: BENCH_PASSWORD,
      emails: benchEmail,
      clientOff,
      clientRotate,
      apiTokens,
      apiTokenHashes,
      warmTokens,
      coldTokens,
      refreshOff,
      refreshRotate,
      offGrantIds,
      counts,
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    await db.end();
  }
}

/**
 * Single-use authorization codes for the code-exchange load, as the authorize endpoint would
 * store them: hashed, bound to a grant and the redirect URI that was in the request.
 */
export async function createCodes(url: string, client: BenchClient, grantIds: number[], count: number, offset: number): Promise<string[]> {
  const codes = Array.from({ length: count }, () => randomToken(TOKEN_PREFIX.authorizationCode));
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    for (let i = 0; i < codes.length; i += 10000) {
      const slice = codes.slice(i, i + 10000);
      await db.query(
        `INSERT INTO oauth_authorization_codes (code_hash, grant_id, redirect_uri, redirect_uri_in_request, scope, expires_at)
         SELECT h, g, $3, true, '{read,write}', now() + interval '30 minutes' FROM unnest($1::text[], $2::bigint[]) AS x(h, g)`,
        [slice.map(sha256), slice.map((_, j) => grantIds[(offset + i + j) % grantIds.length]), client.redirectUri],
      );
    }
  } finally {
    await db.end();
  }
  return codes;
}

/**
 * Grows the seeded database to `totalTokens` live access tokens (and as many grants, refresh
 * tokens and users), the way a server with millions of linked users looks: set-based SQL in
 * batches of 500k users, each with a grant of the "off" client and a live token pair. Then
 * VACUUM ANALYZE, as autovacuum would have done by then. Returns the seconds it took.
 */
export async function growDatabase(url: string, clientId: number, totalTokens: number, log: (m: string) => void): Promise<{ seconds: number; counts: Record<string, number> }> {
  const started = Date.now();
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    const count = async (table: string) => Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);
    const have = await count('oauth_access_tokens');
    const passwordHash = (await db.query<{ h: string }>('SELECT password_hash AS h FROM users ORDER BY id LIMIT 1')).rows[0].h;
    const BATCH = 500_000;
    for (let done = 0, need = totalTokens - have; done < need; done += BATCH) {
      const n = Math.min(BATCH, need - done);
      const t = Date.now();
      await db.query('BEGIN');
      const { rows } = await db.query<{ lo: string; hi: string }>(
        `WITH u AS (
           INSERT INTO users (email, email_canonical, name, password_hash)
           SELECT 'scale' || g || '@bench.test', 'scale' || g || '@bench.test', 'Scale User ' || g, $1
             FROM generate_series($2::int + 1, $2::int + $3::int) g
           RETURNING id)
         SELECT min(id) AS lo, max(id) AS hi FROM u`,
        [passwordHash, have + done, n],
      );
      const { lo, hi } = rows[0];
      const grants = await db.query<{ lo: string; hi: string }>(
        `WITH g AS (INSERT INTO oauth_grants (user_id, client_id, scope) SELECT id, $1, '{read,write}' FROM users WHERE id BETWEEN $2 AND $3 RETURNING id)
         SELECT min(id) AS lo, max(id) AS hi FROM g`,
        [clientId, lo, hi],
      );
      const range = [grants.rows[0].lo, grants.rows[0].hi];
      await db.query(
        `INSERT INTO oauth_access_tokens (token_hash, grant_id, scope, expires_at)
         SELECT ${RANDOM_HASH}, g, '{read,write}', now() + interval '1 hour' * (1 + random()) FROM generate_series($1::bigint, $2::bigint) g`,
        range,
      );
      await db.query(`INSERT INTO oauth_refresh_tokens (token_hash, grant_id, scope) SELECT ${RANDOM_HASH}, g, '{read,write}' FROM generate_series($1::bigint, $2::bigint) g`, range);
      await db.query('COMMIT');
      log(`  +${n} users, grants, access and refresh tokens (${have + done + n} in all) in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    }
    const t = Date.now();
    await db.query('VACUUM ANALYZE');
    await db.query('CHECKPOINT').catch(() => undefined);
    log(`  vacuum analyze, checkpoint: ${((Date.now() - t) / 1000).toFixed(1)} s`);
    const counts: Record<string, number> = {};
    for (const table of ['users', 'oauth_grants', 'oauth_access_tokens', 'oauth_refresh_tokens']) counts[table] = await count(table);
    return { seconds: (Date.now() - started) / 1000, counts };
  } catch (err) {
    await db.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    await db.end();
  }
}
