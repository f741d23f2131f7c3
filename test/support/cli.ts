import { PassThrough } from 'node:stream';
import { runCli } from '../../src/cli';
import { testDatabaseUrl } from './context';

/** Runs the CLI in-process against the test database; returns exit code and output. */
export async function cli(args: string[], env: Record<string, string> = {}) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d) => (out += d));
  stderr.on('data', (d) => (err += d));
  const code = await runCli(args, { NODE_ENV: 'test', LOG_LEVEL: 'silent', DATABASE_URL: testDatabaseUrl(), ...env }, { stdout, stderr });
  return { code, stdout: out, stderr: err, json: () => JSON.parse(out) };
}
