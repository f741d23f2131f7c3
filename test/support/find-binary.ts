import { accessSync, constants } from 'node:fs';
import path from 'node:path';

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * A program the tests (and the benchmark) run: `env[override]` (and nothing else when it is set),
 * else `usual` (Debian's path), else `name` on PATH.
 */
export function findBinary(override: string, usual: string, name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const chosen = env[override];
  if (chosen) return executable(chosen) ? chosen : undefined;
  const onPath = (env.PATH ?? '').split(path.delimiter).filter(Boolean).map((dir) => path.join(dir, name));
  return [usual, ...onPath].find(executable);
}
