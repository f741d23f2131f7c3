import { MailMessage } from './mailer';

/**
 * The mails, in the site's voice: short, plain, what happened and what to do. Each is plain text
 * with a simple HTML alternative (no images, no remote content, every value escaped). Links are
 * absolute URLs built from PUBLIC_URL, never from a request's Host header.
 */

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

interface Part {
  /** A paragraph of text, or a button-like link. */
  p?: string;
  link?: { label: string; url: string };
}

function compose(to: string, subject: string, greetingName: string, parts: Part[]): MailMessage {
  const hello = greetingName ? `Hello ${greetingName},` : 'Hello,';
  const text = [hello, '', ...parts.flatMap((x) => (x.p !== undefined ? [x.p, ''] : [`${x.link!.label}:`, x.link!.url, ''])), '— Linkbridge Recipes', ''].join('\n');
  const html = [
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(subject)}</title></head>`,
    '<body style="margin:0;padding:16px;background:#f6f5f2;color:#1d1d1f;font:16px/1.5 system-ui,-apple-system,Segoe UI,Roboto,sans-serif">',
    '<div style="max-width:32rem;margin:0 auto;background:#fff;border:1px solid #c9c6bf;border-radius:10px;padding:20px">',
    `<p>${escapeHtml(hello)}</p>`,
    ...parts.map((x) =>
      x.p !== undefined
        ? `<p>${escapeHtml(x.p)}</p>`
        : `<p><a href="${escapeHtml(x.link!.url)}" style="display:inline-block;background:#0b5cad;color:#fff;padding:10px 16px;border-radius:6px;text-decoration:none;font-weight:600">${escapeHtml(x.link!.label)}</a></p>` +
          `<p style="color:#555;font-size:14px">Or open this address: <span style="word-break:break-all">${escapeHtml(x.link!.url)}</span></p>`,
    ),
    '<p style="color:#555">— Linkbridge Recipes</p></div></body></html>',
  ].join('\n');
  return { to, subject, text, html };
}

const NOT_YOU = 'If you did not ask for this, you can ignore this mail: nothing changes.';

export const mails = {
  passwordReset: (to: string, name: string, url: string, minutes: number) =>
    compose(to, 'Reset your Linkbridge password', name, [
      { p: 'Someone (we hope you) asked to reset the password of your Linkbridge Recipes account.' },
      { link: { label: 'Choose a new password', url } },
      { p: `The link works once, for ${minutes} minutes. Apps you connected, such as Alexa, stay connected.` },
      { p: NOT_YOU },
    ]),

  emailVerification: (to: string, name: string, url: string) =>
    compose(to, 'Confirm your email for Linkbridge', name, [
      { p: 'Please confirm that this is your address, so you can connect apps such as Alexa to your Linkbridge Recipes account.' },
      { link: { label: 'Confirm my email', url } },
      { p: 'The link works once, for 24 hours.' },
      { p: 'If you did not create an account, ignore this mail and the address stays unconfirmed.' },
    ]),

  signupAttemptExisting: (to: string, name: string, loginUrl: string, resetUrl: string) =>
    compose(to, 'Someone tried to sign up with your address', name, [
      { p: 'Someone (perhaps you) tried to create a Linkbridge Recipes account with this address. You already have one, so nothing was created.' },
      { link: { label: 'Sign in', url: loginUrl } },
      { link: { label: 'Forgot your password? Reset it', url: resetUrl } },
      { p: 'If it was not you, you need not do anything: your account is unchanged.' },
    ]),

  emailChangeConfirm: (to: string, name: string, url: string) =>
    compose(to, 'Confirm your new email for Linkbridge', name, [
      { p: 'You asked to use this address for your Linkbridge Recipes account. The change happens when you confirm it.' },
      { link: { label: 'Use this address', url } },
      { p: 'The link works once, for 24 hours.' },
      { p: NOT_YOU },
    ]),

  emailChangeNotice: (to: string, name: string, newEmail: string, resetUrl: string) =>
    compose(to, 'Your Linkbridge email is about to change', name, [
      { p: `Someone signed in to your Linkbridge Recipes account asked to change its address to ${newEmail}. It changes only when that address confirms.` },
      { p: 'If this was you, there is nothing to do. If not, change your password now: it signs out every other device.' },
      { link: { label: 'Reset your password', url: resetUrl } },
    ]),

  emailChangeTaken: (to: string, name: string, loginUrl: string) =>
    compose(to, 'Someone tried to use your address on Linkbridge', name, [
      { p: 'Someone tried to move another Linkbridge Recipes account to this address. It already belongs to your account, so nothing changed.' },
      { link: { label: 'Sign in', url: loginUrl } },
    ]),

  passwordChanged: (to: string, name: string, resetUrl: string) =>
    compose(to, 'Your Linkbridge password was changed', name, [
      { p: 'The password of your Linkbridge Recipes account was just changed, and every other device was signed out. Apps you connected, such as Alexa, stay connected.' },
      { p: 'If this was not you, reset your password now:' },
      { link: { label: 'Reset your password', url: resetUrl } },
    ]),

  accountDeleted: (to: string, name: string) =>
    compose(to, 'Your Linkbridge account was deleted', name, [
      { p: 'Your Linkbridge Recipes account was deleted, with your recipes and bookmarks, and every connected app (such as Alexa) was disconnected.' },
      { p: 'You are welcome back any time: you can sign up again with this address.' },
    ]),
};
