import cluster from 'node:cluster';
import { Server } from 'node:http';
import { createApp } from './app';
import { Config, ConfigError, loadConfig } from './config/config';
import { withDevSecrets } from './config/dev-secrets';
import { openDatabase } from './db/database';
import { DataDirLockedError } from './db/embedded';
import { collectWhenIdle } from './lib/idle-gc';
import { DataDirOwnerError } from './lib/private-fs';
import { bufferLogOutput, flushLogOutput, logger, setLogLevel } from './lib/logger';
import { createMetricsApp } from './metrics/metrics.routes';
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
    if (err instanceof DataDirOwnerError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  setLogLevel(config.logLevel);
  bufferLogOutput();
  logCrashes();
  if (config.webConcurrency > 1 && cluster.isPrimary) return runPrimary(config);
  return runServer(config, cluster.isWorker);
}

/**
 * WEB_CONCURRENCY > 1: the primary applies migrations once, forks the workers (which share the
 * listening socket), replaces a worker that dies, and on SIGTERM lets every worker finish its
 * in-flight requests before exiting 0. Only with DATABASE_URL (config refuses it otherwise).
 */
async function runPrimary(config: Config): Promise<void> {
  const db = await openDatabase(config, { mode: 'server', migrate: true });
  const noUsersYet = (await createServices(config, db.knex).accounts.count()) === 0;
  await db.close();

  let stopping = false;
  let listening = 0;
  const recentCrashes: number[] = [];
  const fork = () => cluster.fork();
  cluster.on('listening', (_worker, address) => {
    listening++;
    if (listening === config.webConcurrency) printWelcome(config, address.port, false, noUsersYet, config.webConcurrency);
  });
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) {
        logger.info('all workers stopped');
        process.exit(0);
      }
      return;
    }
    logger.error({ workerPid: worker.process.pid, code, signal }, 'worker died; starting a new one');
    const now = Date.now();
    recentCrashes.push(now);
    while (recentCrashes.length && recentCrashes[0] < now - 10000) recentCrashes.shift();
    if (recentCrashes.length > 5) {
      logger.fatal('workers keep dying; giving up');
      process.exit(1);
    }
    fork();
  });
  for (let i = 0; i < config.webConcurrency; i++) fork();

  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down the workers');
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
    setTimeout(() => {
      logger.warn('workers did not stop in time');
      process.exit(1);
    }, (config.shutdownTimeoutSeconds + 5) * 1000).unref();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

/** One server process: the whole server, or one worker of a cluster. */
async function runServer(config: Config, isWorker: boolean): Promise<void> {
  let db;
  try {
    db = await openDatabase(config, { mode: 'server', migrate: !isWorker });
  } catch (err) {
    if (err instanceof DataDirLockedError || err instanceof DataDirOwnerError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const services = createServices(config, db.knex);
  // With a PostgreSQL server, listen for revocations so validated tokens and clients can be
  // cached in this process. The embedded database is not shared with other servers, but the CLI
  // can change it from another process, so caching stays off there. Behind a transaction pooler
  // the listener connects to PostgreSQL directly (DATABASE_LISTEN_URL).
  if (config.databaseUrl && config.databaseListenUrl) await services.revocations.start(config.databaseListenUrl, config.databaseUrl);
  if (!config.mail.smtpUrl && config.isProduction) {
    logger.warn({ outbox: config.mail.outboxDir }, 'no SMTP_URL: mails (password resets, confirmations) are only written to the outbox folder');
  }
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
  // METRICS_PORT: /metrics without a token, on loopback only (never the public interface).
  let metricsServer: Server | undefined;
  if (config.metrics.port) {
    metricsServer = createMetricsApp(services.metrics.registry).listen(config.metrics.port, '127.0.0.1');
    metricsServer.on('error', (err: NodeJS.ErrnoException) => {
      logger.error({ err, port: config.metrics.port }, 'metrics listener failed; /metrics is not served on METRICS_PORT');
    });
  }
  server.requestTimeout = config.requestTimeoutSeconds * 1000;
  server.headersTimeout = Math.min(server.requestTimeout, 10000);
  server.keepAliveTimeout = 5000;
  // The token cache's entries past its 5-minute backstop, dropped even when nothing new is stored.
  const cacheSweep = setInterval(() => services.tokenCache.sweep(), 60_000);
  cacheSweep.unref();
  const idleGc = config.idleGcSeconds > 0
    ? collectWhenIdle(server, {
        idleSeconds: config.idleGcSeconds,
        // Health probes (a load balancer's, Kubernetes') keep coming to an idle server: not load.
        ignorePaths: ['/healthz', '/readyz'],
        onCollect: (c) => logger.debug({ heapBeforeMb: mb(c.heapBefore), heapAfterMb: mb(c.heapAfter), ms: Math.round(c.ms), how: c.how }, 'idle: garbage collected'),
        onFallback: (err) => logger.warn({ err }, 'idle: the inspector could not run a memory-reducing collection; ran a full one'),
      })
    : undefined;

  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  if (!isWorker) printWelcome(config, port, db.embedded, (await services.accounts.count()) === 0, 1);

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
    metricsServer?.close();
    idleGc?.stop();
    clearInterval(cacheSweep);
    server.close(async () => {
      try {
        // Mails already queued get a few seconds to leave; the rest can be asked for again.
        await Promise.race([services.mail.idle(), new Promise((r) => setTimeout(r, 3000).unref())]);
        services.mail.close();
        await services.timeline.stop(); // the buffered link events are written
        await services.revocations.stop();
        await db.close();
      } catch (err) {
        logger.error({ err }, 'error while closing the database');
      }
      clearTimeout(force);
      logger.info('stopped');
      process.exit(0);
    });
    // Keep-alive connections that finish their last request while we wait are closed too, so
    // the exit does not wait for their idle timeout.
    setInterval(() => server.closeIdleConnections(), 100).unref();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

const mb = (bytes: number) => Math.round(bytes / 1048576);

function printWelcome(config: Config, port: number, embedded: boolean, noUsersYet: boolean, processes: number): void {
  const url = config.publicUrl;
  const lines = [
    '',
    `Linkbridge is running: ${url}  (listening on ${config.host}:${port}${processes > 1 ? `, ${processes} worker processes` : ''})`,
    embedded
      ? `Database: embedded PostgreSQL in ${config.dataDir}, on a socket only you can open (set DATABASE_URL to use a PostgreSQL server)`
      : config.databasePooling === 'transaction'
        ? 'Database: PostgreSQL through a transaction pooler at DATABASE_URL (DATABASE_POOLING=transaction: unnamed statements); revocations listen on DATABASE_LISTEN_URL'
        : 'Database: PostgreSQL from DATABASE_URL (DATABASE_POOLING=session)',
    config.mail.smtpUrl
      ? 'Mail: sent through SMTP_URL'
      : `Mail: written to ${config.mail.outboxDir} (set SMTP_URL to send it); read it with: npm run cli -- mail:outbox`,
    '',
    'Next steps (in another terminal):',
    '  1. Create a user:         npm run cli -- users:create --email you@example.com --admin   (asks for the password)',
    '  2. Register Alexa:        npm run cli -- alexa:setup --vendor-id <YOUR_VENDOR_ID> --base-url https://<your-public-host>',
    '                            (for a local try-out add --allow-http; Alexa itself needs HTTPS on port 443)',
    `  3. Sign in:               ${url}/login`,
    ...(noUsersYet
      ? ['', 'Just looking around? Load a demo user and a dozen recipes (it prints the sign-in details):', '  npm run cli -- db:seed']
      : []),
    '',
  ];
  flushLogOutput(); // the lines logged so far come first
  process.stdout.write(`${lines.join('\n')}\n`);
}

/**
 * A crash is logged (with its stack) and the buffered log lines are written before the process
 * exits 1 (pino flushes its buffer synchronously on exit): the last lines before a crash are the
 * ones an operator needs.
 */
function logCrashes(): void {
  const crash = (kind: string) => (err: unknown) => {
    logger.fatal({ err }, kind);
    process.exit(1);
  };
  process.on('uncaughtException', crash('uncaught exception: exiting'));
  process.on('unhandledRejection', crash('unhandled promise rejection: exiting'));
}

main().catch((err) => {
  logger.fatal({ err }, 'failed to start');
  process.stderr.write(`Linkbridge failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
