import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { logger } from '../lib/logger';
import { Mailer, MailMessage } from './mailer';

/**
 * Without SMTP_URL (the embedded default): every mail becomes an .eml file in DATA_DIR/outbox, so
 * a newcomer can follow a reset link with nothing installed (`npm run cli -- mail:outbox`). The
 * files hold live links: the folder is 0700 and each file 0600 (security.md, local users). One
 * log line per mail names the file, never its address, link or token.
 */
export class OutboxMailer implements Mailer {
  readonly kind = 'outbox' as const;
  private readonly composer = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });

  constructor(readonly dir: string, private readonly from: string) {}

  async send(message: MailMessage): Promise<void> {
    const info = (await this.composer.sendMail({ from: this.from, to: message.to, subject: message.subject, text: message.text, html: message.html })) as { message: Buffer };
    await ensurePrivateDir(this.dir);
    const name = `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomBytes(4).toString('hex')}.eml`;
    const file = path.join(this.dir, name);
    await writeFile(file, info.message, { mode: 0o600, flag: 'wx' });
    logger.info({ file }, 'mail written to the outbox (npm run cli -- mail:outbox)');
  }

  close(): void {}
}

/** The folder (and missing parents) owner-only; an existing outbox folder is narrowed to 0700. */
export async function ensurePrivateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (((await stat(dir)).mode & 0o077) !== 0) await chmod(dir, 0o700);
}

export interface OutboxEntry {
  file: string;
  date: Date;
  to: string;
  subject: string;
}

/** The outbox's mails, newest first (for mail:outbox). */
export async function listOutbox(dir: string): Promise<OutboxEntry[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.eml'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const entries = await Promise.all(
    names.map(async (file) => {
      const raw = await readFile(path.join(dir, file), 'utf8');
      const headers = parseHeaders(raw);
      return { file, date: new Date(headers.get('date') ?? (await stat(path.join(dir, file))).mtime), to: headers.get('to') ?? '', subject: decodeWords(headers.get('subject') ?? '') };
    }),
  );
  return entries.sort((a, b) => b.file.localeCompare(a.file));
}

/** A mail of the outbox as text: its headers and the plain-text part, decoded. */
export async function readOutboxMail(dir: string, file: string): Promise<{ to: string; subject: string; date: string; text: string }> {
  if (!/^[\w.-]+\.eml$/.test(file) || file.includes('..')) throw new Error(`not an outbox file name: ${file}`);
  const raw = await readFile(path.join(dir, file), 'utf8');
  const headers = parseHeaders(raw);
  return { to: headers.get('to') ?? '', subject: decodeWords(headers.get('subject') ?? ''), date: headers.get('date') ?? '', text: plainTextPart(raw) };
}

function parseHeaders(raw: string): Map<string, string> {
  const head = raw.split(/\r?\n\r?\n/, 1)[0].replace(/\r?\n[ \t]+/g, ' ');
  const out = new Map<string, string>();
  for (const line of head.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !out.has(line.slice(0, i).toLowerCase())) out.set(line.slice(0, i).toLowerCase(), line.slice(i + 1).trim());
  }
  return out;
}

/** RFC 2047 encoded words (=?UTF-8?Q?...?= / ?B?), as nodemailer writes non-ASCII subjects. */
function decodeWords(value: string): string {
  return value.replace(/=\?utf-8\?([qb])\?([^?]*)\?=\s*/gi, (_m, enc: string, data: string) =>
    enc.toLowerCase() === 'b' ? Buffer.from(data, 'base64').toString('utf8') : decodeQuotedPrintable(data.replace(/_/g, ' ')),
  );
}

function decodeQuotedPrintable(s: string): string {
  const bytes: number[] = [];
  const src = s.replace(/=\r?\n/g, '');
  for (let i = 0; i < src.length; i++) {
    if (src[i] === '=' && /^[0-9A-Fa-f]{2}$/.test(src.slice(i + 1, i + 3))) {
      bytes.push(parseInt(src.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(src[i], 'utf8'));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** The text/plain part of a mail nodemailer composed (single part or multipart/alternative). */
function plainTextPart(raw: string): string {
  const [head, ...rest] = raw.split(/\r?\n\r?\n/);
  const body = rest.join('\n\n');
  const headers = parseHeaders(`${head}\n\n`);
  const type = headers.get('content-type') ?? 'text/plain';
  const boundary = /boundary="?([^";]+)"?/i.exec(type)?.[1];
  if (!boundary) return decodePart(headers.get('content-transfer-encoding'), body);
  for (const part of body.split(`--${boundary}`)) {
    const [partHead, ...partBody] = part.replace(/^\r?\n/, '').split(/\r?\n\r?\n/);
    const h = parseHeaders(`${partHead}\n\n`);
    if ((h.get('content-type') ?? '').toLowerCase().startsWith('text/plain')) return decodePart(h.get('content-transfer-encoding'), partBody.join('\n\n'));
  }
  return body;
}

function decodePart(encoding: string | undefined, body: string): string {
  const e = (encoding ?? '7bit').toLowerCase();
  if (e === 'base64') return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  if (e === 'quoted-printable') return decodeQuotedPrintable(body);
  return body;
}
