import { z } from 'zod';
import { emptyAsAbsent, pageQuerySchema } from '../lib/pagination';

/** Sizes are bounded so one recipe stays well inside the API's 64 kB body limit and a page. */
export const RECIPE_LIMITS = {
  title: 200,
  summary: 1000,
  ingredients: 100,
  ingredient: 200,
  steps: 50,
  step: 2000,
  minutes: 10080, // a week
  servings: 1000,
  query: 200,
} as const;

const kindError = (label: string, kind: string) => (iss: { input?: unknown }) =>
  iss.input === undefined ? `${label} is required.` : `${label} must be ${kind}.`;

const text = (label: string, max: number) =>
  z.string({ error: kindError(label, 'text') }).trim().max(max, `${label} must be at most ${max} characters.`);

const lines = (label: string, item: string, maxItems: number, maxLength: number) =>
  z
    .array(text(item, maxLength).min(1, `${item} must not be empty.`), { error: kindError(label, 'a list of text') })
    .min(1, `${label}: add at least one.`)
    .max(maxItems, `${label}: at most ${maxItems}.`);

const wholeNumber = (label: string, max: number) => {
  const message = `${label} must be a whole number from 1 to ${max}.`;
  return z.number({ error: message }).int(message).min(1, message).max(max, message).nullable();
};

/** The fields of a recipe as clients send them (API JSON; the web form is converted to this). */
const fields = {
  title: text('Title', RECIPE_LIMITS.title).min(1, 'Give the recipe a title.'),
  summary: text('Summary', RECIPE_LIMITS.summary),
  ingredients: lines('Ingredients', 'An ingredient', RECIPE_LIMITS.ingredients, RECIPE_LIMITS.ingredient),
  steps: lines('Steps', 'A step', RECIPE_LIMITS.steps, RECIPE_LIMITS.step),
  minutes: wholeNumber('Minutes', RECIPE_LIMITS.minutes),
  servings: wholeNumber('Servings', RECIPE_LIMITS.servings),
  published: z.boolean({ error: kindError('Published', 'true or false') }),
};

/**
 * Unknown fields are refused, not ignored: a misspelt field ("ingredient") would otherwise be
 * dropped silently and the client would believe it was saved.
 */
const objectError = (iss: { code?: string; keys?: string[] }) =>
  iss.code === 'unrecognized_keys' ? `Unknown field(s): ${(iss.keys ?? []).join(', ')}.` : 'The request body must be a JSON object.';

export const recipeInputSchema = z.strictObject(
  {
    title: fields.title,
    summary: fields.summary.default(''),
    ingredients: fields.ingredients,
    steps: fields.steps,
    minutes: fields.minutes.default(null),
    servings: fields.servings.default(null),
    published: fields.published.default(false),
  },
  { error: objectError },
);

/** PATCH: any subset of the fields; `null` clears minutes or servings. `{}` changes nothing. */
export const recipePatchSchema = z.strictObject(
  {
    title: fields.title.optional(),
    summary: fields.summary.optional(),
    ingredients: fields.ingredients.optional(),
    steps: fields.steps.optional(),
    minutes: fields.minutes.optional(),
    servings: fields.servings.optional(),
    published: fields.published.optional(),
  },
  { error: objectError },
);

export type RecipeInput = z.output<typeof recipeInputSchema>;
export type RecipePatch = z.output<typeof recipePatchSchema>;

/** Recipes are listed newest first; the cursor holds the last id shown. */
export const recipeCursorSchema = z.strictObject({ id: z.number().int().positive().max(Number.MAX_SAFE_INTEGER) });

export const recipeListQuerySchema = pageQuerySchema(recipeCursorSchema).extend({
  q: emptyAsAbsent(
    z.string({ error: 'q must be given once.' }).trim().max(RECIPE_LIMITS.query, `q must be at most ${RECIPE_LIMITS.query} characters.`).optional(),
  ),
  mine: emptyAsAbsent(
    z
      .enum(['true', 'false', '1', '0'], { error: 'mine must be true or false.' })
      .transform((v) => v === 'true' || v === '1')
      .optional(),
  ).transform((v) => v ?? false),
});
