import { readFileSync } from 'node:fs';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import path from 'node:path';
import { RequestEnvelope, ResponseEnvelope } from 'ask-sdk-model';
import request from 'supertest';
import { createSkill, handler, optionsFromEnv, SkillOptions } from '../../examples/alexa-skill/src/index';
import { SkillLog } from '../../examples/alexa-skill/src/skill';
import { AlexaSimulator, createAlexaClient } from '../support/alexa';
import { accountLinkedEvent, AlexaSession, alexaUserId, skillDisabledEvent, skillId } from '../support/alexa-envelopes';
import { createTestContext, createUser, TestContext } from '../support/context';
import { apiUser, createRecipe } from '../support/recipes';

/**
 * The example skill (examples/alexa-skill) against the real server on a real port and database:
 * request envelopes shaped like Alexa's go into the skill, and we check what it says and shows.
 */

let ctx: TestContext;
let server: Server;
let baseUrl: string;
/** A port on this machine where nothing listens. */
let closedUrl: string;

function listen(s: Server): Promise<string> {
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(s.address() as AddressInfo).port}`)));
}

const close = (s: Server) =>
  new Promise<void>((resolve) => {
    s.closeAllConnections?.();
    s.close(() => resolve());
  });

beforeAll(async () => {
  ctx = createTestContext();
  server = ctx.app.listen(0);
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const probe = createServer();
  closedUrl = await listen(probe);
  await close(probe);
});
afterAll(async () => {
  await close(server);
  await ctx.close();
});

/** Collects what the skill logs, so failures can be checked and the test output stays quiet. */
function memoryLog() {
  const lines: Array<{ level: string; message: string; detail?: Record<string, unknown> }> = [];
  const log: SkillLog = {
    info: (message, detail) => lines.push({ level: 'info', message, detail }),
    error: (message, detail) => lines.push({ level: 'error', message, detail }),
  };
  return { log, lines };
}

function skillFor(opts: Partial<SkillOptions> = {}) {
  const { log, lines } = memoryLog();
  const skill = createSkill({ apiBaseUrl: baseUrl, timeoutMs: 2000, log, ...opts });
  return { skill, lines };
}

/** The text Alexa would say, without the <speak> wrapper. */
const speech = (res: ResponseEnvelope) => (res.response.outputSpeech as { ssml: string } | undefined)?.ssml.replace(/^<speak>|<\/speak>$/g, '') ?? '';
const cardType = (res: ResponseEnvelope) => res.response.card?.type;

const LINK_SPEECH = 'To use Recipe Reader, please link your account in the Alexa app.';
const SORRY_SPEECH = "Sorry, I can't reach your recipes right now. Please try again in a moment.";

/** A user linked through the real OAuth flow, with two bookmarked recipes (one with XML-special characters). */
async function linkedCook() {
  const user = await createUser(ctx, { name: 'Ada & <Bob>' });
  const client = await createAlexaClient(ctx);
  const alexa = new AlexaSimulator(ctx.app, client);
  const tokens = await alexa.link(user);
  const pasta = await createRecipe(ctx, user.id, {
    title: 'Lemon & Garlic Pasta <Quick>',
    ingredients: ['200 g spaghetti', '1 lemon', '2 cloves of garlic'],
    steps: ['Boil the pasta in salted water.', 'Fry the garlic & lemon zest < 2 minutes.', 'Toss everything together.'],
    minutes: 15,
  });
  const soup = await createRecipe(ctx, user.id, { title: 'Tomato Soup', steps: ['Simmer the tomatoes.'] });
  await ctx.services.bookmarks.add(user.id, soup.id);
  await ctx.services.bookmarks.add(user.id, pasta.id);
  const alexaUser = { userId: alexaUserId(), accessToken: tokens.access_token };
  return { user, client, alexa, tokens, pasta, soup, alexaUser };
}

describe('the example skill without a usable link', () => {
  it('when the request has no access token, then it asks to link the account and shows a LinkAccount card', async () => {
    const { skill } = skillFor();
    const session = new AlexaSession({ userId: alexaUserId() });
    for (const envelope of [session.launch(), session.intent('ListBookmarksIntent'), session.intent('ReadRecipeIntent', { recipe: 'soup' })]) {
      const res = await skill.invoke(envelope);
      expect(speech(res)).toBe(LINK_SPEECH);
      expect(cardType(res)).toBe('LinkAccount');
      expect(res.response.shouldEndSession).toBe(true);
    }
  });

  it('when our API answers 401 (revoked or unknown token), then it asks to link the account again', async () => {
    const { skill } = skillFor();
    const { client, alexa, alexaUser } = await linkedCook();
    expect(speech(await skill.invoke(new AlexaSession(alexaUser).launch()))).toContain('Welcome to Recipe Reader');
    await request(ctx.app).post('/oauth/revoke').type('form').auth(client.clientId, client.clientSecret).send({ token: alexa.tokens!.refresh_token });
    for (const accessToken of [alexaUser.accessToken, 'lb_at_not-a-real-token']) {
      const res = await skill.invoke(new AlexaSession({ ...alexaUser, accessToken }).intent('ListBookmarksIntent'));
      expect(speech(res)).toBe(LINK_SPEECH);
      expect(cardType(res)).toBe('LinkAccount');
    }
  });

  it('when the token lacks the read scope (403), then it names the missing permission', async () => {
    const { skill } = skillFor();
    const writeOnly = await apiUser(ctx, ['write']);
    const res = await skill.invoke(new AlexaSession({ userId: alexaUserId(), accessToken: writeOnly.token }).intent('ListBookmarksIntent'));
    expect(speech(res)).toBe('Recipe Reader is missing the read permission, to see your recipes and bookmarks. Please link your account again in the Alexa app and allow it.');
    expect(cardType(res)).toBe('LinkAccount');
  });
});

describe('the example skill with a linked account', () => {
  it('when launched, then it greets the user by name (SSML-escaped)', async () => {
    const { skill } = skillFor();
    const { alexaUser } = await linkedCook();
    const res = await skill.invoke(new AlexaSession(alexaUser).launch());
    expect(speech(res)).toBe('Welcome to Recipe Reader, Ada &amp; &lt;Bob&gt;. You can ask for your bookmarks, or say read recipe, followed by its name.');
    expect(res.response.shouldEndSession).toBe(false);
    expect(res.response.reprompt).toBeDefined();
  });

  it('when asked "what are my bookmarks", then it reads the titles, newest first, and shows them on a card', async () => {
    const { skill } = skillFor();
    const { alexaUser } = await linkedCook();
    const res = await skill.invoke(new AlexaSession(alexaUser).intent('ListBookmarksIntent'));
    expect(speech(res)).toBe('You have 2 bookmarks: Lemon &amp; Garlic Pasta &lt;Quick&gt; and Tomato Soup. Say read recipe, followed by its name.');
    expect(res.response.card).toEqual({ type: 'Simple', title: 'Recipe Reader: your bookmarks', content: '• Lemon & Garlic Pasta <Quick>\n• Tomato Soup' });
  });

  it('when the user has no bookmarks, then it says how to add one', async () => {
    const { skill } = skillFor();
    const { token } = await apiUser(ctx, ['read']);
    const res = await skill.invoke(new AlexaSession({ userId: alexaUserId(), accessToken: token }).intent('ListBookmarksIntent'));
    expect(speech(res)).toBe('You have no bookmarks yet. Bookmark a recipe on the website, then ask me again.');
  });

  it('when asked to read a bookmarked recipe, then it reads step by step with "next step" and "repeat", keeping its place in the session', async () => {
    const { skill } = skillFor();
    const { alexaUser, pasta } = await linkedCook();
    const session = new AlexaSession(alexaUser);
    const turn = async (envelope: ReturnType<AlexaSession['launch']>) => {
      const res = await skill.invoke(envelope);
      session.remember(res);
      return res;
    };

    const read = await turn(session.intent('ReadRecipeIntent', { recipe: 'the lemon garlic pasta' }));
    expect(speech(read)).toBe(
      'Here is Lemon &amp; Garlic Pasta &lt;Quick&gt;. It takes about 15 minutes. You need 200 g spaghetti, 1 lemon, and 2 cloves of garlic. ' +
        'Step 1 of 3: Boil the pasta in salted water. Say next step when you are ready, or repeat.',
    );
    expect(read.sessionAttributes).toEqual({ reading: { recipeId: pasta.id, title: pasta.title, step: 0 } });
    expect(read.response.card).toMatchObject({ type: 'Simple', title: 'Lemon & Garlic Pasta <Quick>' });
    expect(read.response.shouldEndSession).toBe(false);

    expect(speech(await turn(session.intent('NextStepIntent')))).toBe('Step 2 of 3: Fry the garlic &amp; lemon zest &lt; 2 minutes. Say next step when you are ready, or repeat.');
    expect(speech(await turn(session.intent('RepeatIntent')))).toBe('Step 2 of 3: Fry the garlic &amp; lemon zest &lt; 2 minutes. Say next step when you are ready, or repeat.');
    expect(speech(await turn(session.intent('NextStepIntent')))).toBe('Step 3 of 3: Toss everything together. That is the last step.');
    const done = await turn(session.intent('NextStepIntent'));
    expect(speech(done)).toBe('That was the last step of Lemon &amp; Garlic Pasta &lt;Quick&gt;. Enjoy your meal!');
    expect(done.response.shouldEndSession).toBe(true);
    expect(done.sessionAttributes).toEqual({});
  });

  it('when the name matches no bookmark, or no name was heard, or nothing is being read, then it says what to do', async () => {
    const { skill } = skillFor();
    const { alexaUser } = await linkedCook();
    const session = new AlexaSession(alexaUser);
    expect(speech(await skill.invoke(session.intent('ReadRecipeIntent', { recipe: 'beef wellington' })))).toBe(
      "I couldn't find beef wellington in your bookmarks. Ask for your bookmarks to hear their names.",
    );
    expect(speech(await skill.invoke(session.intent('ReadRecipeIntent', { recipe: undefined })))).toBe(
      'Which recipe? Say read recipe, followed by the name of one of your bookmarks.',
    );
    for (const intent of ['NextStepIntent', 'RepeatIntent']) {
      expect(speech(await skill.invoke(session.intent(intent)))).toBe('Which recipe? Say read recipe, followed by the name of one of your bookmarks.');
    }
  });

  it('when the recipe being read was deleted, then it says so and forgets it', async () => {
    const { skill } = skillFor();
    const { user, alexaUser, soup } = await linkedCook();
    const session = new AlexaSession(alexaUser);
    session.remember(await skill.invoke(session.intent('ReadRecipeIntent', { recipe: 'tomato soup' })));
    expect(session.attributes.reading).toMatchObject({ recipeId: soup.id });
    await ctx.services.recipes.delete(user.id, soup.id);
    const res = await skill.invoke(session.intent('RepeatIntent'));
    expect(speech(res)).toBe('That recipe is no longer available. Ask for your bookmarks to pick another.');
    expect(res.sessionAttributes).toEqual({});
  });

  it('when asked for help, to stop, to cancel, to go home, or something it does not know, then it answers without calling the API', async () => {
    const { skill } = skillFor({ apiBaseUrl: closedUrl });
    const session = new AlexaSession({ userId: alexaUserId() });
    const help = await skill.invoke(session.intent('AMAZON.HelpIntent'));
    expect(speech(help)).toContain('You can say: what are my bookmarks.');
    expect(help.response.shouldEndSession).toBe(false);
    for (const intent of ['AMAZON.StopIntent', 'AMAZON.CancelIntent', 'AMAZON.NavigateHomeIntent']) {
      const res = await skill.invoke(session.intent(intent));
      expect(speech(res)).toBe('Goodbye, and happy cooking!');
      expect(res.response.shouldEndSession).toBe(true);
    }
    expect(speech(await skill.invoke(session.intent('AMAZON.FallbackIntent')))).toContain("Sorry, I didn't get that.");
    expect((await skill.invoke(session.sessionEnded())).response).toEqual({});
  });
});

describe('the example skill when the API is down or slow', () => {
  let hanging: Server;
  let hangingUrl: string;
  let failing: Server;
  let failingUrl: string;

  beforeAll(async () => {
    hanging = createServer(() => {
      // never answers
    });
    hangingUrl = await listen(hanging);
    failing = createServer((req, res) => {
      if (req.url?.startsWith('/api/me')) res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"id": 1, "na');
      else res.writeHead(503, { 'Content-Type': 'application/json' }).end('{"error":"temporarily_unavailable"}');
    });
    failingUrl = await listen(failing);
  });
  afterAll(async () => {
    await close(hanging);
    await close(failing);
  });

  it('when nothing listens on the port, then it apologises and ends the session', async () => {
    const { skill, lines } = skillFor({ apiBaseUrl: closedUrl });
    const res = await skill.invoke(new AlexaSession({ userId: alexaUserId(), accessToken: 'lb_at_x' }).launch());
    expect(speech(res)).toBe(SORRY_SPEECH);
    expect(res.response.shouldEndSession).toBe(true);
    expect(lines).toContainEqual(expect.objectContaining({ level: 'error', message: 'recipes API unavailable' }));
  });

  it('when the API never answers, then the call times out well inside Alexa\'s 8 seconds and it apologises', async () => {
    const { skill } = skillFor({ apiBaseUrl: hangingUrl, timeoutMs: 300 });
    const started = Date.now();
    const res = await skill.invoke(new AlexaSession({ userId: alexaUserId(), accessToken: 'lb_at_x' }).intent('ListBookmarksIntent'));
    expect(Date.now() - started).toBeLessThan(2000);
    expect(speech(res)).toBe(SORRY_SPEECH);
  });

  it('when the API answers 5xx or a body that is not JSON, then it apologises', async () => {
    const { skill } = skillFor({ apiBaseUrl: failingUrl });
    const session = new AlexaSession({ userId: alexaUserId(), accessToken: 'lb_at_x' });
    expect(speech(await skill.invoke(session.launch()))).toBe(SORRY_SPEECH);
    expect(speech(await skill.invoke(session.intent('ListBookmarksIntent')))).toBe(SORRY_SPEECH);
  });

  it('when the API fails in the middle of a recipe, then the session stays open with its place, so "repeat" can retry', async () => {
    const { alexaUser, pasta } = await linkedCook();
    const session = new AlexaSession(alexaUser);
    session.remember(await skillFor().skill.invoke(session.intent('ReadRecipeIntent', { recipe: 'lemon garlic pasta' })));
    const res = await skillFor({ apiBaseUrl: closedUrl }).skill.invoke(session.intent('NextStepIntent'));
    expect(speech(res)).toBe(SORRY_SPEECH);
    expect(res.response.shouldEndSession).toBe(false);
    expect(res.sessionAttributes).toEqual({ reading: { recipeId: pasta.id, title: pasta.title, step: 0 } });
  });
});

describe('the example skill forwards skill events to the server', () => {
  it('when Alexa sends SkillAccountLinked and then SkillDisabled, then the server records the userId, and later revokes the link', async () => {
    const { client, alexaUser, tokens, user } = await linkedCook();
    const { skill, lines } = skillFor({ eventsUrl: `${baseUrl}/alexa/skill-events`, eventsAuth: { clientId: client.clientId, clientSecret: client.clientSecret } });

    const linked = await skill.invoke(accountLinkedEvent(alexaUser, tokens.access_token) as unknown as RequestEnvelope);
    expect(linked.response).toEqual({});
    const grant = () => ctx.knex('oauth_grants').where({ user_id: user.id }).first();
    expect((await grant()).alexa_user_id).toBe(alexaUser.userId);
    expect(lines).toContainEqual({ level: 'info', message: 'skill event forwarded', detail: { type: 'AlexaSkillEvent.SkillAccountLinked', status: 200 } });

    const disabled = await skill.invoke(skillDisabledEvent(alexaUser) as unknown as RequestEnvelope);
    expect(disabled.response).toEqual({});
    expect((await grant()).revoked_at).toBeInstanceOf(Date);
    const after = await skill.invoke(new AlexaSession(alexaUser).launch());
    expect(speech(after)).toBe(LINK_SPEECH);
    expect(cardType(after)).toBe('LinkAccount');
  });

  it('when the server refuses the event or cannot be reached, then the skill logs why and still acknowledges the event', async () => {
    const { client, alexaUser, tokens, user } = await linkedCook();
    const wrongSecret = skillFor({ eventsUrl: `${baseUrl}/alexa/skill-events`, eventsAuth: { clientId: client.clientId, clientSecret: 'lb_cs_wrong' } });
    expect((await wrongSecret.skill.invoke(accountLinkedEvent(alexaUser, tokens.access_token) as unknown as RequestEnvelope)).response).toEqual({});
    expect(wrongSecret.lines).toContainEqual(
      expect.objectContaining({ level: 'error', message: 'skill event not accepted by the server', detail: expect.objectContaining({ status: 401 }) }),
    );
    const unreachable = skillFor({ eventsUrl: `${closedUrl}/alexa/skill-events`, eventsAuth: { clientId: client.clientId, clientSecret: client.clientSecret } });
    expect((await unreachable.skill.invoke(accountLinkedEvent(alexaUser, tokens.access_token) as unknown as RequestEnvelope)).response).toEqual({});
    expect(unreachable.lines).toContainEqual(expect.objectContaining({ level: 'error', message: 'skill event not accepted by the server' }));
    const notConfigured = skillFor();
    expect((await notConfigured.skill.invoke(skillDisabledEvent(alexaUser) as unknown as RequestEnvelope)).response).toEqual({});
    expect(notConfigured.lines[0].message).toMatch(/not forwarded/);
    expect((await ctx.knex('oauth_grants').where({ user_id: user.id }).first()).alexa_user_id).toBeNull();
  });
});

describe('the example skill as deployed', () => {
  it('when the Lambda handler runs with its environment, then it answers like the skill', async () => {
    const { client, alexaUser } = await linkedCook();
    const env = { API_BASE_URL: baseUrl, LINKBRIDGE_CLIENT_ID: client.clientId, LINKBRIDGE_CLIENT_SECRET: client.clientSecret };
    Object.assign(process.env, env);
    try {
      const res = await handler(new AlexaSession(alexaUser).intent('ListBookmarksIntent'));
      expect(speech(res)).toContain('You have 2 bookmarks');
    } finally {
      for (const name of Object.keys(env)) delete process.env[name];
    }
  });

  it('reads its settings from the environment, with the events URL on the same server by default', () => {
    expect(() => optionsFromEnv({})).toThrow(/API_BASE_URL/);
    expect(() => optionsFromEnv({ API_BASE_URL: 'https://a.example', API_TIMEOUT_MS: '9000' })).toThrow(/API_TIMEOUT_MS/);
    expect(optionsFromEnv({ API_BASE_URL: 'https://a.example/' })).toEqual({ apiBaseUrl: 'https://a.example/', timeoutMs: undefined, skillId: undefined });
    expect(optionsFromEnv({ API_BASE_URL: 'https://a.example/', LINKBRIDGE_CLIENT_ID: 'id', LINKBRIDGE_CLIENT_SECRET: 'secret', API_TIMEOUT_MS: '2000' })).toMatchObject({
      timeoutMs: 2000,
      eventsUrl: 'https://a.example/alexa/skill-events',
      eventsAuth: { clientId: 'id', clientSecret: 'secret' },
    });
  });

  it('when a request is for another skill, then it is refused', async () => {
    const { skill } = skillFor({ skillId: skillId() });
    await expect(skill.invoke(new AlexaSession({ userId: alexaUserId(), applicationId: skillId() }).launch())).rejects.toThrow();
  });

  it('has an en-US interaction model with an intent for every handler, and a handler for every intent', async () => {
    const model = JSON.parse(readFileSync(path.join(__dirname, '../../examples/alexa-skill/models/en-US.json'), 'utf8')).interactionModel.languageModel;
    expect(model.invocationName).toMatch(/^[a-z ]+$/);
    const intents = (model.intents as Array<{ name: string; slots?: Array<{ name: string; type: string }>; samples: string[] }>).map((i) => i.name).sort();
    expect(intents).toEqual(
      [
        'AMAZON.CancelIntent',
        'AMAZON.FallbackIntent',
        'AMAZON.HelpIntent',
        'AMAZON.NavigateHomeIntent',
        'AMAZON.StopIntent',
        'ListBookmarksIntent',
        'NextStepIntent',
        'ReadRecipeIntent',
        'RepeatIntent',
      ].sort(),
    );
    const read = model.intents.find((i: { name: string }) => i.name === 'ReadRecipeIntent');
    expect(read.slots).toEqual([{ name: 'recipe', type: 'AMAZON.SearchQuery' }]);
    expect(read.samples).toContain('read recipe {recipe}');
    // Every intent gets an answer that is not the generic error.
    const { skill } = skillFor({ apiBaseUrl: closedUrl });
    for (const name of intents) {
      const res = await skill.invoke(new AlexaSession({ userId: alexaUserId() }).intent(name));
      expect(speech(res)).not.toBe('Sorry, something went wrong. Please try again.');
    }
  });
});
