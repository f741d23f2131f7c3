import pino from 'pino';
import { LogOutput } from './log-output';

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

const output = new LogOutput();

/** `info` until the composition root (main.ts, cli.ts, the tests' context) applies the configured level. */
export const logger = pino(
  {
    level: 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { pid: process.pid },
  },
  output,
);

export function setLogLevel(level: string): void {
  logger.level = level;
}

/** The server's log output: lines leave in batches, flushed on exit (see LogOutput); the CLI stays synchronous. */
export function bufferLogOutput(): void {
  output.buffer();
}

/** Writes what is buffered now (before a direct write to stdout that should come after it). */
export function flushLogOutput(): void {
  output.flushSync();
}

const LEVEL_INFO = pino.levels.values.info;
const LEVEL_ERROR = pino.levels.values.error;
const PID = process.pid;

export interface RequestLine {
  /** [A-Za-z0-9._-] only (request-logger checks an incoming id; ours are UUIDs). */
  id: string;
  method: string;
  path: string;
  status: number;
  ms: number;
  aborted: boolean;
}

/**
 * One request's line, in pino's format and pino-http's shape (req.id, req.method, req.path,
 * res.statusCode, responseTime in ms). Serialized here rather than by pino: every field is ours
 * and none can hold a secret (no query string, no headers), and pino's redaction pass cost ~15 µs
 * a line, more than the rest of a cached bearer request's logging together.
 */
export function logRequest(line: RequestLine): void {
  const level = line.status >= 500 ? LEVEL_ERROR : LEVEL_INFO;
  if (level < logger.levelVal) return;
  // The method comes from Node's HTTP parser (a token: no quote or backslash); the path is escaped.
  output.write(
    `{"level":${level},"time":${Date.now()},"pid":${PID},"req":{"id":"${line.id}","method":"${line.method}","path":${JSON.stringify(line.path)}},` +
      `"res":{"statusCode":${line.status}},"responseTime":${line.ms},"msg":"${line.aborted ? 'request aborted' : 'request completed'}"}\n`,
  );
}
