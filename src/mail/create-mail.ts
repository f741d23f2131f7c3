import { Config } from '../config/config';
import { MailQueue } from './mail-queue';
import { Mailer } from './mailer';
import { OutboxMailer } from './outbox-mailer';
import { SmtpMailer } from './smtp-mailer';

/** SMTP when SMTP_URL is set, else the outbox folder; behind the in-process retry queue. */
export function createMailQueue(config: Config): MailQueue {
  const mailer: Mailer = config.mail.smtpUrl ? new SmtpMailer(config.mail.smtpUrl, config.mail.from) : new OutboxMailer(config.mail.outboxDir, config.mail.from);
  return new MailQueue(mailer, { retryDelaysMs: config.mail.retryDelaysMs });
}
