/**
 * The OAuth domain's types: what a client, a grant (a user's link with a client), a code and a
 * token are, whichever layer holds them. Repositories return these; services and routes take them.
 */

export type RefreshRotation = 'off' | 'rotate';

export interface OAuthClient {
  id: number;
  clientId: string;
  /** SHA-256 of the secret; null for a public client. */
  secretHash: string | null;
  previousSecretHash: string | null;
  previousSecretExpiresAt: Date | null;
  name: string;
  redirectUris: string[];
  grants: string[];
  scopes: string[];
  requirePkce: boolean;
  allowImplicit: boolean;
  refreshRotation: RefreshRotation;
  accessTokenTtl: number | null;
  refreshTokenTtl: number | null;
  alexaVendorId: string | null;
  /** May introspect other clients' access tokens (RFC 7662); never a public client. */
  isResourceServer: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export type ClientFields = Omit<OAuthClient, 'id' | 'createdAt' | 'updatedAt' | 'previousSecretHash' | 'previousSecretExpiresAt'>;

export const isPublicClient = (client: OAuthClient): boolean => client.secretHash === null;

/**
 * The only grant of a bridge's Alexa-facing client (issue 15): it gets tokens at its bridge's
 * /bridge/<name>/... endpoints and nowhere else, so /oauth/authorize and /oauth/token refuse it
 * (unauthorized_client: RFC 6749 §4.1.2.1, §5.2) instead of issuing our own tokens to it.
 */
export const BRIDGE_GRANT = 'bridge';
export const isBridgeClient = (client: Pick<OAuthClient, 'grants'>): boolean => client.grants.includes(BRIDGE_GRANT);

/** One user's link with one client. Revoking it revokes everything issued under it. */
export interface Grant {
  id: number;
  userId: number;
  clientId: number;
  scope: string[];
  alexaUserId: string | null;
  alexaLinkedAt: Date | null;
  createdAt: Date;
  revokedAt: Date | null;
}

/** A live grant as the user's Connected apps page shows it. */
export interface Connection {
  grantId: number;
  clientName: string;
  scope: string[];
  createdAt: Date;
  alexaLinkedAt: Date | null;
}

/** An authorization code row, with the liveness of its grant and user. */
export interface AuthorizationCode {
  id: number;
  grantId: number;
  clientId: number;
  userId: number;
  redirectUri: string;
  redirectUriInRequest: boolean;
  scope: string[];
  codeChallenge: string | null;
  codeChallengeMethod: string | null;
  expiresAt: Date;
  consumedAt: Date | null;
  grantRevokedAt: Date | null;
  userDisabledAt: Date | null;
}

/** A refresh token row, with the liveness of its grant and user. */
export interface RefreshToken {
  id: number;
  grantId: number;
  clientId: number;
  userId: number;
  authorizationCodeId: number | null;
  scope: string[];
  expiresAt: Date | null;
  rotatedAt: Date | null;
  /** The successor issued when it was rotated. */
  replacedById: number | null;
  revokedAt: Date | null;
  grantRevokedAt: Date | null;
  userDisabledAt: Date | null;
}

/** What a valid access token tells the API about the caller. */
export interface AccessTokenInfo {
  tokenId: number;
  grantId: number;
  userId: number;
  clientId: string;
  /** Shared between the cached tokens with the same scope: never modify it. */
  scope: readonly string[];
  /** Epoch milliseconds (a number, not a Date: this object is what the token cache keeps). */
  expiresAtMs: number;
  /** The user the token acts for, as of validation (disabling them revokes the token). */
  user: { id: number; email: string; name: string };
}

/** What a grant handler hands back to the token endpoint (RFC 6749 §5.1). */
export interface IssuedTokens {
  accessToken: string;
  accessTokenExpiresAt: Date;
  /** Whole seconds the access token lives: the response's expires_in. */
  expiresIn: number;
  refreshToken?: string;
  refreshTokenExpiresAt?: Date | null;
  scope: string[];
  userId: number;
  grantId: number;
}

/** A validated authorization request waiting for the user's decision (kept on the server). */
export interface PendingAuthorization {
  responseType: 'code' | 'token';
  /** How the answer goes back (OAuth 2.0 Multiple Response Types §2); absent in older stored requests. */
  responseMode?: 'query' | 'fragment';
  redirectUri: string;
  redirectUriInRequest: boolean;
  scope: string[];
  state: string | undefined;
  codeChallenge: string | undefined;
  codeChallengeMethod: 'S256' | undefined;
}
