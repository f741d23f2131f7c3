import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ensurePrivateDir, PRIVATE_FILE_MODE, writePrivateFile } from '../lib/private-fs';
import { Config, withEncryptionKey, withSessionSecret } from './config';

/**
 * Outside production a missing session secret and encryption key are generated once and kept in
 * the data folder (secrets.json), so sessions and encrypted secrets survive restarts without any
 * configuration. Production refuses to start without them (see loadConfig). Whoever reads them can
 * forge sessions and open sealed secrets: the folder is 0700, the file 0600, also when an older
 * version created them more open.
 */
export function withDevSecrets(config: Config): Config {
  if (config.isProduction || (config.sessionSecret && config.encryptionKeys.length)) return config;
  ensurePrivateDir(config.dataDir);
  const file = path.join(config.dataDir, 'secrets.json');
  let saved: { sessionSecret?: string; encryptionKey?: string } = {};
  try {
    saved = JSON.parse(readFileSync(file, 'utf8')) as typeof saved;
    chmodSync(file, PRIVATE_FILE_MODE);
  } catch {
    /* not created yet */
  }
  const next = {
    sessionSecret: typeof saved.sessionSecret === 'string' && saved.sessionSecret.length >= 32 ? saved.sessionSecret : randomBytes(48).toString('base64url'),
    encryptionKey:
      typeof saved.encryptionKey === 'string' && Buffer.from(saved.encryptionKey, 'base64url').length === 32 ? saved.encryptionKey : randomBytes(32).toString('base64url'),
  };
  if (next.sessionSecret !== saved.sessionSecret || next.encryptionKey !== saved.encryptionKey) writePrivateFile(file, JSON.stringify(next, null, 2));
  let out = config;
  if (!out.sessionSecret) out = withSessionSecret(out, next.sessionSecret);
  if (!out.encryptionKeys.length) out = withEncryptionKey(out, Buffer.from(next.encryptionKey, 'base64url'));
  return out;
}
