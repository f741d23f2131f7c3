/**
 * The one error hierarchy. `message` is public text shown to the caller; `cause` is private
 * detail that is only logged. Anything that is not an AppError is unexpected: the error handler
 * answers it with a generic 500/503 and logs it.
 */
export class AppError extends Error {
  constructor(
    readonly status: number,
    /** A machine-readable code; for OAuth and API errors it is the RFC error code. */
    readonly code: string,
    message: string,
    options?: { cause?: unknown; headers?: Record<string, string> },
  ) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = new.target.name;
    this.headers = options?.headers ?? {};
  }
  readonly headers: Record<string, string>;
}

export class BadRequestError extends AppError {
  constructor(message = 'The request is not valid.', code = 'invalid_request') {
    super(400, code, message);
  }
}

export class ValidationError extends AppError {
  constructor(
    message: string,
    readonly fields: Record<string, string> = {},
  ) {
    super(400, 'invalid_request', message);
  }
}

export class ForbiddenError extends AppError {
  constructor(message = 'You are not allowed to do that.', code = 'forbidden') {
    super(403, code, message);
  }
}

export class NotFoundError extends AppError {
  constructor(message = 'Not found.', code = 'not_found') {
    super(404, code, message);
  }
}

export class TooManyRequestsError extends AppError {
  constructor(message: string, retryAfterSeconds?: number) {
    super(429, 'too_many_requests', message, {
      headers: retryAfterSeconds ? { 'Retry-After': String(Math.max(1, Math.ceil(retryAfterSeconds))) } : {},
    });
  }
}

export class ServiceUnavailableError extends AppError {
  constructor(message = 'The service is temporarily unavailable. Please try again shortly.', cause?: unknown) {
    super(503, 'temporarily_unavailable', message, { cause, headers: { 'Retry-After': '5' } });
  }
}

/**
 * An OAuth 2.0 error (RFC 6749 §4.1.2.1, §5.2; RFC 6750 §3.1). `code` is the RFC error code,
 * `message` the error_description.
 */
export class OAuthError extends AppError {
  /**
   * Private: which grant rule refused (a rule's name, or "unknown token"), for the metrics and the
   * link timeline. Never sent to the client.
   */
  reason?: string;

  constructor(status: number, code: string, description: string, headers?: Record<string, string>) {
    super(status, code, description, { headers });
  }
}

/** Tags an error with the rule that refused (OAuthError.reason) and returns it. */
export function refusedBy<E extends OAuthError>(error: E, reason: string): E {
  error.reason = reason;
  return error;
}

export const oauthErrors = {
  invalidRequest: (d: string) => new OAuthError(400, 'invalid_request', d),
  invalidClient: (d = 'Client authentication failed.') =>
    new OAuthError(401, 'invalid_client', d, { 'WWW-Authenticate': 'Basic realm="oauth", charset="UTF-8"' }),
  invalidGrant: (d: string) => new OAuthError(400, 'invalid_grant', d),
  unauthorizedClient: (d: string) => new OAuthError(400, 'unauthorized_client', d),
  unsupportedGrantType: (d: string) => new OAuthError(400, 'unsupported_grant_type', d),
  unsupportedResponseType: (d: string) => new OAuthError(400, 'unsupported_response_type', d),
  invalidScope: (d: string) => new OAuthError(400, 'invalid_scope', d),
  accessDenied: (d: string) => new OAuthError(403, 'access_denied', d),
  serverError: () => new OAuthError(500, 'server_error', 'The server could not complete the request.'),
};

/** Errors that mean the database cannot be reached right now: answered 503, never 500. */
export function isDatabaseUnavailable(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const e = err as { code?: unknown; name?: unknown; message?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', '57P01', '57P02', '57P03', '53300'].includes(code)) return true;
  if (code.startsWith('08')) return true;
  if (e.name === 'KnexTimeoutError') return true;
  const message = typeof e.message === 'string' ? e.message : '';
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|connection is closed|Timeout acquiring a connection/i.test(message);
}
