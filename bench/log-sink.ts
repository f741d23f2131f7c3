import { createWriteStream } from 'node:fs';

/**
 * The other end of our server's log pipe in the benchmark's `pipe` rows: reads standard input as
 * a log collector does (a container runtime, systemd's journal, a process manager) and appends
 * it to the file given as the first argument. Exits when the server's end of the pipe closes.
 */
const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: log-sink <file>\n');
  process.exit(2);
}
const out = createWriteStream(file, { flags: 'a' });
process.stdin.pipe(out);
out.on('finish', () => process.exit(0));
// The benchmark stopping (Ctrl-C) reaches us too: keep reading until the server has closed its end.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => undefined);
