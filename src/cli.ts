#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { accountCommands } from './cli/account.commands';
import { bridgeCommands } from './cli/bridge.commands';
import { clientCommands } from './cli/client.commands';
import { AnyCommand, LazyCommand, UsageError } from './cli/command';
import { dbCommands } from './cli/db.commands';
import { doctorCommands } from './cli/doctor.commands';
import { linkCommands } from './cli/link.commands';
import { mailCommands } from './cli/mail.commands';
import { idpCommands } from './cli/idp.commands';
import { seedCommands } from './cli/seed.commands';
import { userCommands } from './cli/user.commands';
import { ConfigError, loadConfig } from './config/config';
import { withDevSecrets } from './config/dev-secrets';
import { openDatabase } from './db/database';
import { DataDirLockedError } from './db/embedded';
import { PASSWORD_ENV, PasswordInput, promptHidden, readFirstLine, readPassword } from './cli/password-input';
import { DataDirOwnerError } from './lib/private-fs';
import { AppError } from './lib/errors';
import { setLogLevel } from './lib/logger';
import { createServices } from './services';

/**
 * The command line: `npm run cli -- <command> [options]`. With DATABASE_URL it connects to that
 * server; without, it reaches a running server's embedded database through its Unix socket,
 * or opens the data folder itself when no server runs.
 */
export const commands: AnyCommand[] = [...userCommands, ...accountCommands, ...clientCommands, ...idpCommands, ...bridgeCommands, ...linkCommands, ...doctorCommands, ...dbCommands, ...seedCommands, ...mailCommands];

function help(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'Usage: npm run cli -- <command> [options]   (add --json for machine-readable output)',
    '',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Run "npm run cli -- <command> --help" for its options.',
  ].join('\n');
}

export interface CliIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  /** Where passwords come from (--password-stdin, the prompt); standard input by default. */
  stdin?: PasswordInput;
}

const MAX_STDIN = 64 * 1024;

/** All of standard input as text (a secret piped in), at most 64 kB. */
function readAll(stream: PasswordInput): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const done = (err?: Error) => {
      stream.removeListener('data', onData);
      stream.removeListener('end', onEnd);
      stream.removeListener('error', onError);
      if (err) reject(err);
      else resolve(text);
    };
    const onData = (chunk: Buffer | string) => {
      text += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
      if (text.length > MAX_STDIN) done(new UsageError('Standard input is too long.'));
    };
    const onEnd = () => done();
    const onError = (err: Error) => done(err);
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
    stream.resume();
  });
}

export async function runCli(argv: string[], env: NodeJS.ProcessEnv, io: CliIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const stdin = io.stdin ?? process.stdin;
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === 'help') {
    io.stdout.write(`${help()}\n`);
    return name ? 0 : 2;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    io.stderr.write(`Unknown command "${name}".\n\n${help()}\n`);
    return 2;
  }
  let args;
  try {
    args = parseArgs({
      args: rest,
      options: { ...command.options, json: { type: 'boolean' }, help: { type: 'boolean' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    io.stderr.write(`${(err as Error).message}\nUsage: npm run cli -- ${command.usage}\n`);
    return 2;
  }
  if (args.values.help) {
    io.stdout.write(`Usage: npm run cli -- ${command.usage}\n${command.summary}\n`);
    return 0;
  }
  const json = args.values.json === true;
  const out = (human: string, data?: unknown) => io.stdout.write(`${json ? JSON.stringify(data ?? { message: human }) : human}\n`);
  if ('lazy' in command) return runLazy(command, { values: args.values as Record<string, unknown>, positionals: args.positionals }, env, io, json, out);

  let config;
  try {
    // The same development secrets as the server (the encryption key in particular).
    config = withDevSecrets(loadConfig({ ...env, LOG_LEVEL: env.LOG_LEVEL ?? 'warn' }));
  } catch (err) {
    if (err instanceof ConfigError) {
      io.stderr.write(`${err.message}\n`);
      return 1;
    }
    throw err;
  }
  setLogLevel(config.logLevel);

  let db;
  try {
    db = await openDatabase(config, { mode: 'cli', migrate: command.migrate !== false });
  } catch (err) {
    io.stderr.write(`${err instanceof DataDirLockedError || err instanceof DataDirOwnerError ? err.message : `Cannot open the database: ${(err as Error).message}`}\n`);
    return 1;
  }
  let services: ReturnType<typeof createServices> | undefined;
  try {
    services = createServices(config, db.knex);
    await command.run(
      {
        config,
        knex: db.knex,
        services,
        json,
        out,
        readPassword: (values, opts) => readPassword(values, { stdin, stderr: io.stderr, envPassword: env[PASSWORD_ENV] }, opts),
        readStdin: () => readAll(stdin),
        readSecret: (prompt) => (stdin.isTTY === true && typeof stdin.setRawMode === 'function' ? promptHidden({ stdin, stderr: io.stderr, envPassword: undefined }, prompt) : readFirstLine(stdin)),
      },
      { values: args.values as Record<string, unknown>, positionals: args.positionals },
    );
    await services.timeline.stop(); // whatever the command buffered is written before exit
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`${err.message}\nUsage: npm run cli -- ${command.usage}\n`);
      return 2;
    }
    if (err instanceof AppError && err.status < 500) {
      io.stderr.write(json ? `${JSON.stringify({ error: err.code, error_description: err.message })}\n` : `${err.message}\n`);
      return 1;
    }
    io.stderr.write(`Failed: ${(err as Error).message}\n`);
    return 1;
  } finally {
    if (services) {
      // A command that mailed someone (users:delete) lets the mail leave before the process ends.
      await Promise.race([services.mail.idle(), new Promise((r) => setTimeout(r, 15000).unref())]);
      services.mail.close();
    }
    await db.close();
  }
}

/** A command that opens the database only if it asks (alexa:doctor without --vendor-id needs none). */
async function runLazy(
  command: LazyCommand,
  args: { values: Record<string, unknown>; positionals: string[] },
  env: NodeJS.ProcessEnv,
  io: CliIo,
  json: boolean,
  out: (human: string, data?: unknown) => void,
): Promise<number> {
  let opened: Promise<{ config: ReturnType<typeof loadConfig>; services: ReturnType<typeof createServices>; close: () => Promise<void> }> | undefined;
  const open = () => {
    opened ??= (async () => {
      const config = withDevSecrets(loadConfig({ ...env, LOG_LEVEL: env.LOG_LEVEL ?? 'warn' }));
      setLogLevel(config.logLevel);
      const db = await openDatabase(config, { mode: 'cli', migrate: true }).catch((err: unknown) => {
        throw new Error(err instanceof DataDirLockedError || err instanceof DataDirOwnerError ? err.message : `Cannot open the database: ${(err as Error).message}`);
      });
      const services = createServices(config, db.knex);
      return {
        config,
        services,
        close: async () => {
          services.mail.close();
          await db.close();
        },
      };
    })();
    return opened;
  };
  try {
    return await command.run({ env, json, out, open }, args);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`${err.message}\nUsage: npm run cli -- ${command.usage}\n`);
      return 2;
    }
    io.stderr.write(err instanceof ConfigError || (err instanceof AppError && err.status < 500) ? `${err.message}\n` : `Failed: ${(err as Error).message}\n`);
    return 1;
  } finally {
    if (opened) await opened.then((o) => o.close(), () => undefined);
  }
}

export function cliMain(): void {
  runCli(process.argv.slice(2), process.env).then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`${(err as Error).message ?? err}\n`);
      process.exit(1);
    },
  );
}

if (require.main === module) cliMain();
