import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import pg from 'pg';
import { serveChild } from './child';

/**
 * The peer: node-oidc-provider (npm `oidc-provider`, ESM-only, loaded with a real dynamic import)
 * configured the way an Alexa account-linking server would use it: one confidential client with
 * client_secret_basic, authorization_code + refresh_token, opaque tokens, no ID tokens (no
 * `openid` scope), refresh tokens not rotated (Alexa's default), introspection enabled. Its
 * storage is a PostgreSQL adapter written here on one generic table (`oidc_models`, created and
 * filled with as many rows as our tables by bench/seed.ts) in the same benchmark database, and
 * accounts are looked up in our `users` table, as our own refresh does.
 *
 * Run as a child process by bench/run.ts (PEER_DATABASE_URL, PEER_PORT, PEER_REFRESH_TOKENS,
 * PEER_ACCESS_TOKENS). At start it mints grants, refresh tokens and access tokens through the
 * provider's own models and sends their values to the parent over IPC.
 */

/* eslint-disable @typescript-eslint/no-explicit-any */
type Payload = Record<string, any>;

const url = process.env.PEER_DATABASE_URL;
const port = Number(process.env.PEER_PORT);
if (!url || !port) {
  process.stderr.write('PEER_DATABASE_URL and PEER_PORT are required\n');
  process.exit(2);
}
const pool = new pg.Pool({ connectionString: url, max: Number(process.env.PEER_POOL_MAX ?? 10) });

/** oidc-provider's adapter interface on one table; one statement per call, prepared by name. */
class PgAdapter {
  constructor(private readonly type: string) {}

  async upsert(id: string, payload: Payload, expiresIn: number | undefined): Promise<void> {
    await pool.query({
      name: 'peer_upsert',
      text: `INSERT INTO oidc_models (id, type, payload, grant_id, user_code, uid, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (id, type) DO UPDATE SET payload = EXCLUDED.payload, grant_id = EXCLUDED.grant_id,
               user_code = EXCLUDED.user_code, uid = EXCLUDED.uid, expires_at = EXCLUDED.expires_at`,
      values: [
        id,
        this.type,
        payload,
        payload.grantId ?? null,
        payload.userCode ?? null,
        payload.uid ?? null,
        typeof expiresIn === 'number' ? new Date(Date.now() + expiresIn * 1000) : null,
      ],
    });
  }

  private async findBy(column: 'id' | 'user_code' | 'uid', value: string): Promise<Payload | undefined> {
    const { rows } = await pool.query<{ payload: Payload; consumed_at: Date | null }>({
      name: `peer_find_${column}`,
      text: `SELECT payload, consumed_at FROM oidc_models
              WHERE ${column} = $1 AND type = $2 AND (expires_at IS NULL OR expires_at > now())`,
      values: [value, this.type],
    });
    const row = rows[0];
    if (!row) return undefined;
    return row.consumed_at ? { ...row.payload, consumed: Math.floor(row.consumed_at.getTime() / 1000) } : row.payload;
  }

  find(id: string) {
    return this.findBy('id', id);
  }

  findByUserCode(userCode: string) {
    return this.findBy('user_code', userCode);
  }

  findByUid(uid: string) {
    return this.findBy('uid', uid);
  }

  async consume(id: string): Promise<void> {
    await pool.query({ name: 'peer_consume', text: 'UPDATE oidc_models SET consumed_at = now() WHERE id = $1 AND type = $2', values: [id, this.type] });
  }

  async destroy(id: string): Promise<void> {
    await pool.query({ name: 'peer_destroy', text: 'DELETE FROM oidc_models WHERE id = $1 AND type = $2', values: [id, this.type] });
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    await pool.query({ name: 'peer_revoke', text: 'DELETE FROM oidc_models WHERE grant_id = $1', values: [grantId] });
  }
}

async function main(): Promise<void> {
  // A specifier in a variable: TypeScript leaves import() alone and Node loads the ESM package.
  const specifier = 'oidc-provider';
  const { default: Provider } = (await import(specifier)) as { default: any };

  const clientId = 'bench-peer';
  const clientSecret = randomBytes(32).toString('base64url');
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'bench', use: 'sig', alg: 'ES256' };
  const issuer = `http://127.0.0.1:${port}`;

  const provider = new Provider(issuer, {
    adapter: PgAdapter,
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: ['https://pitangui.amazon.com/api/skill/link/MBENCHPEER'],
        token_endpoint_auth_method: 'client_secret_basic',
        id_token_signed_response_alg: 'ES256',
      },
    ],
    async findAccount(_ctx: unknown, id: string) {
      const { rows } = await pool.query({ name: 'peer_account', text: 'SELECT id FROM users WHERE id = $1 AND disabled_at IS NULL', values: [id] });
      if (!rows[0]) return undefined;
      return { accountId: id, claims: async () => ({ sub: id }) };
    },
    scopes: ['openid', 'offline_access', 'read', 'write'],
    features: {
      devInteractions: { enabled: false },
      introspection: { enabled: true, allowedPolicy: async () => true },
      revocation: { enabled: true, allowedPolicy: async () => true },
    },
    rotateRefreshToken: false, // Alexa's default policy: the same refresh token keeps working
    ttl: {
      AccessToken: 3600,
      AuthorizationCode: 60,
      Grant: 365 * 24 * 3600,
      RefreshToken: 365 * 24 * 3600,
      Interaction: 3600,
      Session: 24 * 3600,
      IdToken: 3600,
    },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    jwks: { keys: [jwk] },
  });
  provider.on('server_error', (_ctx: unknown, err: Error) => process.stderr.write(`peer server_error: ${err.stack ?? err.message}\n`));

  // Mint what the load needs through the provider's own models (as its authorization_code grant
  // would): one grant and one refresh token per account, and access tokens under those grants.
  const refreshCount = Number(process.env.PEER_REFRESH_TOKENS ?? 2000);
  const accessCount = Number(process.env.PEER_ACCESS_TOKENS ?? 5000);
  const client = await provider.Client.find(clientId);
  const grantIds: string[] = new Array(refreshCount);
  const refreshTokens: string[] = new Array(refreshCount);
  const accessTokens: string[] = new Array(accessCount);
  const inBatches = async (n: number, fn: (i: number) => Promise<void>) => {
    for (let i = 0; i < n; i += 20) {
      await Promise.all(Array.from({ length: Math.min(20, n - i) }, (_, j) => fn(i + j)));
    }
  };
  await inBatches(refreshCount, async (i) => {
    const accountId = String(1 + i);
    const grant = new provider.Grant({ accountId, clientId });
    grant.addOIDCScope('read write');
    grantIds[i] = await grant.save();
    const rt = new provider.RefreshToken({ accountId, client, grantId: grantIds[i], scope: 'read write', gty: 'authorization_code' });
    refreshTokens[i] = await rt.save();
  });
  await inBatches(accessCount, async (i) => {
    const k = i % refreshCount;
    const at = new provider.AccessToken({ accountId: String(1 + k), client, grantId: grantIds[k], scope: 'read write', gty: 'authorization_code' });
    accessTokens[i] = await at.save();
  });

  await serveChild(createServer(provider.callback()), port, pool, { clientId, clientSecret, refreshTokens, accessTokens });
}

main().catch((err) => {
  process.stderr.write(`peer failed: ${(err as { error_description?: string }).error_description ?? ''} ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
