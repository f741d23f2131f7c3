import { ValidationError } from '../lib/errors';
import { listOutbox, readOutboxMail } from '../mail/outbox-mailer';
import { Command } from './command';

const mailOutbox: Command = {
  name: 'mail:outbox',
  summary: 'List the mails written to the outbox (no SMTP_URL), or show one with --show FILE or --last',
  usage: 'mail:outbox [--show FILE | --last] [--json]',
  options: { show: { type: 'string' }, last: { type: 'boolean' } },
  migrate: false,
  async run(ctx, { values }) {
    const dir = ctx.config.mail.outboxDir;
    const entries = await listOutbox(dir);
    const wanted = typeof values.show === 'string' ? values.show : values.last === true ? entries[0]?.file : undefined;
    if (values.show !== undefined || values.last === true) {
      if (!wanted || !entries.some((e) => e.file === wanted)) throw new ValidationError(values.last ? `The outbox (${dir}) is empty.` : `No mail ${String(values.show)} in ${dir}`);
      const m = await readOutboxMail(dir, wanted);
      ctx.out([`File:    ${wanted}`, `Date:    ${m.date}`, `To:      ${m.to}`, `Subject: ${m.subject}`, '', m.text.trimEnd()].join('\n'), { file: wanted, ...m });
      return;
    }
    ctx.out(
      entries.length
        ? [`${entries.length} mail(s) in ${dir}, newest first (show one with --show FILE, or --last):`, ...entries.map((e) => `  ${e.file}  ${e.to}  ${e.subject}`)].join('\n')
        : ctx.config.mail.smtpUrl
          ? `No mails in ${dir}: mail is sent through SMTP_URL.`
          : `No mails in ${dir} yet.`,
      { dir, mails: entries.map((e) => ({ file: e.file, date: e.date.toISOString(), to: e.to, subject: e.subject })) },
    );
  },
};

export const mailCommands = [mailOutbox];
