import { Request, Response, Router } from 'express';
import { requireLogin } from '../auth/session';
import { idParam } from '../http/params';
import { ValidationError } from '../lib/errors';
import { Recipe } from './recipe.repository';
import { RecipeService } from './recipe.service';

/** The recipe form as typed: ingredients and steps are one per line. */
interface RecipeForm {
  title: string;
  summary: string;
  ingredients: string;
  steps: string;
  minutes: string;
  servings: string;
  published: boolean;
}

const text = (v: unknown) => (typeof v === 'string' ? v : '');
const lines = (value: string) => value.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
/** Blank is "not given"; anything but digits goes to validation as typed, which explains the rule. */
const wholeNumber = (value: string) => (value.trim() === '' ? null : /^\d{1,9}$/.test(value.trim()) ? Number(value.trim()) : value);

function formFromBody(body: unknown): RecipeForm {
  const b = (body ?? {}) as Record<string, unknown>;
  return {
    title: text(b.title),
    summary: text(b.summary),
    ingredients: text(b.ingredients),
    steps: text(b.steps),
    minutes: text(b.minutes),
    servings: text(b.servings),
    published: b.published === 'on',
  };
}

function formFromRecipe(r: Recipe): RecipeForm {
  return {
    title: r.title,
    summary: r.summary,
    ingredients: r.ingredients.join('\n'),
    steps: r.steps.join('\n'),
    minutes: r.minutes === null ? '' : String(r.minutes),
    servings: r.servings === null ? '' : String(r.servings),
    published: r.published,
  };
}

/** The same input the API takes, so the web and the API share one validation. */
const inputFromForm = (f: RecipeForm) => ({
  title: f.title,
  summary: f.summary,
  ingredients: lines(f.ingredients),
  steps: lines(f.steps),
  minutes: wholeNumber(f.minutes),
  servings: wholeNumber(f.servings),
  published: f.published,
});

const ITEM = { ingredients: 'ingredient', steps: 'step' } as const;

/** Validation errors per form field: "steps.3" is shown at the steps box as "(step 4)". */
function formErrors(fields: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [path, message] of Object.entries(fields)) {
    const [field, index] = path.split('.');
    const item = ITEM[field as keyof typeof ITEM];
    out[field] ??= item && index !== undefined ? `${message} (${item} ${Number(index) + 1})` : message;
  }
  return out;
}

function renderForm(res: Response, opts: { recipe?: Recipe; form: RecipeForm; errors?: Record<string, string>; status?: number }) {
  const { recipe } = opts;
  res.status(opts.status ?? 200).render('recipes/form', {
    title: recipe ? `Edit ${recipe.title}` : 'New recipe',
    action: recipe ? `/recipes/${recipe.id}` : '/recipes',
    cancel: recipe ? `/recipes/${recipe.id}` : '/recipes',
    form: opts.form,
    errors: opts.errors ?? {},
  });
}

/** Runs a form save; a validation error shows the form again with each field's message. */
async function saveForm(req: Request, res: Response, save: (input: ReturnType<typeof inputFromForm>) => Promise<Recipe>, recipe?: Recipe) {
  const form = formFromBody(req.body);
  try {
    const saved = await save(inputFromForm(form));
    res.redirect(303, `/recipes/${saved.id}`);
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    renderForm(res, { recipe, form, errors: formErrors(err.fields), status: 400 });
  }
}

/** The recipe pages: search and browse, read, create, edit and delete your own. */
export function recipeWebRoutes(recipes: RecipeService): Router {
  const router = Router();
  router.use('/recipes', requireLogin);

  router.get('/recipes', async (req, res) => {
    const userId = req.user!.id;
    const q = text(req.query.q).slice(0, 1000);
    const mine = req.query.mine === 'true';
    const view = { title: q ? `Recipes: ${q}` : 'Recipes', q, mine, userId };
    try {
      const page = await recipes.list(userId, { q: req.query.q, mine: req.query.mine, cursor: req.query.cursor });
      const more = page.nextCursor && `/recipes?${new URLSearchParams({ ...(q ? { q } : {}), ...(mine ? { mine: 'true' } : {}), cursor: page.nextCursor })}`;
      res.render('recipes/list', { ...view, items: page.items, more, error: undefined });
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      res.status(400).render('recipes/list', { ...view, items: [], more: null, error: err.message });
    }
  });

  router.get('/recipes/new', (_req, res) => renderForm(res, { form: { title: '', summary: '', ingredients: '', steps: '', minutes: '', servings: '', published: false } }));

  router.post('/recipes', (req, res) => saveForm(req, res, (input) => recipes.create(req.user!.id, input)));

  router.get('/recipes/:id', async (req, res) => {
    const userId = req.user!.id;
    const recipe = await recipes.get(userId, idParam(req.params.id));
    res.render('recipes/show', { title: recipe.title, recipe, mine: recipe.authorId === userId });
  });

  router.get('/recipes/:id/edit', async (req, res) => {
    const recipe = await recipes.getOwn(req.user!.id, idParam(req.params.id));
    renderForm(res, { recipe, form: formFromRecipe(recipe) });
  });

  router.post('/recipes/:id', async (req, res) => {
    const recipe = await recipes.getOwn(req.user!.id, idParam(req.params.id));
    await saveForm(req, res, (input) => recipes.update(req.user!.id, recipe.id, input), recipe);
  });

  router.post('/recipes/:id/delete', async (req, res) => {
    await recipes.delete(req.user!.id, idParam(req.params.id));
    res.redirect(303, '/recipes?mine=true');
  });

  return router;
}
