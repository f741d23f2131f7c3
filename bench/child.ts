import { Server } from 'node:http';
import pg from 'pg';

/**
 * What the floor and the peer (child processes of bench/run.ts) share: listen on 127.0.0.1, tell
 * the parent over IPC, and stop cleanly on SIGTERM/SIGINT or when the parent goes away.
 */
export async function serveChild(server: Server, port: number, pool: pg.Pool, ready: Record<string, unknown> = {}): Promise<void> {
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const addr = server.address();
  process.send?.({ type: 'ready', port: typeof addr === 'object' && addr ? addr.port : port, ...ready });

  const stop = () => {
    server.close(() => pool.end().finally(() => process.exit(0)));
    server.closeIdleConnections();
    setTimeout(() => process.exit(0), 3000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // The orchestrator went away (crash or kill): do not linger.
  process.on('disconnect', stop);
}
