import { PassThrough } from 'node:stream';
import { runCli } from '../../src/cli';
import { PasswordInput } from '../../src/cli/password-input';
import { TEST_ENCRYPTION_KEY, TEST_SESSION_SECRET, testDatabaseUrl } from './context';

/**
 * Runs the CLI in-process against the test database; returns exit code and output. Standard
 * input is `stdin` (a string, written and closed: empty by default) or a stream such as a fake
 * terminal.
 */
export async function cli(args: string[], env: Record<string, string> = {}, opts: { stdin?: string | PasswordInput } = {}) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d) => (out += d));
  stderr.on('data', (d) => (err += d));
  let stdin: PasswordInput;
  if (typeof opts.stdin === 'object') stdin = opts.stdin;
  else {
    const pipe = new PassThrough();
    pipe.end(opts.stdin ?? '');
    stdin = pipe;
  }
  const code = await runCli(
    args,
    { NODE_ENV: 'test', LOG_LEVEL: 'silent', DATABASE_URL: testDatabaseUrl(), SESSION_SECRET: TEST_SESSION_SECRET, ENCRYPTION_KEYS: TEST_ENCRYPTION_KEY, ...env },
    { stdout, stderr, stdin },
  );
  return { code, stdout: out, stderr: err, json: () => JSON.parse(out) };
}

/** A terminal for the CLI's prompt: raw mode is recorded, and typing is fed as the prompts appear. */
export class FakeTerminal extends PassThrough {
  readonly isTTY = true;
  rawModes: boolean[] = [];
  setRawMode(mode: boolean): this {
    this.rawModes.push(mode);
    return this;
  }
}
