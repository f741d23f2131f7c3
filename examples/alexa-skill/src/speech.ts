/**
 * What the skill says. Every text that comes from the API (titles, steps, names) goes through
 * `ssml()`: the SDK wraps speech in <speak>, so a "&" or "<" in a recipe would break the answer.
 */

export const SKILL_NAME = 'Recipe Reader';

/** Escapes the characters SSML (XML) treats specially in text. */
export function ssml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** "a", "a and b", "a, b, and c". */
export function spokenList(items: string[]): string {
  if (items.length <= 1) return items.join('');
  if (items.length === 2) return `${items[0]} and ${items[1]}`;
  return `${items.slice(0, -1).join(', ')}, and ${items[items.length - 1]}`;
}

const SCOPE_WORDS: Record<string, string> = {
  read: 'the read permission, to see your recipes and bookmarks',
  write: 'the write permission, to change your recipes and bookmarks',
};

export const say = {
  linkAccount: `To use ${SKILL_NAME}, please link your account in the Alexa app.`,
  unavailable: "Sorry, I can't reach your recipes right now. Please try again in a moment.",
  missingPermission: (scope: string | undefined) =>
    `${SKILL_NAME} is missing ${SCOPE_WORDS[scope ?? ''] ?? (scope ? `the ${ssml(scope)} permission` : 'a permission')}. ` +
    'Please link your account again in the Alexa app and allow it.',
  welcome: (name: string) => `Welcome to ${SKILL_NAME}, ${ssml(name)}. You can ask for your bookmarks, or say read recipe, followed by its name.`,
  whatNext: 'What would you like to do?',
  help: 'You can say: what are my bookmarks. Or say read recipe, followed by the name of a bookmarked recipe. While I read, say next step, or repeat.',
  goodbye: 'Goodbye, and happy cooking!',
  fallback: "Sorry, I didn't get that. You can ask for your bookmarks, or say read recipe, followed by its name.",
  noBookmarks: 'You have no bookmarks yet. Bookmark a recipe on the website, then ask me again.',
  bookmarks: (titles: string[], more: number) =>
    `You have ${titles.length + more} bookmark${titles.length + more === 1 ? '' : 's'}: ${spokenList(titles.map(ssml))}` +
    `${more > 0 ? `, and ${more} more` : ''}. Say read recipe, followed by its name.`,
  whichRecipe: 'Which recipe? Say read recipe, followed by the name of one of your bookmarks.',
  notBookmarked: (name: string) => `I couldn't find ${ssml(name)} in your bookmarks. Ask for your bookmarks to hear their names.`,
  recipeGone: 'That recipe is no longer available. Ask for your bookmarks to pick another.',
  noSteps: (title: string) => `${ssml(title)} has no steps to read.`,
  recipeStart: (r: { title: string; minutes?: number | null; ingredients: string[] }) =>
    `Here is ${ssml(r.title)}.${r.minutes ? ` It takes about ${r.minutes} minutes.` : ''}` +
    `${r.ingredients.length ? ` You need ${spokenList(r.ingredients.map(ssml))}.` : ''}`,
  step: (index: number, total: number, text: string) => `Step ${index + 1} of ${total}: ${ssml(text)}`,
  stepPrompt: (index: number, total: number) => (index + 1 < total ? 'Say next step when you are ready, or repeat.' : 'That is the last step.'),
  lastStepDone: (title: string) => `That was the last step of ${ssml(title)}. Enjoy your meal!`,
  error: 'Sorry, something went wrong. Please try again.',
};

const normalize = (s: string) =>
  s
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^a-z0-9]+/g, ' ')
    .trim();

const STOP_WORDS = new Set(['the', 'a', 'an', 'recipe', 'for', 'my', 'of', 'and', 'with']);

/**
 * The bookmark a spoken name means: an exact (normalized) title first, then the title sharing the
 * most words with what was heard, if it shares at least half of them. Undefined when nothing fits.
 */
export function matchTitle<T extends { title: string }>(heard: string, items: T[]): T | undefined {
  const wanted = normalize(heard);
  if (!wanted) return undefined;
  const exact = items.find((i) => normalize(i.title) === wanted);
  if (exact) return exact;
  const words = wanted.split(' ').filter((w) => !STOP_WORDS.has(w));
  if (words.length === 0) return undefined;
  let best: T | undefined;
  let bestScore = 0;
  for (const item of items) {
    const title = new Set(normalize(item.title).split(' '));
    const score = words.filter((w) => title.has(w)).length / words.length;
    if (score > bestScore) {
      best = item;
      bestScore = score;
    }
  }
  return bestScore >= 0.5 ? best : undefined;
}
