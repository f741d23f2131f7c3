import { readFileSync } from 'node:fs';
import { ValidationError } from '../lib/errors';
import { Command, requireString, UsageError } from './command';
import { PASSWORD_ENV, passwordOptions } from './password-input';

const usersCreate: Command = {
  name: 'users:create',
  summary: 'Create a user (argon2id password hash)',
  usage: `users:create --email E [--password-stdin] [--name N] [--admin] [--json]   (the password: asked for in a terminal, else the first line of standard input with --password-stdin, or ${PASSWORD_ENV})`,
  options: { email: { type: 'string' }, ...passwordOptions, name: { type: 'string' }, admin: { type: 'boolean' } },
  async run(ctx, { values }) {
    const email = requireString(values, 'email');
    const password = await ctx.readPassword(values, { prompt: true, confirm: true });
    if (password === undefined) {
      throw new UsageError(`a password is needed: run in a terminal to be asked for it, or pipe it in with --password-stdin, or set ${PASSWORD_ENV}`);
    }
    const user = await ctx.services.auth.signUp({
      email,
      password,
      name: values.name ?? '',
      isAdmin: values.admin === true,
    });
    ctx.out(`Created user ${user.id} <${user.email}>${user.isAdmin ? ' (admin)' : ''}`, { id: user.id, email: user.email, is_admin: user.isAdmin });
  },
};

const usersList: Command = {
  name: 'users:list',
  summary: 'List users',
  usage: 'users:list [--json]',
  options: {},
  async run(ctx) {
    const users = await ctx.services.accounts.list();
    const rows = users.map((u) => ({ id: u.id, email: u.email, name: u.name, is_admin: u.isAdmin, disabled: u.disabledAt !== null, created_at: u.createdAt.toISOString() }));
    ctx.out(
      rows.length
        ? rows.map((r) => `${String(r.id).padStart(5)}  ${r.email}${r.name ? ` (${r.name})` : ''}${r.is_admin ? '  [admin]' : ''}${r.disabled ? '  [disabled]' : ''}`).join('\n')
        : 'No users yet.',
      rows,
    );
  },
};

const usersDisable: Command = {
  name: 'users:disable',
  summary: "Disable a user (they can no longer sign in) and revoke all the user's app links",
  usage: 'users:disable --email E [--json]',
  options: { email: { type: 'string' } },
  async run(ctx, { values }) {
    const email = requireString(values, 'email');
    const user = await ctx.services.accounts.findByEmail(email);
    if (!user) throw new ValidationError(`No user with email ${email}`);
    const result = await ctx.services.accounts.disableUser(user.id);
    ctx.out(
      result.changed ? `Disabled ${user.email}; revoked ${result.revokedGrants} app link(s)` : `${user.email} was already disabled`,
      { id: user.id, email: user.email, disabled: true, revoked_grants: result.revokedGrants },
    );
  },
};

/** Reads a JSON array or a CSV file (header: email,name,password_hash[,is_admin]). */
export function parseImportFile(text: string, file: string): unknown[] {
  const trimmed = text.trim();
  if (file.toLowerCase().endsWith('.json') || trimmed.startsWith('[')) {
    let data: unknown;
    try {
      data = JSON.parse(trimmed);
    } catch {
      throw new ValidationError(`${file} is not valid JSON`);
    }
    if (!Array.isArray(data)) throw new ValidationError(`${file} must hold a JSON array of users`);
    return data;
  }
  const lines = trimmed.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length === 0) return [];
  const header = splitCsvLine(lines[0]).map((h) => h.trim().toLowerCase());
  if (!header.includes('email') || !header.includes('password_hash')) {
    throw new ValidationError(`${file}: the CSV header must name at least email and password_hash`);
  }
  return lines.slice(1).map((line) => {
    const cells = splitCsvLine(line);
    const rec: Record<string, unknown> = {};
    header.forEach((h, i) => {
      const v = (cells[i] ?? '').trim();
      if (h === 'is_admin') rec[h] = /^(true|1|yes)$/i.test(v);
      else if (v !== '' || h !== 'name') rec[h] = v;
    });
    return rec;
  });
}

function splitCsvLine(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

const usersImport: Command = {
  name: 'users:import',
  summary: 'Import users with bcrypt hashes from a JSON or CSV file (upgraded to argon2id at their next login)',
  usage: 'users:import <file.json|file.csv> [--skip-existing] [--json]',
  options: { 'skip-existing': { type: 'boolean' }, file: { type: 'string' } },
  async run(ctx, { values, positionals }) {
    const file = (values.file as string | undefined) ?? positionals[0];
    if (!file) throw new UsageError('give the file to import');
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      throw new ValidationError(`Cannot read ${file}`);
    }
    const result = await ctx.services.auth.importUsers(parseImportFile(text, file), { skipExisting: values['skip-existing'] === true });
    ctx.out(`Imported ${result.imported} user(s), skipped ${result.skipped} existing`, result);
  },
};

export const userCommands = [usersCreate, usersList, usersDisable, usersImport];
