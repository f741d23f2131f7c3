import { createInterface } from 'node:readline/promises';
import { ValidationError } from '../lib/errors';
import { Command, requireString, UsageError } from './command';

/** Asks on the terminal; only called when both ends are one (never in a pipe or cron). */
async function confirmOnTerminal(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return (await rl.question(question)).trim();
  } finally {
    rl.close();
  }
}

const usersDelete: Command = {
  name: 'users:delete',
  summary: 'Delete a user for good: revokes every app link at once, deletes their sessions, bookmarks and recipes (no password needed)',
  usage: 'users:delete --email E [--yes] [--json]',
  options: { email: { type: 'string' }, yes: { type: 'boolean' } },
  async run(ctx, { values }) {
    const email = requireString(values, 'email');
    const user = await ctx.services.accounts.findByEmail(email);
    if (!user) throw new ValidationError(`No user with email ${email}`);
    if (values.yes !== true) {
      if (!process.stdin.isTTY || !process.stdout.isTTY || ctx.json) {
        throw new UsageError(`Not deleting ${user.email} without --yes: this cannot be undone, and there is no terminal to confirm on.`);
      }
      const { connections, recipes } = await ctx.services.accounts.deletionSummary(user.id);
      const answer = await confirmOnTerminal(
        `Delete ${user.email} with ${recipes.private + recipes.published} recipe(s) and ${connections.length} app link(s)` +
          `${connections.length ? ` (${connections.map((c) => c.clientName).join(', ')})` : ''}? Type the email to confirm: `,
      );
      if (answer.toLowerCase() !== user.email.toLowerCase()) throw new UsageError('Not confirmed; nothing was deleted.');
    }
    const r = await ctx.services.accounts.deleteUser(user.id);
    if (!r) throw new ValidationError(`No user with email ${email}`);
    ctx.out(
      `Deleted ${r.email}: revoked ${r.revokedGrants} app link(s), signed out ${r.sessions} session(s), deleted ${r.bookmarks} bookmark(s), ${r.privateRecipes} private and ${r.publishedRecipes} published recipe(s)`,
      { id: r.id, email: r.email, deleted: true, revoked_grants: r.revokedGrants, sessions: r.sessions, bookmarks: r.bookmarks, private_recipes: r.privateRecipes, published_recipes: r.publishedRecipes },
    );
  },
};

export const accountCommands = [usersDelete];
