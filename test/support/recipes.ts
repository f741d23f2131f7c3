import { randomBytes, randomUUID } from 'node:crypto';
import { createUser, TestContext } from './context';
import { issueAccessToken } from './tokens';

/** A word no other test uses (letters only, so full-text search treats it as one word). */
export const uniqueWord = (length = 12) => Array.from(randomBytes(length), (b) => String.fromCharCode(97 + (b % 26))).join('');

/** A valid API body for a new recipe, published unless told otherwise. */
export function recipeInput(overrides: Record<string, unknown> = {}) {
  return {
    title: `Test recipe ${randomUUID().slice(0, 8)}`,
    summary: 'Something quick for a test.',
    ingredients: ['2 eggs', '1 pinch of salt'],
    steps: ['Whisk the eggs with the salt.', 'Cook over low heat, stirring.', 'Serve at once.'],
    minutes: 10,
    servings: 1,
    published: true,
    ...overrides,
  };
}

export function createRecipe(ctx: TestContext, authorId: number, overrides: Record<string, unknown> = {}) {
  return ctx.services.recipes.create(authorId, recipeInput(overrides));
}

/** A new user with a live access token for the API, as `Authorization` header value. */
export async function apiUser(ctx: TestContext, scope: string[] = ['read', 'write']) {
  const user = await createUser(ctx, { name: 'API Cook' });
  const { token } = await issueAccessToken(ctx, { userId: user.id, scope });
  return { user, token, auth: `Bearer ${token}` };
}
