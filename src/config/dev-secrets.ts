import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ensurePrivateDir, PRIVATE_FILE_MODE, writePrivateFile } from '../lib/private-fs';
import { Config, withSessionSecret } from './config';

/**
 * Outside production a missing session secret is generated once and kept in the data folder, so
 * sessions survive restarts without any configuration. Production refuses to start without one
 * (see loadConfig). Whoever reads the secret can forge sessions: the folder is 0700, the file 0600,
 * also when an older version created them more open.
 */
export function withDevSecrets(config: Config): Config {
  if (config.sessionSecret || config.isProduction) return config;
  ensurePrivateDir(config.dataDir);
  const file = path.join(config.dataDir, 'secrets.json');
  try {
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { sessionSecret?: string };
    if (typeof saved.sessionSecret === 'string' && saved.sessionSecret.length >= 32) {
      chmodSync(file, PRIVATE_FILE_MODE);
      return withSessionSecret(config, saved.sessionSecret);
    }
  } catch {
    /* not created yet */
  }
  const sessionSecret = randomBytes(48).toString('base64url');
  writePrivateFile(file, JSON.stringify({ sessionSecret }, null, 2));
  return withSessionSecret(config, sessionSecret);
}
