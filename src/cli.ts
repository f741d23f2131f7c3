#!/usr/bin/env node
import { createInterface } from 'node:readline';
import { Readable, Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { bridgeCommands } from './cli/bridge.commands';
import { clientCommands } from './cli/client.commands';
import { Command, UsageError } from './cli/command';
import { dbCommands } from './cli/db.commands';
import { seedCommands } from './cli/seed.commands';
import { userCommands } from './cli/user.commands';
import { ConfigError, loadConfig } from './config/config';
import { withDevSecrets } from './config/dev-secrets';
import { openDatabase } from './db/database';
import { DataDirLockedError } from './db/embedded';
import { AppError } from './lib/errors';
import { setLogLevel } from './lib/logger';
import { createServices } from './services';

/**
 * The command line: `npm run cli -- <command> [options]`. With DATABASE_URL it connects to that
 * server; without, it reaches a running server's embedded database through its loopback socket,
 * or opens the data folder itself when no server runs.
 */
export const commands: Command[] = [...userCommands, ...clientCommands, ...bridgeCommands, ...dbCommands, ...seedCommands];

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
  /** Where secrets are read from (--client-secret-stdin); process.stdin when not given. */
  stdin?: Readable & { isTTY?: boolean };
}

/**
 * Reads a secret: piped, all of standard input without its final newline (so it never appears in
 * argv or the shell history); interactive, one line after a prompt on stderr, not echoed.
 */
export async function readSecret(stdin: Readable & { isTTY?: boolean }, stderr: { write(text: string): unknown }, prompt: string): Promise<string> {
  if (stdin.isTTY) {
    stderr.write(prompt);
    const muted = new Writable({ write: (_chunk, _enc, done) => done() });
    const rl = createInterface({ input: stdin, output: muted, terminal: true });
    const line = await new Promise<string>((resolve) => rl.once('line', resolve));
    rl.close();
    stderr.write('\n');
    return line;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += b.length;
    if (size > 64 * 1024) throw new UsageError('The secret on standard input is too long.');
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

export async function runCli(argv: string[], env: NodeJS.ProcessEnv, io: CliIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
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
    io.stderr.write(`${err instanceof DataDirLockedError ? err.message : `Cannot open the database: ${(err as Error).message}`}\n`);
    return 1;
  }
  try {
    const services = createServices(config, db.knex);
    await command.run(
      {
        config,
        knex: db.knex,
        services,
        json,
        out: (human, data) => io.stdout.write(`${json ? JSON.stringify(data ?? { message: human }) : human}\n`),
        readSecret: (prompt) => readSecret(io.stdin ?? process.stdin, io.stderr, prompt),
      },
      { values: args.values as Record<string, unknown>, positionals: args.positionals },
    );
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
    await db.close();
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
