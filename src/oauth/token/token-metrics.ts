import { AppError, isDatabaseUnavailable, OAuthError } from '../../lib/errors';
import { Metrics } from '../../metrics/metrics';

/** Which token endpoint answered: ours (/oauth/token) or a bridge's (/bridge/<name>/token; the name is never a label). */
export type TokenEndpointLabel = 'oauth' | 'bridge';

/** The RFC 6749 §5.2 code answered (5xx as server_error or temporarily_unavailable) and the refusing rule. */
export function outcomeOf(err: unknown): { outcome: string; reason: string } {
  if (err instanceof AppError && err.status < 500) {
    return { outcome: err.code, reason: (err instanceof OAuthError && err.reason) || 'none' };
  }
  const unavailable = (err instanceof AppError && err.status === 503) || isDatabaseUnavailable(err);
  return { outcome: unavailable ? 'temporarily_unavailable' : 'server_error', reason: 'none' };
}

/**
 * Counts one token request in memory: the answer by grant type and outcome (with the refusing
 * rule of an invalid_grant), the time against Alexa's 4.5 s budget, and the refreshes that unlink
 * a user. `grantType` is read at the end: the body is parsed inside `work`.
 */
export async function measureTokenRequest<T>(metrics: Metrics, endpoint: TokenEndpointLabel, grantType: () => string, work: () => Promise<T>): Promise<T> {
  const started = process.hrtime.bigint();
  try {
    const out = await work();
    metrics.token.requests.inc({ endpoint, grant_type: grantType(), outcome: 'issued', reason: 'none' });
    return out;
  } catch (err) {
    const { outcome, reason } = outcomeOf(err);
    metrics.token.requests.inc({ endpoint, grant_type: grantType(), outcome, reason });
    if (grantType() === 'refresh_token' && outcome === 'invalid_grant') metrics.token.refreshUnlinked.inc({ endpoint, reason });
    throw err;
  } finally {
    metrics.token.duration.observe({ endpoint, grant_type: grantType() }, Number(process.hrtime.bigint() - started) / 1e9);
  }
}
