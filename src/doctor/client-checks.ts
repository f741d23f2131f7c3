import { alexaRedirectUris } from '../oauth/clients/redirect-uris';
import { OAuthClient } from '../oauth/domain';
import { Check, fail, pass, warn } from './checks';

/** Alexa's floor for access token lifetimes (alexa.md). */
export const ALEXA_MIN_ACCESS_TOKEN_TTL = 360;
/** Under rotation, a grace window shorter than this makes an ordinary retry unlink the user (our reading). */
export const MIN_SAFE_GRACE_SECONDS = 60;

export interface TokenDefaults {
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
  refreshGraceSeconds: number;
}

const REGIONS = ['North America (pitangui)', 'Europe (layla)', 'Far East (alexa.amazon.co.jp)'];

/** What the Alexa client's configuration must be for linking to work and last (--vendor-id). */
export function alexaClientChecks(vendorId: string, baseUrl: string, client: OAuthClient | undefined, defaults: TokenDefaults): Check[] {
  const setup = `npm run cli -- alexa:setup --vendor-id ${vendorId} --base-url ${baseUrl}`;
  if (!client) {
    return [fail('alexa-client', `no Alexa client is registered for vendor ${vendorId} in this database`, `${setup} (or point DATABASE_URL at the server's database)`)];
  }
  const checks: Check[] = [];
  const update = `npm run cli -- clients:update --client-id ${client.clientId}`;
  if (client.secretHash === null) {
    checks.push(fail('alexa-client', `the client ${client.clientId} ("${client.name}") is public: Alexa authenticates with a secret`, `delete it (clients:delete --client-id ${client.clientId}) and run ${setup}`));
  } else if (!client.grants.includes('authorization_code') || !client.grants.includes('refresh_token')) {
    checks.push(fail('alexa-client', `the client ${client.clientId} may not use ${['authorization_code', 'refresh_token'].filter((g) => !client.grants.includes(g)).join(' and ')}`, `${setup} recreates a client with both grants`));
  } else {
    checks.push(pass('alexa-client', `client ${client.clientId} ("${client.name}") for vendor ${vendorId}`));
  }

  const wanted = alexaRedirectUris(vendorId);
  const missing = wanted.map((uri, i) => ({ uri, region: REGIONS[i] })).filter(({ uri }) => !client.redirectUris.includes(uri));
  checks.push(
    missing.length === 0
      ? pass('alexa-redirect-uris', 'all three regional Alexa Redirect URLs are registered')
      : fail(
          'alexa-redirect-uris',
          `missing ${missing.map((m) => `${m.uri} (${m.region})`).join(', ')}: Alexa picks the region from the user's account, and users of that region cannot link`,
          `${setup} (adds the missing URLs, keeps the client, its secret and its linked users)`,
        ),
  );

  const accessTtl = client.accessTokenTtl ?? defaults.accessTokenTtlSeconds;
  const source = client.accessTokenTtl === null ? ' (ACCESS_TOKEN_TTL_SECONDS)' : ' (the client\'s own setting)';
  checks.push(
    accessTtl >= ALEXA_MIN_ACCESS_TOKEN_TTL
      ? pass('alexa-access-token-lifetime', `access tokens live ${accessTtl} s${source}`)
      : fail('alexa-access-token-lifetime', `access tokens live ${accessTtl} s${source}; Alexa needs at least ${ALEXA_MIN_ACCESS_TOKEN_TTL} s`, `${update} --access-token-ttl 3600`),
  );

  const refreshTtl = client.refreshTokenTtl ?? defaults.refreshTokenTtlSeconds;
  if (refreshTtl > 0) {
    checks.push(
      fail(
        'alexa-refresh-policy',
        `refresh tokens expire ${refreshTtl} s after they are issued${client.refreshTokenTtl === null ? ' (REFRESH_TOKEN_TTL_SECONDS)' : ''}: Alexa then gets invalid_grant and unlinks the user`,
        client.refreshTokenTtl === null ? 'REFRESH_TOKEN_TTL_SECONDS=0 (never expire until revoked)' : `${update} --refresh-token-ttl 0`,
      ),
    );
  } else if (client.refreshRotation === 'rotate' && defaults.refreshGraceSeconds < MIN_SAFE_GRACE_SECONDS) {
    checks.push(
      fail(
        'alexa-refresh-policy',
        `refresh tokens rotate with a grace window of ${defaults.refreshGraceSeconds} s: a retried or concurrent refresh after it unlinks the user`,
        `${update} --rotation off (what alexa:setup creates), or REFRESH_GRACE_SECONDS=300`,
      ),
    );
  } else if (client.refreshRotation === 'rotate') {
    checks.push(
      warn(
        'alexa-refresh-policy',
        `refresh tokens rotate, with a grace window of ${defaults.refreshGraceSeconds} s: a retry with an old token after that window unlinks the user`,
        `${update} --rotation off keeps users linked whatever Alexa retries (what Amazon's sample does)`,
      ),
    );
  } else {
    checks.push(pass('alexa-refresh-policy', 'refresh tokens never expire and are not rotated: a refresh never unlinks a user'));
  }
  return checks;
}
