import { PassThrough, Readable } from 'node:stream';
import { runCli } from '../../src/cli';
import { TEST_ENCRYPTION_KEY, TEST_SESSION_SECRET, testDatabaseUrl } from './context';

/** Runs the CLI in-process against the test database; returns exit code and output. */
export async function cli(args: string[], env: Record<string, string> = {}, stdin?: string) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d) => (out += d));
  stderr.on('data', (d) => (err += d));
  const code = await runCli(args, { NODE_ENV: 'test', LOG_LEVEL: 'silent', DATABASE_URL: testDatabaseUrl(), SESSION_SECRET: TEST_SESSION_SECRET, ENCRYPTION_KEYS: TEST_ENCRYPTION_KEY, ...env }, { stdout, stderr, stdin: Readable.from(stdin === undefined ? [] : [stdin]) });
  return { code, stdout: out, stderr: err, json: () => JSON.parse(out) };
}
