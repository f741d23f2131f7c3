import { Knex } from 'knex';
import { Config } from '../config/config';
import { Services } from '../services';

export interface CliContext {
  config: Config;
  knex: Knex;
  services: Services;
  json: boolean;
  out: (human: string, json?: unknown) => void;
  /** A secret from standard input (all of it, without the final newline), or a prompt when interactive. */
  readSecret: (prompt: string) => Promise<string>;
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
