import { AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  to: string[];
  from: string;
  subject: string;
  text: string;
  html: string;
  /** Every http(s) link of the plain-text part, in order. */
  links: string[];
}

/**
 * A real SMTP server on 127.0.0.1 and a random port, started by the test: mails are received
 * over SMTP (nodemailer on the other side), parsed with mailparser, and kept for the test to read
 * and follow. `failNext(n)` answers the next n mails with a temporary failure (451).
 */
export class TestSmtp {
  readonly mails: ReceivedMail[] = [];
  private failures = 0;
  private waiters: Array<() => void> = [];

  private constructor(
    private readonly server: SMTPServer,
    readonly port: number,
  ) {}

  static async start(): Promise<TestSmtp> {
    let smtp: TestSmtp | undefined;
    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      size: 1024 * 1024,
      onData(stream, _session, callback) {
        if (smtp && smtp.failures > 0) {
          smtp.failures -= 1;
          stream.resume();
          stream.on('end', () => callback(Object.assign(new Error('Try again later'), { responseCode: 451 })));
          return;
        }
        simpleParser(stream).then(
          (parsed) => {
            const text = parsed.text ?? '';
            const to = ([] as Array<{ value: Array<{ address?: string }> }>).concat((parsed.to as never) ?? []).flatMap((a) => a.value.map((v) => v.address ?? ''));
            smtp!.mails.push({
              to,
              from: parsed.from?.text ?? '',
              subject: parsed.subject ?? '',
              text,
              html: typeof parsed.html === 'string' ? parsed.html : '',
              links: text.match(/https?:\/\/[^\s<>"]+/g) ?? [],
            });
            for (const w of smtp!.waiters.splice(0)) w();
            callback();
          },
          (err: Error) => callback(err),
        );
      },
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const port = ((server as unknown as { server: { address(): AddressInfo } }).server.address()).port;
    smtp = new TestSmtp(server, port);
    return smtp;
  }

  get url(): string {
    return `smtp://127.0.0.1:${this.port}`;
  }

  /** The SMTP settings for a test context: this server, and quick retries. */
  env(): Record<string, string> {
    return { SMTP_URL: this.url, MAIL_FROM: 'Linkbridge <no-reply@linkbridge.test>', MAIL_RETRY_DELAYS: '0.05,0.1,0.2' };
  }

  failNext(n: number): void {
    this.failures = n;
  }

  /** Mails received so far for this address. */
  to(address: string): ReceivedMail[] {
    return this.mails.filter((m) => m.to.some((t) => t.toLowerCase() === address.toLowerCase()));
  }

  /** The first mail (from `after` on) to `address` matching `subject`, waiting up to `timeoutMs` for it. */
  async waitFor(address: string, subject: RegExp, opts: { timeoutMs?: number; after?: number } = {}): Promise<ReceivedMail> {
    const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
    for (;;) {
      const found = this.to(address).slice(opts.after ?? 0).find((m) => subject.test(m.subject));
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no mail to ${address} matching ${subject} (got: ${this.to(address).map((m) => m.subject).join(', ') || 'none'})`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** The path and query of a mailed link whose path is `path` (to follow it against the test app). */
export function linkPath(mail: ReceivedMail, path: string): string {
  const link = mail.links.map((l) => new URL(l)).find((u) => u.pathname === path);
  if (!link) throw new Error(`no ${path} link in the mail: ${mail.links.join(' ')}`);
  return `${link.pathname}${link.search}`;
}
