import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { logger } from '../../src/lib/logger';
import { MailQueue } from '../../src/mail/mail-queue';
import { OutboxMailer } from '../../src/mail/outbox-mailer';
import { SmtpMailer } from '../../src/mail/smtp-mailer';
import { mails } from '../../src/mail/templates';
import { cli } from '../support/cli';
import { createTestContext, createUser, csrfFrom, webAgent } from '../support/context';
import { TestSmtp } from '../support/smtp';

/** Captures what the logger writes while `fn` runs. */
async function captureLogs(fn: () => Promise<void>): Promise<string> {
  let out = '';
  const sink = pino({ level: 'info' }, new Writable({ write: (chunk, _e, cb) => ((out += String(chunk)), cb()) }));
  const methods = ['info', 'warn', 'error'] as const;
  const spies = methods.map((m) => jest.spyOn(logger, m).mockImplementation(((...args: unknown[]) => (sink[m] as (...a: unknown[]) => void)(...args)) as never));
  try {
    await fn();
  } finally {
    spies.forEach((s) => s.mockRestore());
  }
  return out;
}

describe('the outbox (no SMTP_URL)', () => {
  it('when a reset is asked for, then the mail is an owner-only .eml in DATA_DIR/outbox, logged by file name only, and mail:outbox lists and shows it', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'linkbridge-outbox-'));
    const ctx = createTestContext({ DATA_DIR: dataDir });
    try {
      const user = await createUser(ctx);
      let token = '';
      const logs = await captureLogs(async () => {
        const agent = webAgent(ctx.app);
        const page = await agent.get('/forgot-password');
        const res = await agent.post('/forgot-password').type('form').send({ _csrf: csrfFrom(page.text), email: user.email });
        expect(res.status).toBe(200);
        await ctx.services.mail.idle();
      });
      const outbox = path.join(dataDir, 'outbox');
      expect(statSync(outbox).mode & 0o777).toBe(0o700);
      const files = readdirSync(outbox);
      expect(files).toHaveLength(1);
      expect(statSync(path.join(outbox, files[0])).mode & 0o777).toBe(0o600);
      const eml = readFileSync(path.join(outbox, files[0]), 'utf8');
      expect(eml).toContain('Subject: Reset your Linkbridge password');

      const lines = logs.trim().split('\n').filter((l) => l.includes('outbox'));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(files[0]);
      expect(logs).not.toContain('lb_pr_');
      expect(logs).not.toContain('reset-password');
      expect(logs).not.toContain(user.email);

      const list = await cli(['mail:outbox', '--json'], { DATA_DIR: dataDir });
      expect(list.code).toBe(0);
      expect(list.json().mails).toEqual([expect.objectContaining({ file: files[0], to: user.email, subject: 'Reset your Linkbridge password' })]);
      const human = await cli(['mail:outbox'], { DATA_DIR: dataDir });
      expect(human.stdout).toContain(files[0]);
      const shown = await cli(['mail:outbox', '--last'], { DATA_DIR: dataDir });
      expect(shown.code).toBe(0);
      token = /token=(lb_pr_[A-Za-z0-9_-]{43})/.exec(shown.stdout)?.[1] ?? '';
      expect(token).not.toBe(''); // the whole link, decoded, in one piece
      const page = await webAgent(ctx.app).get(`/reset-password?token=${token}`);
      expect(page.status).toBe(200);
      expect((await cli(['mail:outbox', '--show', '../secrets.json'], { DATA_DIR: dataDir })).code).toBe(1);
    } finally {
      await ctx.close();
    }
  });
});

describe('sending through SMTP', () => {
  let smtp: TestSmtp;
  beforeAll(async () => {
    smtp = await TestSmtp.start();
  });
  afterAll(() => smtp.close());

  it('when the SMTP server refuses for a while, then the mail is retried and arrives, and the page answered at once', async () => {
    const ctx = createTestContext(smtp.env());
    try {
      const user = await createUser(ctx);
      smtp.failNext(2);
      const logs = await captureLogs(async () => {
        const agent = webAgent(ctx.app);
        const page = await agent.get('/forgot-password');
        const res = await agent.post('/forgot-password').type('form').send({ _csrf: csrfFrom(page.text), email: user.email });
        expect(res.status).toBe(200);
        await smtp.waitFor(user.email, /Reset your/);
        await ctx.services.mail.idle();
      });
      expect(logs.match(/will retry/g)).toHaveLength(2);
      expect(logs).toContain('mail sent');
      expect(logs).not.toContain('lb_pr_');
      expect(logs).not.toContain(user.email);
    } finally {
      await ctx.close();
    }
  });

  it('when no SMTP server listens at all, then the request still answers 200 and the queue gives up after its retries', async () => {
    const ctx = createTestContext({ SMTP_URL: 'smtp://127.0.0.1:9', MAIL_RETRY_DELAYS: '0.01,0.01' });
    try {
      const user = await createUser(ctx);
      const logs = await captureLogs(async () => {
        const agent = webAgent(ctx.app);
        const page = await agent.get('/forgot-password');
        const started = Date.now();
        const res = await agent.post('/forgot-password').type('form').send({ _csrf: csrfFrom(page.text), email: user.email });
        expect(res.status).toBe(200);
        expect(Date.now() - started).toBeLessThan(2000);
        await ctx.services.mail.idle();
      });
      expect(logs).toContain('giving up');
      expect(logs).not.toContain(user.email);
    } finally {
      await ctx.close();
    }
  });

  it('when a mail is composed, then it has a plain-text and an HTML part, with every value escaped in the HTML', async () => {
    const queue = new MailQueue(new SmtpMailer(smtp.url, 'Linkbridge <no-reply@linkbridge.test>'), { retryDelaysMs: [] });
    try {
      queue.enqueue(mails.passwordReset('escape@example.test', '<b>Bob</b> & "co"', 'http://localhost:3000/reset-password?token=lb_pr_x&a=<b>', 30));
      await queue.idle();
      const mail = await smtp.waitFor('escape@example.test', /Reset/);
      expect(mail.text).toContain('Hello <b>Bob</b> & "co",');
      expect(mail.html).toContain('Hello &lt;b&gt;Bob&lt;/b&gt; &amp; &quot;co&quot;,');
      expect(mail.html).not.toContain('<b>Bob</b>');
      expect(mail.from).toContain('no-reply@linkbridge.test');
    } finally {
      queue.close();
    }
  });

  it('when the queue is full, then further mails are dropped instead of growing memory', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'linkbridge-full-'));
    const queue = new MailQueue(new OutboxMailer(dir, 'x@y.test'), { retryDelaysMs: [], maxQueued: 2 });
    for (let i = 0; i < 5; i++) queue.enqueue(mails.accountDeleted(`n${i}@example.test`, ''));
    await queue.idle();
    queue.close();
    expect(readdirSync(dir).length).toBeLessThanOrEqual(3);
  });
});
