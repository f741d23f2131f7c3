import { rejectNulBytes } from '../http/params';
import express, { RequestHandler, Router } from 'express';
import { noStore } from '../http/security-headers';
import { oauthErrors } from '../lib/errors';
import { logger } from '../lib/logger';
import { authenticateClient } from '../oauth/clients/client-auth';
import { OAuthClient } from '../oauth/domain';
import { ClientService } from '../oauth/clients/client.service';
import { SkillEventService } from './skill-events.service';

export const SKILL_EVENTS_PATH = '/alexa/skill-events';

/**
 * POST /alexa/skill-events: the skill forwards the Alexa skill events it receives, authenticated
 * with the same client credentials Alexa uses at the token endpoint (HTTP Basic). JSON, no
 * session. The client is authenticated before the body is read, so an unknown caller cannot make
 * us parse anything.
 */
export function skillEventRoutes(deps: { clients: ClientService; skillEvents: SkillEventService }): Router {
  const router = Router();
  const json = express.json({ limit: '16kb', strict: true, type: 'application/json' });

  // Credentials in a JSON body are not a client authentication method (RFC 6749 §2.3.1 defines
  // them for form bodies only): Basic is the one way in, hence the empty body here.
  const authenticate: RequestHandler = async (req, res, next) => {
    if (req.headers.authorization === undefined) throw oauthErrors.invalidClient('Authenticate with HTTP Basic: the client ID and secret of the Alexa client.');
    // Confidential only: a public client's id alone would let anyone who knows a user's Alexa userId unlink them.
    res.locals.client = await authenticateClient(req, {}, deps.clients, { confidential: true });
    next();
  };

  router.use(SKILL_EVENTS_PATH, noStore);
  router
    .route(SKILL_EVENTS_PATH)
    .post(authenticate, json, rejectNulBytes, async (req, res) => {
      if (req.body === undefined) throw oauthErrors.invalidRequest('Send the event as application/json.');
      const { type, result } = await deps.skillEvents.handle(res.locals.client as OAuthClient, req.body);
      logger.info({ reqId: req.id, event: type.slice(0, 100), status: result.status }, 'alexa skill event');
      res.status(200).json(result);
    })
    .all((_req, res) => {
      res.setHeader('Allow', 'POST');
      res.status(405).json({ error: 'invalid_request', error_description: 'Use POST.' });
    });

  return router;
}
