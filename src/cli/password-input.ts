import { StringDecoder } from 'node:string_decoder';
import { UsageError } from './command';

/**
 * Passwords for the CLI without putting them on the command line, where every local user sees
 * them (`ps`, /proc/<pid>/cmdline) and the shell keeps them in its history. In order:
 * `--password-stdin` (the first line of standard input), `--password` (still works, with a
 * warning), the LINKBRIDGE_PASSWORD environment variable, then, in a terminal, a prompt that
 * does not echo.
 */

export const PASSWORD_ENV = 'LINKBRIDGE_PASSWORD';

export const passwordOptions = {
  password: { type: 'string' },
  'password-stdin': { type: 'boolean' },
} as const;

export const PASSWORD_ON_COMMAND_LINE_WARNING =
  'Warning: --password shows the password to every user of this machine (ps) and leaves it in your shell history. ' +
  `Use the prompt, --password-stdin or ${PASSWORD_ENV} instead.\n`;

/** A password is at most 256 characters (passwordSchema); anything much longer is not one. */
const MAX_LINE = 4096;

export interface PasswordInput {
  on(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
  on(event: 'end' | 'close', listener: () => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  removeListener(event: string, listener: (...args: never[]) => void): unknown;
  pause(): unknown;
  resume(): unknown;
  isTTY?: boolean;
  setRawMode?(mode: boolean): unknown;
}

export interface PasswordSources {
  stdin: PasswordInput;
  stderr: { write(text: string): unknown };
  /** LINKBRIDGE_PASSWORD, read by the composition root. */
  envPassword: string | undefined;
}

export class PasswordCancelledError extends Error {
  constructor() {
    super('no password entered (cancelled)');
  }
}

export async function readPassword(
  values: Record<string, unknown>,
  sources: PasswordSources,
  opts: { prompt: boolean; confirm?: boolean },
): Promise<string | undefined> {
  const flag = values.password;
  const fromStdin = values['password-stdin'] === true;
  if (flag !== undefined && fromStdin) throw new UsageError('give the password one way: --password-stdin or --password, not both');
  if (fromStdin) {
    if (isTerminal(sources.stdin)) return promptHidden(sources, 'Password: ');
    return readFirstLine(sources.stdin);
  }
  if (typeof flag === 'string') {
    sources.stderr.write(PASSWORD_ON_COMMAND_LINE_WARNING);
    return flag;
  }
  if (sources.envPassword !== undefined && sources.envPassword !== '') return sources.envPassword;
  if (opts.prompt && isTerminal(sources.stdin)) {
    const password = await promptHidden(sources, 'Password: ');
    if (opts.confirm && (await promptHidden(sources, 'Repeat it: ')) !== password) throw new UsageError('the two passwords differ');
    return password;
  }
  return undefined;
}

const isTerminal = (s: PasswordInput) => s.isTTY === true && typeof s.setRawMode === 'function';

/** The first line of standard input, without its line ending; the rest is left unread. */
export function readFirstLine(stdin: PasswordInput): Promise<string> {
  return new Promise((resolve, reject) => {
    const decoder = new StringDecoder('utf8');
    let text = '';
    const cleanup = () => {
      stdin.removeListener('data', onData);
      stdin.removeListener('end', onEnd);
      stdin.removeListener('error', onError);
      stdin.pause();
    };
    const finish = (line: string) => {
      cleanup();
      line = line.replace(/\r$/, '');
      if (line === '') reject(new UsageError('--password-stdin: the first line of standard input is empty'));
      else resolve(line);
    };
    const onData = (chunk: Buffer | string) => {
      text += typeof chunk === 'string' ? chunk : decoder.write(chunk);
      const newline = text.indexOf('\n');
      if (newline >= 0) finish(text.slice(0, newline));
      else if (text.length > MAX_LINE) {
        cleanup();
        reject(new UsageError(`--password-stdin: the first line of standard input is longer than ${MAX_LINE} characters`));
      }
    };
    const onEnd = () => finish(text + decoder.end());
    const onError = (err: Error) => {
      cleanup();
      reject(new Error(`cannot read standard input: ${err.message}`));
    };
    stdin.on('data', onData);
    stdin.on('end', onEnd);
    stdin.on('error', onError);
    stdin.resume();
  });
}

/** Reads a line from the terminal in raw mode, echoing nothing. Ctrl-C or Ctrl-D cancels. */
export function promptHidden(sources: PasswordSources, prompt: string): Promise<string> {
  const { stdin, stderr } = sources;
  return new Promise((resolve, reject) => {
    const decoder = new StringDecoder('utf8');
    let chars: string[] = [];
    const done = (err: Error | undefined) => {
      stdin.removeListener('data', onData);
      stdin.removeListener('end', onEnd);
      stdin.setRawMode?.(false);
      stdin.pause();
      stderr.write('\n');
      if (err) reject(err);
      else resolve(chars.join(''));
    };
    const onData = (chunk: Buffer | string) => {
      const text = typeof chunk === 'string' ? chunk : decoder.write(chunk);
      for (const c of text) {
        if (c === '\r' || c === '\n') return done(chars.length ? undefined : new PasswordCancelledError());
        if (c === '\u0003' || (c === '\u0004' && chars.length === 0)) return done(new PasswordCancelledError());
        if (c === '\u0004') return done(undefined);
        if (c === '\u007f' || c === '\b') chars.pop();
        else if (c === '\u0015') chars = []; // Ctrl-U
        else if (c === '\u001b') break; // an escape sequence (arrow keys): drop the rest of it
        else if (c >= ' ') chars.push(c);
      }
      if (chars.length > MAX_LINE) done(new UsageError('the password is too long'));
    };
    const onEnd = () => done(new PasswordCancelledError());
    // Echo off before the prompt shows: whoever types as soon as they see it is never echoed.
    stdin.setRawMode?.(true);
    stderr.write(prompt);
    stdin.on('data', onData);
    stdin.on('end', onEnd);
    stdin.resume();
  });
}
