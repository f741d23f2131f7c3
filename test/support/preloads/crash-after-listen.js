// Loaded with `node --require` by test/reliability/request-log.test.ts: once the server listens,
// it logs one line and throws an uncaught exception, as a bug in a handler would.
const http = require('node:http');
const { logger } = require('../../../dist/src/lib/logger.js');

const listen = http.Server.prototype.listen;
http.Server.prototype.listen = function (...args) {
  this.once('listening', () =>
    setTimeout(() => {
      logger.info('the last line before the crash');
      throw new Error('a crash for the test');
    }, 300),
  );
  return listen.apply(this, args);
};
