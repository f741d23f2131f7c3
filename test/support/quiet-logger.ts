import { setLogLevel } from '../../src/lib/logger';

// Every test process starts with the logger silent (the server's default is `info`); a test that
// wants lines sets the level itself. LOG_LEVEL=debug npx jest ... shows them.
setLogLevel(process.env.LOG_LEVEL ?? 'silent');
