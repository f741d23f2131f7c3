import { Server } from 'node:http';
import { createApp } from './app';
import { Config, ConfigError, loadConfig } from './config/config';
import { withDevSecrets } from './config/dev-secrets';
import { openDatabase } from './db/database';
import { DataDirLockedError } from './db/embedded';
import { logger, setLogLevel } from './lib/logger';
import { createServices } from './services';

/** The composition root: config -> database -> services -> app -> listen. Only here: env and exit. */
async function main(): Promise<void> {
  let config: Config;
  try {
    config = withDevSecrets(loadConfig(process.env));
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n\nSee .env.example for every variable and its meaning.\n`);
      process.exit(1);
    }
    throw err;
  }
  setLogLevel(config.logLevel);

  let db;
  try {
    db = await openDatabase(config, { mode: 'server', migrate: true });
  } catch (err) {
    if (err instanceof DataDirLockedError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const services = createServices(config, db.knex);
  const app = createApp({ config, knex: db.knex, services });
  const server: Server = app.listen(config.port, config.host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  }).catch(async (err: NodeJS.ErrnoException) => {
    process.stderr.write(err.code === 'EADDRINUSE' ? `Port ${config.port} is already in use. Set PORT to another port.\n` : `${err.message}\n`);
    await db.close();
    process.exit(1);
  });
  server.requestTimeout = config.requestTimeoutSeconds * 1000;
  server.headersTimeout = Math.min(server.requestTimeout, 10000);
  server.keepAliveTimeout = 5000;

  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  printWelcome(config, port, db.embedded, (await services.users.count()) === 0);

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing in-flight requests');
    const force = setTimeout(() => {
      logger.warn('shutdown timeout: closing remaining connections');
      server.closeAllConnections();
    }, config.shutdownTimeoutSeconds * 1000);
    force.unref();
    server.close(async () => {
      try {
        await db.close();
      } catch (err) {
        logger.error({ err }, 'error while closing the database');
      }
      clearTimeout(force);
      logger.info('stopped');
      process.exit(0);
    });
    server.closeIdleConnections();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

function printWelcome(config: Config, port: number, embedded: boolean, noUsersYet: boolean): void {
  const url = config.publicUrl;
  const lines = [
    '',
    `Linkbridge is running: ${url}  (listening on ${config.host}:${port})`,
    embedded
      ? `Database: embedded PostgreSQL in ${config.dataDir} (set DATABASE_URL to use a PostgreSQL server)`
      : 'Database: PostgreSQL from DATABASE_URL',
    '',
    'Next steps (in another terminal):',
    '  1. Create a user:         npm run cli -- users:create --email you@example.com --password "a long password" --admin',
    '  2. Register Alexa:        npm run cli -- alexa:setup --vendor-id <YOUR_VENDOR_ID> --base-url https://<your-public-host>',
    '                            (for a local try-out add --allow-http; Alexa itself needs HTTPS on port 443)',
    `  3. Sign in:               ${url}/login`,
    ...(noUsersYet
      ? ['', 'Just looking around? Load a demo user and a dozen recipes (it prints the sign-in details):', '  npm run cli -- db:seed']
      : []),
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((err) => {
  logger.fatal({ err }, 'failed to start');
  process.stderr.write(`Linkbridge failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
