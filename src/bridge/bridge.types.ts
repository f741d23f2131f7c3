/** Bridge mode's types (issue 15): a bridge's configuration and one user's bridged link. */

/** The answer fields we read from the upstream, and where each is (a dot path such as data.accessToken). */
export const ANSWER_FIELDS = ['access_token', 'refresh_token', 'expires_in', 'token_type'] as const;
export type AnswerField = (typeof ANSWER_FIELDS)[number];
export type FieldPaths = Record<AnswerField, string>;

export const DEFAULT_FIELDS: FieldPaths = { access_token: 'access_token', refresh_token: 'refresh_token', expires_in: 'expires_in', token_type: 'token_type' };

/** One Alexa-facing scope and the upstream scopes it stands for. */
export interface ScopeMapping {
  alexa: string;
  upstream: string[];
}

export interface Bridge {
  id: number;
  name: string;
  /** Our oauth_clients row Alexa authenticates as. */
  clientId: number;
  vendorId: string;
  baseUrl: string;
  authorizeUrl: string;
  tokenUrl: string;
  revocationUrl: string | null;
  upstreamClientId: string;
  /** Sealed with AAD `bridge:<id>:client_secret`; null for a public upstream client. */
  upstreamClientSecretSealed: string | null;
  tokenAuth: 'basic' | 'body';
  tokenBody: 'form' | 'json';
  fields: FieldPaths;
  expiresInDefault: number;
  scopes: ScopeMapping[];
  scopeSeparator: string;
  authorizeParams: Record<string, string>;
  tokenParams: Record<string, string>;
  pkce: boolean;
  stateEcho: boolean;
  implicit: boolean;
  /** The upstream offers only the implicit grant: its access token comes back in our callback's fragment (no refresh). */
  upstreamImplicit: boolean;
  allowHttp: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export type BridgeFields = Omit<Bridge, 'id' | 'createdAt' | 'updatedAt'>;

/** Alexa's request, validated, kept on the server while the user is at the upstream. */
export interface BridgeRequest {
  responseType: 'code' | 'token';
  redirectUri: string;
  state: string | undefined;
  scope: string[];
  codeChallenge: string | undefined;
}

export interface BridgeLink {
  id: number;
  bridgeId: number;
  grantId: number;
  userId: number;
  scope: string[];
  accessTokenSealed: string;
  accessExpiresAt: Date;
  refreshTokenSealed: string | null;
  hasHandle: boolean;
  lastRefreshedAt: Date | null;
  leaseId: string | null;
  leaseUntil: Date | null;
  endedAt: Date | null;
  endedReason: string | null;
  /** The grant's revocation and the user's disabling, as of loading: either ends the link. */
  grantRevokedAt: Date | null;
  userDisabledAt: Date | null;
}

/** A link that ended on the upstream's side, as the Connected apps page shows it. */
export interface EndedBridgeLink {
  linkId: number;
  clientName: string;
  upstreamHost: string;
  endedAt: Date;
  reason: string;
}

export const isLive = (l: Pick<BridgeLink, 'endedAt' | 'grantRevokedAt' | 'userDisabledAt'>): boolean => !l.endedAt && !l.grantRevokedAt && !l.userDisabledAt;

export const BRIDGE_PREFIX = { code: 'lb_bac_', handle: 'lb_brt_', transaction: 'lb_btx_' } as const;
