import { Knex } from 'knex';
import { SessionRepository } from '../http/session-store';
import { randomToken, sha256, TOKEN_PREFIX } from '../lib/crypto';
import { AppError, ValidationError } from '../lib/errors';
import { parseInput } from '../lib/validation';
import { MailQueue } from '../mail/mail-queue';
import { mails } from '../mail/templates';
import { AccountService, DeletionResult } from './account.service';
import { AccountToken, AccountTokenPurpose, AccountTokenRepository } from './account-token.repository';
import { AuthService, EmailTakenError, emailSchema, passwordSchema } from './auth.service';
import { canonicalEmail } from './email';
import { PasswordHasher } from './password-hasher';
import { safeReturnTo } from './return-to';
import { ThrottleRepository } from './throttle.repository';
import { isUniqueViolation, User, UserRepository } from './user.repository';

/** A reset link works for 30 minutes (issue 16); address confirmations for a day. */
export const RESET_TTL_MINUTES = 30;
export const CONFIRM_TTL_HOURS = 24;

const TOKEN_FORMAT = /^lb_(pr|ec)_[A-Za-z0-9_-]{43}$/;

export type LinkProblem = 'invalid' | 'used' | 'expired' | 'taken';

const LINK_MESSAGES: Record<LinkProblem, string> = {
  invalid: 'This link is not valid. It may be incomplete (some mail apps cut long links) or belong to an address that has changed since.',
  used: 'This link was already used. Each link works once.',
  expired: 'This link has expired.',
  taken: 'That address now belongs to another account, so your address was not changed.',
};

/** A mailed link that cannot be used; `returnTo` lets the page offer to ask again for the same journey. */
export class LinkError extends AppError {
  constructor(
    readonly problem: LinkProblem,
    readonly returnTo: string,
  ) {
    super(400, 'invalid_link', LINK_MESSAGES[problem]);
  }
}

export type SignUpOutcome = { kind: 'signed-up'; user: User } | { kind: 'check-email' };

/**
 * The account life cycle users of any web product expect: forgot password, change password and
 * email, address confirmation, deletion. Every link it mails is single-use (one atomic UPDATE),
 * stored as a SHA-256 hash, and never logged; every mail goes through the queue, so no answer
 * waits for (or fails because of) mail.
 */
export class AccountLifecycleService {
  constructor(
    private readonly db: Knex,
    private readonly store: { users: UserRepository; tokens: AccountTokenRepository; sessions: SessionRepository; throttles: ThrottleRepository },
    private readonly auth: AuthService,
    private readonly accounts: AccountService,
    private readonly hasher: PasswordHasher,
    private readonly mail: MailQueue,
    private readonly settings: {
      publicUrl: string;
      requireEmailVerification: boolean;
      resetMaxPerEmail: number;
      resetMaxPerAddress: number;
      windowSeconds: number;
    },
  ) {}

  get requireEmailVerification(): boolean {
    return this.settings.requireEmailVerification;
  }

  /** With REQUIRE_EMAIL_VERIFICATION on, an account whose address is not proved cannot consent. */
  mustVerify(user: User): boolean {
    return this.settings.requireEmailVerification && user.emailVerifiedAt === null;
  }

  private url(path: string, params: Record<string, string> = {}): string {
    const q = new URLSearchParams(params).toString();
    return `${this.settings.publicUrl}${path}${q ? `?${q}` : ''}`;
  }

  private async issueLink(purpose: AccountTokenPurpose, user: User, email: string, returnTo: string | null, ttlMs: number): Promise<string> {
    const prefix = purpose === 'password_reset' ? TOKEN_PREFIX.passwordReset : TOKEN_PREFIX.emailConfirmation;
    const token = randomToken(prefix);
    await this.store.tokens.create({ tokenHash: sha256(token), purpose, userId: user.id, email, returnTo, expiresAt: new Date(Date.now() + ttlMs) });
    return token;
  }

  /** Counts one mail-sending request under each key; too many: 429 with Retry-After. */
  private async throttleMail(keys: Array<{ key: string; max: number }>): Promise<void> {
    const counts = await this.store.throttles.hit(keys.map((k) => k.key), this.settings.windowSeconds);
    const refused = keys.filter((k) => counts.get(k.key)!.attempts > k.max).map((k) => counts.get(k.key)!.windowStartedAt);
    if (refused.length) throw this.auth.tooMany('requests for mail', refused);
  }

  /**
   * Why a link cannot be used: looked up again (spent, expired or never issued) so the page can
   * say which, and offer to ask again for the same journey.
   */
  private async explain(tokenHash: string, purpose: AccountTokenPurpose): Promise<LinkError> {
    const t = await this.store.tokens.find(tokenHash, purpose);
    const returnTo = safeReturnTo(t?.returnTo ?? undefined);
    if (!t) return new LinkError('invalid', returnTo);
    if (t.usedAt) return new LinkError('used', returnTo);
    if (t.expiresAt.getTime() <= Date.now()) return new LinkError('expired', returnTo);
    return new LinkError('invalid', returnTo);
  }

  /** The live link for `token`, not spent (a GET shows its form; mail scanners that fetch links spend nothing). */
  private async peek(token: unknown, purpose: AccountTokenPurpose): Promise<{ link: AccountToken; user: User; tokenHash: string }> {
    if (typeof token !== 'string' || !TOKEN_FORMAT.test(token)) throw new LinkError('invalid', '/');
    const tokenHash = sha256(token);
    const link = await this.store.tokens.find(tokenHash, purpose);
    if (!link || link.usedAt || link.expiresAt.getTime() <= Date.now()) throw await this.explain(tokenHash, purpose);
    const user = await this.store.users.findById(link.userId);
    const stillTheirs = purpose === 'email_change' || (user && canonicalEmail(user.email) === canonicalEmail(link.email));
    if (!user || user.disabledAt || !stillTheirs) throw new LinkError('invalid', safeReturnTo(link.returnTo ?? undefined));
    return { link, user, tokenHash };
  }

  // ---- Forgot password -------------------------------------------------------------------

  /**
   * Mails a reset link when the address has a live account. The caller answers the same either
   * way ("if an account exists, we sent a link"), and the throttle counts requests per canonical
   * address and per client address whether or not an account exists, so it reveals nothing.
   */
  async requestPasswordReset(input: { email: unknown; returnTo: string; address: string }): Promise<void> {
    const email = parseInput(emailSchema, typeof input.email === 'string' ? input.email : '');
    await this.throttleMail([
      { key: `reset:acct:${sha256(canonicalEmail(email))}`, max: this.settings.resetMaxPerEmail },
      { key: `reset:ip:${input.address}`, max: this.settings.resetMaxPerAddress },
    ]);
    const user = await this.store.users.findByEmail(email);
    if (!user || user.disabledAt) return;
    const token = await this.issueLink('password_reset', user, user.email, input.returnTo, RESET_TTL_MINUTES * 60_000);
    this.mail.enqueue(mails.passwordReset(user.email, user.name, this.url('/reset-password', { token }), RESET_TTL_MINUTES));
  }

  /** The reset form's GET: whose link it is, without spending it. */
  async checkResetLink(token: unknown): Promise<{ user: User; returnTo: string }> {
    const { link, user } = await this.peek(token, 'password_reset');
    return { user, returnTo: safeReturnTo(link.returnTo ?? undefined) };
  }

  /**
   * Sets the new password and spends the link, atomically: the link, every other open reset link
   * and every session of the user go in one transaction. The address is thereby proved. Links to
   * apps (grants) stay. The hash is computed before the transaction, in the sign-up lane of the
   * hashing slots (resets cannot crowd out log-ins).
   */
  async resetPassword(input: { token: unknown; password: unknown }): Promise<{ user: User; returnTo: string }> {
    const { tokenHash, link } = await this.peek(input.token, 'password_reset');
    const password = parseInput(passwordSchema, typeof input.password === 'string' ? input.password : '');
    const passwordHash = await this.hasher.hash(password, 'signup');
    const user = await this.db.transaction(async (trx) => {
      const spent = await this.store.tokens.consume(trx, tokenHash, 'password_reset');
      if (!spent) return undefined;
      const u = await this.store.users.findById(spent.userId, trx);
      if (!u || u.disabledAt || canonicalEmail(u.email) !== canonicalEmail(spent.email)) return undefined;
      await this.store.users.updatePasswordHash(u.id, passwordHash, trx);
      await this.store.users.markEmailVerified(trx, u.id, u.email);
      await this.store.tokens.spendAll(trx, u.id, ['password_reset']);
      await this.store.sessions.deleteForUser(trx, u.id);
      return u;
    });
    if (!user) throw await this.explain(tokenHash, 'password_reset');
    await this.auth.clearLoginThrottle(user.email);
    return { user: (await this.store.users.findById(user.id)) ?? user, returnTo: safeReturnTo(link.returnTo ?? undefined) };
  }

  // ---- Signed in: password and email ----------------------------------------------------------

  /** A new password (the current one required); every other session is signed out. */
  async changePassword(user: User, input: { currentPassword: unknown; password: unknown }, currentSid: string): Promise<{ signedOut: number }> {
    await this.auth.reauthenticate(user, input.currentPassword);
    const password = parseInput(passwordSchema, typeof input.password === 'string' ? input.password : '');
    const passwordHash = await this.hasher.hash(password, 'signup');
    const signedOut = await this.db.transaction(async (trx) => {
      await this.store.users.updatePasswordHash(user.id, passwordHash, trx);
      await this.store.tokens.spendAll(trx, user.id, ['password_reset']);
      return this.store.sessions.deleteForUser(trx, user.id, currentSid);
    });
    this.mail.enqueue(mails.passwordChanged(user.email, user.name, this.url('/forgot-password')));
    return { signedOut };
  }

  /**
   * Asks to move the account to another address (the current password required): a confirmation
   * link to the new address and a notice to the old one; nothing changes until the new address
   * confirms. A taken address (by canonical form) gets the same answer, and its owner a notice,
   * so the form cannot be used to find out who has an account.
   */
  async requestEmailChange(user: User, input: { currentPassword: unknown; email: unknown }): Promise<{ email: string }> {
    await this.auth.reauthenticate(user, input.currentPassword);
    const email = parseInput(emailSchema, typeof input.email === 'string' ? input.email : '');
    if (canonicalEmail(email) === canonicalEmail(user.email)) throw new ValidationError('That is already your address.', { email: 'That is already your address.' });
    await this.throttleMail([{ key: `mail:user:${user.id}`, max: this.settings.resetMaxPerEmail }]);
    const owner = await this.store.users.findByEmail(email);
    if (owner) {
      this.mail.enqueue(mails.emailChangeTaken(owner.email, owner.name, this.url('/login')));
    } else {
      const token = await this.issueLink('email_change', user, email, '/account', CONFIRM_TTL_HOURS * 3600_000);
      this.mail.enqueue(mails.emailChangeConfirm(email, user.name, this.url('/account/email/confirm', { token })));
    }
    this.mail.enqueue(mails.emailChangeNotice(user.email, user.name, email, this.url('/forgot-password')));
    return { email };
  }

  async checkEmailChangeLink(token: unknown): Promise<{ user: User; email: string }> {
    const { link, user } = await this.peek(token, 'email_change');
    return { user, email: link.email };
  }

  /**
   * The new address confirmed: the change happens now, if the address is still free (unique by
   * canonical form). Open links mailed to the old address are spent.
   */
  async confirmEmailChange(token: unknown): Promise<{ user: User }> {
    const { tokenHash } = await this.peek(token, 'email_change');
    let taken = false;
    const userId = await this.db
      .transaction(async (trx) => {
        const spent = await this.store.tokens.consume(trx, tokenHash, 'email_change');
        if (!spent) return undefined;
        const u = await this.store.users.findById(spent.userId, trx);
        if (!u || u.disabledAt) return undefined;
        await this.store.users.changeEmail(trx, u.id, spent.email);
        await this.store.tokens.spendAll(trx, u.id, ['password_reset', 'email_verify', 'email_change']);
        return u.id;
      })
      .catch((err: unknown) => {
        if (!isUniqueViolation(err)) throw err;
        taken = true;
        return undefined;
      });
    if (taken) {
      // The transaction rolled back, link included: spend it on its own so it cannot be retried.
      await this.db.transaction((trx) => this.store.tokens.consume(trx, tokenHash, 'email_change'));
      throw new LinkError('taken', '/account');
    }
    if (userId === undefined) throw await this.explain(tokenHash, 'email_change');
    return { user: (await this.store.users.findById(userId))! };
  }

  // ---- Address confirmation --------------------------------------------------------------------

  /** Mails a confirmation link to the account's address (sign-up, or asked again from /account). */
  async sendVerification(user: User, returnTo: string, opts: { throttle: boolean } = { throttle: true }): Promise<void> {
    if (opts.throttle) await this.throttleMail([{ key: `mail:user:${user.id}`, max: this.settings.resetMaxPerEmail }]);
    const token = await this.issueLink('email_verify', user, user.email, returnTo, CONFIRM_TTL_HOURS * 3600_000);
    this.mail.enqueue(mails.emailVerification(user.email, user.name, this.url('/verify-email', { token })));
  }

  async checkVerificationLink(token: unknown): Promise<{ user: User; returnTo: string }> {
    const { link, user } = await this.peek(token, 'email_verify');
    return { user, returnTo: safeReturnTo(link.returnTo ?? undefined) };
  }

  async confirmVerification(token: unknown): Promise<{ user: User; returnTo: string }> {
    const { tokenHash, link } = await this.peek(token, 'email_verify');
    const ok = await this.db.transaction(async (trx) => {
      const spent = await this.store.tokens.consume(trx, tokenHash, 'email_verify');
      return spent ? this.store.users.markEmailVerified(trx, spent.userId, spent.email) : false;
    });
    if (!ok) throw await this.explain(tokenHash, 'email_verify');
    return { user: (await this.store.users.findById(link.userId))!, returnTo: safeReturnTo(link.returnTo ?? undefined) };
  }

  /**
   * Sign-up from the web. Without REQUIRE_EMAIL_VERIFICATION: the account is created and the
   * visitor signed in (a taken address is said so on the form, as before). With it: the answer is
   * "check your email" for a new and a taken address alike, after the same work (the password is
   * hashed either way); the new address gets a confirmation link, the taken one a "someone tried
   * to sign up" mail.
   */
  async signUp(input: { email: unknown; name?: unknown; password: unknown }, from: { address: string }, returnTo: string): Promise<SignUpOutcome> {
    if (!this.settings.requireEmailVerification) return { kind: 'signed-up', user: await this.auth.signUp(input, from) };
    try {
      const user = await this.auth.signUp(input, from);
      await this.sendVerification(user, returnTo, { throttle: false });
    } catch (err) {
      if (!(err instanceof EmailTakenError)) throw err;
      const owner = await this.store.users.findByEmail(String(input.email));
      if (owner && !owner.disabledAt) {
        this.mail.enqueue(mails.signupAttemptExisting(owner.email, owner.name, this.url('/login'), this.url('/forgot-password', { return_to: returnTo })));
      }
    }
    return { kind: 'check-email' };
  }

  // ---- Deletion ----------------------------------------------------------------------------------

  /** The user deletes their own account: the current password required. */
  async deleteOwnAccount(user: User, currentPassword: unknown): Promise<DeletionResult> {
    await this.auth.reauthenticate(user, currentPassword);
    const result = await this.accounts.deleteUser(user.id);
    if (!result) throw new ValidationError('This account no longer exists.');
    return result;
  }
}
