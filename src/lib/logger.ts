import pino from 'pino';

/**
 * The one module-level singleton. Redaction is a second line of defence: request logs carry only
 * method, path (never the query string) and status, and nothing logs bodies.
 */
export const REDACT_PATHS = [
  'password',
  '*.password',
  'client_secret',
  '*.client_secret',
  'clientSecret',
  '*.clientSecret',
  'secret',
  '*.secret',
  'token',
  '*.token',
  'access_token',
  '*.access_token',
  'refresh_token',
  '*.refresh_token',
  'code',
  '*.code_verifier',
  'authorization',
  '*.authorization',
  'cookie',
  '*.cookie',
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'sessionSecret',
  '*.sessionSecret',
  'databaseUrl',
  '*.databaseUrl',
  'smtpUrl',
  '*.smtpUrl',
];

/** `info` until the composition root (main.ts, cli.ts, the tests' context) applies the configured level. */
export const logger = pino({
  level: 'info',
  redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  base: { pid: process.pid },
});

export function setLogLevel(level: string): void {
  logger.level = level;
}
