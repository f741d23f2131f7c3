import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Config, withEncryptionKey, withSessionSecret } from './config';

/**
 * Outside production a missing session secret and encryption key are generated once and kept in
 * the data folder (secrets.json, 0600), so sessions and encrypted secrets survive restarts without
 * any configuration. Production refuses to start without them (see loadConfig).
 */
export function withDevSecrets(config: Config): Config {
  if (config.isProduction || (config.sessionSecret && config.encryptionKeys.length)) return config;
  const file = path.join(config.dataDir, 'secrets.json');
  let saved: { sessionSecret?: string; encryptionKey?: string } = {};
  try {
    saved = JSON.parse(readFileSync(file, 'utf8')) as typeof saved;
  } catch {
    /* not created yet */
  }
  const next = {
    sessionSecret: saved.sessionSecret && saved.sessionSecret.length >= 32 ? saved.sessionSecret : randomBytes(48).toString('base64url'),
    encryptionKey: saved.encryptionKey && Buffer.from(saved.encryptionKey, 'base64url').length === 32 ? saved.encryptionKey : randomBytes(32).toString('base64url'),
  };
  if (next.sessionSecret !== saved.sessionSecret || next.encryptionKey !== saved.encryptionKey) {
    mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
    writeFileSync(file, JSON.stringify(next, null, 2), { mode: 0o600 });
  }
  let out = config;
  if (!out.sessionSecret) out = withSessionSecret(out, next.sessionSecret);
  if (!out.encryptionKeys.length) out = withEncryptionKey(out, Buffer.from(next.encryptionKey, 'base64url'));
  return out;
}
