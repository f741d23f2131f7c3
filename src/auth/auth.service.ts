import { Knex } from 'knex';
import { z } from 'zod';
import { sha256 } from '../lib/crypto';
import { parseInput } from '../lib/validation';
import { AppError, TooManyRequestsError, ValidationError } from '../lib/errors';
import { DeviceCookies } from './device-cookie';
import { canonicalEmail } from './email';
import { isBcryptHash, PasswordHasher } from './password-hasher';
import { ThrottleRepository } from './throttle.repository';
import { isUniqueViolation, User, UserRepository } from './user.repository';

export const emailSchema = z.string().trim().max(254, 'Email is too long.').pipe(z.email('Enter a valid email address.'));
export const passwordSchema = z
  .string()
  .min(8, 'Use at least 8 characters for your password.')
  .max(256, 'Use at most 256 characters for your password.');
export const nameSchema = z.string().trim().max(100, 'Name is too long.');

export const signUpSchema = z.object({ email: emailSchema, name: nameSchema.default(''), password: passwordSchema });

export const INVALID_LOGIN = 'Incorrect email or password.';

/**
 * A failed sign-in re-renders the form with a message: that is not an HTTP authentication
 * challenge, so it is 400, not 401 (RFC 9110 §15.5.2: a 401 must carry WWW-Authenticate, and the
 * browser would then ask for credentials of a scheme we do not use).
 */
export class LoginFailedError extends AppError {
  constructor(message = INVALID_LOGIN) {
    super(400, 'invalid_login', message);
  }
}

/** Sign-up with an address that already has an account (the account flows answer it their own way). */
export class EmailTakenError extends ValidationError {
  constructor() {
    super('An account with this email already exists.', { email: 'An account with this email already exists.' });
  }
}

/** The current password, asked again before a change to the account, was wrong. */
export class WrongPasswordError extends ValidationError {
  constructor() {
    super('That is not your current password.', { current_password: 'That is not your current password.' });
  }
}

export interface ImportRecord {
  email: string;
  name?: string;
  password_hash: string;
  is_admin?: boolean;
}


export class AuthService {
  constructor(
    private readonly db: Knex,
    private readonly users: UserRepository,
    private readonly throttles: ThrottleRepository,
    private readonly hasher: PasswordHasher,
    private readonly throttle: {
      maxPerAccount: number;
      maxPerAddress: number;
      windowSeconds: number;
      signupMaxPerEmail: number;
      signupMaxPerAddress: number;
    },
    private readonly devices: DeviceCookies,
  ) {}

  get deviceCookieTtlSeconds(): number {
    return this.devices.ttlSeconds;
  }

  /**
   * Creates an account. `from` is the client of a public sign-up request: such attempts are counted
   * per address and per canonical email before any hash is computed (a flood costs nothing but a
   * counter, and "already exists" cannot be asked without limit). The operator's CLI passes none.
   * The hash runs in the sign-up lane of the hashing slots, which cannot crowd out log-ins.
   * An account the operator creates (no `from`) counts as having a proved address.
   */
  async signUp(input: { email: unknown; name?: unknown; password: unknown; isAdmin?: boolean }, from?: { address: string }): Promise<User> {
    const data = parseInput(signUpSchema, { email: input.email, name: input.name ?? '', password: input.password });
    if (from) {
      const emailKey = `signup:acct:${sha256(canonicalEmail(data.email))}`;
      const addressKey = `signup:ip:${from.address}`;
      const counts = await this.throttles.hit([emailKey, addressKey], this.throttle.windowSeconds);
      const refused = [
        { c: counts.get(emailKey)!, max: this.throttle.signupMaxPerEmail },
        { c: counts.get(addressKey)!, max: this.throttle.signupMaxPerAddress },
      ].filter(({ c, max }) => c.attempts > max);
      if (refused.length) throw this.tooMany('sign-up', refused.map(({ c }) => c.windowStartedAt));
    }
    const passwordHash = await this.hasher.hash(data.password, 'signup');
    try {
      return await this.users.create({ email: data.email, name: data.name, passwordHash, isAdmin: input.isAdmin, emailVerified: from === undefined });
    } catch (err) {
      if (isUniqueViolation(err)) throw new EmailTakenError();
      throw err;
    }
  }

  /**
   * Checks a password. Unknown email and wrong password give the same error after similar work
   * (a dummy verify). Attempts are counted before any hash is computed: per client address, and
   * per account, or, for a browser presenting a valid device cookie for this account, per device.
   * Success returns a new device cookie for the browser.
   */
  async login(input: { email: unknown; password: unknown; address: string; deviceCookie?: unknown }): Promise<{ user: User; deviceCookie: string }> {
    const email = typeof input.email === 'string' ? input.email.trim().slice(0, 254) : '';
    const password = typeof input.password === 'string' ? input.password.slice(0, 1024) : '';
    if (!email || !password) throw new LoginFailedError('Enter your email and password.');

    // Found by the canonical form (findByEmail), before counting: a device cookie is trusted only
    // for the account it was issued for, so the account must be known to tell.
    const user = await this.users.findByEmail(email);
    const device = this.devices.verify(input.deviceCookie);
    const trusted = device !== undefined && user !== undefined && device.userId === user.id;
    // A trusted device counts its failures under its own key (OWASP device cookies): a stranger
    // exhausting the account's untrusted-client key cannot lock this browser out. Everyone else
    // counts under the account's key, built from the same canonical form as the look-up: one key
    // per account, whatever the spelling (case, width, invisible characters).
    const accountKey = trusted ? `dev:${sha256(`${user.id}:${device.nonce}`)}` : `acct:${sha256(canonicalEmail(email))}`;
    const addressKey = `ip:${input.address}`;
    const counts = await this.throttles.hit([accountKey, addressKey], this.throttle.windowSeconds);
    const refused = [
      { c: counts.get(accountKey)!, max: this.throttle.maxPerAccount },
      { c: counts.get(addressKey)!, max: this.throttle.maxPerAddress },
    ].filter(({ c, max }) => c.attempts > max);
    if (refused.length) throw this.tooMany('sign-in', refused.map(({ c }) => c.windowStartedAt));

    if (!user) {
      await this.hasher.verifyDummy(password);
      throw new LoginFailedError();
    }
    const result = await this.hasher.verify(user.passwordHash, password);
    if (!result.ok) throw new LoginFailedError();
    if (user.disabledAt) throw new LoginFailedError(); // the same answer: nothing to learn about the account
    await this.throttles.clear(accountKey);
    if (result.needsRehash) {
      await this.users.updatePasswordHash(user.id, await this.hasher.hash(password));
    }
    // A fresh nonce at every sign-in: the browser's device key starts again from zero.
    return { user, deviceCookie: this.devices.issue(user.id) };
  }

  /**
   * The signed-in user proves it is them before a change to the account (password, email,
   * deletion): a stolen session alone cannot take the account over. Counted per account like
   * log-ins, before the hash, so a session cannot be used to guess the password either.
   */
  async reauthenticate(user: User, password: unknown): Promise<void> {
    const key = `reauth:${user.id}`;
    const c = (await this.throttles.hit([key], this.throttle.windowSeconds)).get(key)!;
    if (c.attempts > this.throttle.maxPerAccount) throw this.tooMany('password', [c.windowStartedAt]);
    if (typeof password !== 'string' || password === '') throw new ValidationError('Enter your current password.', { current_password: 'Enter your current password.' });
    const result = await this.hasher.verify(user.passwordHash, password.slice(0, 1024));
    if (!result.ok) throw new WrongPasswordError();
    await this.throttles.clear(key);
  }

  /** After a password reset the owner proved the mailbox: strangers' failed log-ins no longer hold them back. */
  clearLoginThrottle(email: string): Promise<void> {
    return this.throttles.clear(`acct:${sha256(canonicalEmail(email))}`);
  }

  /** 429 with Retry-After: when the latest of the exceeded windows ends. */
  tooMany(what: string, windowsStartedAt: Date[]): TooManyRequestsError {
    const ends = Math.max(...windowsStartedAt.map((d) => d.getTime())) + this.throttle.windowSeconds * 1000;
    const retryAfter = Math.max(1, Math.ceil((ends - Date.now()) / 1000));
    return new TooManyRequestsError(`Too many ${what} attempts. Please wait ${Math.ceil(retryAfter / 60)} minute(s) and try again.`, retryAfter);
  }

  /** Imports users with existing bcrypt hashes, all or nothing. */
  async importUsers(records: unknown[], opts: { skipExisting?: boolean } = {}): Promise<{ imported: number; skipped: number }> {
    const recordSchema = z.object({
      email: emailSchema,
      name: nameSchema.optional(),
      password_hash: z.string().refine((h) => isBcryptHash(h), 'must be a bcrypt hash ($2a$/$2b$/$2y$) with cost 10 or more'),
      is_admin: z.boolean().optional(),
    });
    const problems: string[] = [];
    const valid: ImportRecord[] = [];
    const seen = new Set<string>();
    records.forEach((rec, i) => {
      const r = recordSchema.safeParse(rec);
      if (!r.success) {
        problems.push(`record ${i + 1}: ${r.error.issues.map((x) => `${x.path.join('.')}: ${x.message}`).join('; ')}`);
        return;
      }
      const key = canonicalEmail(r.data.email);
      if (seen.has(key)) problems.push(`record ${i + 1}: ${r.data.email} appears twice in the file`);
      seen.add(key);
      valid.push(r.data);
    });
    if (problems.length) throw new ValidationError(`Nothing was imported:\n${problems.join('\n')}`);

    return this.db.transaction(async (trx) => {
      let imported = 0;
      let skipped = 0;
      for (const rec of valid) {
        if (await this.users.findByEmail(rec.email, trx)) {
          if (opts.skipExisting) {
            skipped++;
            continue;
          }
          throw new ValidationError(`Nothing was imported: ${rec.email} already has an account (use --skip-existing).`);
        }
        await this.users.create({ email: rec.email, name: rec.name ?? '', passwordHash: rec.password_hash, isAdmin: rec.is_admin }, trx);
        imported++;
      }
      return { imported, skipped };
    });
  }
}
