import { ErrorHandler, getAccountLinkingAccessToken, getIntentName, getRequestType, getSlotValue, HandlerInput, RequestHandler, Skill, SkillBuilders } from 'ask-sdk-core';
import { Response } from 'ask-sdk-model';
import { FetchLike } from './http';
import { ApiProblem, createRecipeApi, Recipe, RecipeApi } from './recipe-api';
import { createSkillEventForwarder, EventsAuth, SkillEventForwarder } from './skill-events';
import { matchTitle, say, SKILL_NAME } from './speech';

export interface SkillLog {
  info(message: string, detail?: Record<string, unknown>): void;
  error(message: string, detail?: Record<string, unknown>): void;
}

export interface SkillOptions {
  /** The Linkbridge server, such as https://auth.example.com. */
  apiBaseUrl: string;
  /** Deadline of each API call (default 2500 ms; a request makes at most two, Alexa waits 8 s). */
  timeoutMs?: number;
  /** https://HOST/alexa/skill-events: where skill events are forwarded (not forwarded when unset). */
  eventsUrl?: string;
  /** The Alexa client's ID and secret, to authenticate the forwarded events (HTTP Basic). */
  eventsAuth?: EventsAuth;
  /** The skill's ID (amzn1.ask.skill.…): requests for any other skill are refused. */
  skillId?: string;
  fetch?: FetchLike;
  log?: SkillLog;
}

/** Where the user is in a recipe, kept in the session attributes between turns. */
interface Reading {
  recipeId: number;
  title: string;
  step: number;
}

const SKILL_EVENT_PREFIX = 'AlexaSkillEvent.';

const requestType = (input: HandlerInput) => getRequestType(input.requestEnvelope);
const isIntent = (input: HandlerInput, ...names: string[]) => requestType(input) === 'IntentRequest' && names.includes(getIntentName(input.requestEnvelope));

/** The linked account's access token; none means the user has not linked (or Alexa dropped the link). */
function accessToken(input: HandlerInput): string {
  const token = getAccountLinkingAccessToken(input.requestEnvelope);
  if (!token) throw new ApiProblem('unauthorized', 'The account is not linked.');
  return token;
}

function reading(input: HandlerInput): Reading | undefined {
  const r = input.attributesManager.getSessionAttributes().reading as Reading | undefined;
  return r && Number.isSafeInteger(r.recipeId) && Number.isSafeInteger(r.step) ? r : undefined;
}

function setReading(input: HandlerInput, r: Reading | undefined): void {
  const attributes = input.attributesManager.getSessionAttributes();
  if (r) attributes.reading = r;
  else delete attributes.reading;
  input.attributesManager.setSessionAttributes(attributes);
}

/** Speaks step `index` of the recipe and remembers it, so "repeat" and "next step" know where we are. */
function speakStep(input: HandlerInput, recipe: Recipe, index: number, intro = ''): Response {
  setReading(input, { recipeId: recipe.id, title: recipe.title, step: index });
  const total = recipe.steps.length;
  const prompt = say.stepPrompt(index, total);
  return input.responseBuilder
    .speak(`${intro ? `${intro} ` : ''}${say.step(index, total, recipe.steps[index])} ${prompt}`)
    .reprompt(index + 1 < total ? prompt : say.whatNext)
    .getResponse();
}

function handlers(api: RecipeApi, forward: SkillEventForwarder | undefined, log: SkillLog): RequestHandler[] {
  const launch: RequestHandler = {
    canHandle: (input) => requestType(input) === 'LaunchRequest',
    async handle(input) {
      // Calling the API at once tells a dead link apart from a live one before the user asks anything.
      const me = await api.me(accessToken(input));
      return input.responseBuilder.speak(say.welcome(me.name)).reprompt(say.whatNext).getResponse();
    },
  };

  const listBookmarks: RequestHandler = {
    canHandle: (input) => isIntent(input, 'ListBookmarksIntent'),
    async handle(input) {
      const items = await api.bookmarks(accessToken(input));
      if (items.length === 0) return input.responseBuilder.speak(say.noBookmarks).reprompt(say.whatNext).getResponse();
      const shown = items.slice(0, 5);
      return input.responseBuilder
        .speak(say.bookmarks(shown.map((b) => b.title), items.length - shown.length))
        .reprompt(say.whichRecipe)
        .withSimpleCard(`${SKILL_NAME}: your bookmarks`, items.map((b) => `• ${b.title}`).join('\n'))
        .getResponse();
    },
  };

  const readRecipe: RequestHandler = {
    canHandle: (input) => isIntent(input, 'ReadRecipeIntent'),
    async handle(input) {
      const token = accessToken(input);
      const heard = (getSlotValue(input.requestEnvelope, 'recipe') ?? '').trim();
      if (!heard) return input.responseBuilder.speak(say.whichRecipe).reprompt(say.whichRecipe).getResponse();
      const bookmark = matchTitle(heard, await api.bookmarks(token));
      if (!bookmark) return input.responseBuilder.speak(say.notBookmarked(heard)).reprompt(say.whatNext).getResponse();
      const recipe = await api.recipe(token, bookmark.recipe_id);
      if (recipe.steps.length === 0) return input.responseBuilder.speak(say.noSteps(recipe.title)).reprompt(say.whatNext).getResponse();
      input.responseBuilder.withSimpleCard(
        recipe.title,
        [...recipe.ingredients.map((i) => `• ${i}`), '', ...recipe.steps.map((s, n) => `${n + 1}. ${s}`)].join('\n'),
      );
      return speakStep(input, recipe, 0, say.recipeStart(recipe));
    },
  };

  const nextOrRepeat: RequestHandler = {
    canHandle: (input) => isIntent(input, 'NextStepIntent', 'RepeatIntent'),
    async handle(input) {
      const token = accessToken(input);
      const current = reading(input);
      if (!current) return input.responseBuilder.speak(say.whichRecipe).reprompt(say.whichRecipe).getResponse();
      // The recipe is fetched again each turn: the session keeps only its id and the step.
      const recipe = await api.recipe(token, current.recipeId);
      const next = getIntentName(input.requestEnvelope) === 'NextStepIntent';
      const index = Math.min(next ? current.step + 1 : current.step, recipe.steps.length);
      if (index >= recipe.steps.length) {
        setReading(input, undefined);
        return input.responseBuilder.speak(say.lastStepDone(recipe.title)).withShouldEndSession(true).getResponse();
      }
      return speakStep(input, recipe, index);
    },
  };

  const help: RequestHandler = {
    canHandle: (input) => isIntent(input, 'AMAZON.HelpIntent'),
    handle: (input) => input.responseBuilder.speak(say.help).reprompt(say.whatNext).getResponse(),
  };

  const stop: RequestHandler = {
    canHandle: (input) => isIntent(input, 'AMAZON.StopIntent', 'AMAZON.CancelIntent', 'AMAZON.NavigateHomeIntent'),
    handle: (input) => input.responseBuilder.speak(say.goodbye).withShouldEndSession(true).getResponse(),
  };

  const fallback: RequestHandler = {
    canHandle: (input) => isIntent(input, 'AMAZON.FallbackIntent'),
    handle: (input) => input.responseBuilder.speak(say.fallback).reprompt(say.whatNext).getResponse(),
  };

  const sessionEnded: RequestHandler = {
    canHandle: (input) => requestType(input) === 'SessionEndedRequest',
    handle: (input) => input.responseBuilder.getResponse(),
  };

  /** Skill events go to the server, which keeps the link records true (SkillAccountLinked, SkillDisabled). */
  const skillEvent: RequestHandler = {
    canHandle: (input) => requestType(input).startsWith(SKILL_EVENT_PREFIX),
    async handle(input) {
      const type = requestType(input);
      if (!forward) {
        log.info('skill event not forwarded: SKILL_EVENTS_URL and the client credentials are not set', { type });
      } else {
        const result = await forward(input.requestEnvelope);
        if (result.ok) log.info('skill event forwarded', { type, status: result.status });
        else log.error('skill event not accepted by the server', { type, status: result.status, error: result.error });
      }
      return input.responseBuilder.getResponse();
    },
  };

  return [launch, listBookmarks, readRecipe, nextOrRepeat, help, stop, fallback, sessionEnded, skillEvent];
}

/** Turns every failure into something the user can act on; the skill never answers with an error. */
function errorHandler(log: SkillLog): ErrorHandler {
  return {
    canHandle: () => true,
    handle(input, error) {
      const rb = input.responseBuilder;
      if (error instanceof ApiProblem) {
        switch (error.kind) {
          case 'unauthorized':
            return rb.speak(say.linkAccount).withLinkAccountCard().withShouldEndSession(true).getResponse();
          case 'forbidden':
            // Linking again is how the user grants the missing permission.
            return rb.speak(say.missingPermission(error.scope)).withLinkAccountCard().withShouldEndSession(true).getResponse();
          case 'not_found':
            if (input.requestEnvelope.session) setReading(input, undefined);
            return rb.speak(say.recipeGone).reprompt(say.whatNext).getResponse();
          case 'unavailable':
            log.error('recipes API unavailable', { reason: error.message });
            // In the middle of a recipe the session stays open (with its place), so "repeat" can retry.
            if (input.requestEnvelope.session && reading(input)) return rb.speak(say.unavailable).reprompt(say.whatNext).getResponse();
            return rb.speak(say.unavailable).withShouldEndSession(true).getResponse();
        }
      }
      log.error('unexpected error', { type: requestType(input), error: String((error as Error)?.stack ?? error) });
      return rb.speak(say.error).withShouldEndSession(true).getResponse();
    },
  };
}

const consoleLog: SkillLog = {
  info: (message, detail) => console.log(JSON.stringify({ level: 'info', message, ...detail })),
  error: (message, detail) => console.error(JSON.stringify({ level: 'error', message, ...detail })),
};

/** The skill, pointed at a Linkbridge server. `skill.invoke(requestEnvelope)` answers one request. */
export function createSkill(options: SkillOptions): Skill {
  const log = options.log ?? consoleLog;
  const api = createRecipeApi({ baseUrl: options.apiBaseUrl, timeoutMs: options.timeoutMs, fetch: options.fetch });
  const forward =
    options.eventsUrl && options.eventsAuth
      ? createSkillEventForwarder({ eventsUrl: options.eventsUrl, auth: options.eventsAuth, timeoutMs: options.timeoutMs, fetch: options.fetch })
      : undefined;
  const builder = SkillBuilders.custom()
    .addRequestHandlers(...handlers(api, forward, log))
    .addErrorHandlers(errorHandler(log));
  if (options.skillId) builder.withSkillId(options.skillId);
  return builder.create();
}
