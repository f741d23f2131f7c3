import { Knex } from 'knex';
import { Config } from '../config/config';
import { Services } from '../services';

export interface CliContext {
  config: Config;
  knex: Knex;
  services: Services;
  json: boolean;
  out: (human: string, json?: unknown) => void;
  /** A password from --password-stdin, --password, LINKBRIDGE_PASSWORD or (with prompt) the terminal. */
  readPassword(values: Record<string, unknown>, opts: { prompt: boolean; confirm?: boolean }): Promise<string | undefined>;
  /** Standard input as text (a secret piped in: never on the command line), at most 64 kB. */
  readStdin: () => Promise<string>;
  /** A secret from --*-stdin: the first line of standard input, or a prompt that does not echo in a terminal. */
  readSecret(prompt: string): Promise<string>;
}

export interface OptionSpec {
  type: 'string' | 'boolean';
  multiple?: boolean;
}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  options: Record<string, OptionSpec>;
  /** Commands that need no migrated database (db:status) say so. */
  migrate?: boolean;
  run(ctx: CliContext, args: { values: Record<string, unknown>; positionals: string[] }): Promise<void>;
}

export class UsageError extends Error {}

export function requireString(values: Record<string, unknown>, name: string): string {
  const v = values[name];
  if (typeof v !== 'string' || v.trim() === '') throw new UsageError(`--${name} is required`);
  return v;
}

/** What a command that opens the database only when it needs to gets (alexa:doctor). */
export interface LazyCliContext {
  env: NodeJS.ProcessEnv;
  json: boolean;
  out: (human: string, json?: unknown) => void;
  /** Loads the configuration and opens the database on the first call; runCli closes it. */
  open(): Promise<{ config: Config; services: Services }>;
}

/**
 * A command that needs no database for most of its work, and chooses its own exit code (a
 * diagnosis that finds a problem exits 1 without being an error of the command).
 */
export interface LazyCommand {
  name: string;
  summary: string;
  usage: string;
  options: Record<string, OptionSpec>;
  lazy: true;
  run(ctx: LazyCliContext, args: { values: Record<string, unknown>; positionals: string[] }): Promise<number>;
}

export type AnyCommand = Command | LazyCommand;
