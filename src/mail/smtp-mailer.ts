import nodemailer, { Transporter } from 'nodemailer';
import { Mailer, MailMessage, SMTP_TIMEOUTS } from './mailer';

/**
 * Mail through the SMTP server of SMTP_URL (`smtp://user:pass@host:587` upgrades with STARTTLS
 * when the server offers it; `smtps://host:465` is TLS from the start). The URL holds credentials:
 * it is never logged.
 */
export class SmtpMailer implements Mailer {
  readonly kind = 'smtp' as const;
  private readonly transport: Transporter;

  constructor(smtpUrl: string, private readonly from: string) {
    this.transport = nodemailer.createTransport({ url: smtpUrl, ...SMTP_TIMEOUTS } as Parameters<typeof nodemailer.createTransport>[0]);
  }

  async send(message: MailMessage): Promise<void> {
    await this.transport.sendMail({ from: this.from, to: message.to, subject: message.subject, text: message.text, html: message.html });
  }

  close(): void {
    this.transport.close();
  }
}
