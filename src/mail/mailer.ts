/** A mail as the account flows write it: plain text first, with a simple HTML alternative. */
export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html: string;
}

/**
 * Where mails go: an SMTP server (SMTP_URL) or, without one, the outbox folder. `send` resolves
 * once the mail is accepted and throws when it was not; the queue (mail-queue.ts) decides about
 * retries, so nothing that answers a request ever waits for it.
 */
export interface Mailer {
  readonly kind: 'smtp' | 'outbox';
  send(message: MailMessage): Promise<void>;
  close(): void;
}

/** Bounds on a single SMTP conversation: a server that hangs costs a retry, not a stuck queue. */
export const SMTP_TIMEOUTS = { connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 20_000 } as const;
