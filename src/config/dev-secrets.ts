import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Config, withSessionSecret } from './config';

/**
 * Outside production a missing session secret is generated once and kept in the data folder, so
 * sessions survive restarts without any configuration. Production refuses to start without one
 * (see loadConfig).
 */
export function withDevSecrets(config: Config): Config {
  if (config.sessionSecret || config.isProduction) return config;
  const file = path.join(config.dataDir, 'secrets.json');
  try {
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { sessionSecret?: string };
    if (saved.sessionSecret && saved.sessionSecret.length >= 32) return withSessionSecret(config, saved.sessionSecret);
  } catch {
    /* not created yet */
  }
  mkdirSync(config.dataDir, { recursive: true });
  const sessionSecret = randomBytes(48).toString('base64url');
  writeFileSync(file, JSON.stringify({ sessionSecret }, null, 2), { mode: 0o600 });
  return withSessionSecret(config, sessionSecret);
}
