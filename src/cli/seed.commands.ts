import { randomBytes } from 'node:crypto';
import { DEMO_RECIPES, DEMO_USER } from '../recipes/demo-recipes';
import { Command } from './command';
import { PASSWORD_ENV, passwordOptions } from './password-input';

const dbSeed: Command = {
  name: 'db:seed',
  summary: 'Load demo data: a demo user (credentials printed) and a dozen recipes; running it again adds nothing twice',
  usage: `db:seed [--email E] [--password-stdin] [--json]   (the demo password: the first line of standard input with --password-stdin, or ${PASSWORD_ENV}, else a random one, printed)`,
  options: { email: { type: 'string' }, ...passwordOptions },
  async run(ctx, { values }) {
    const email = (values.email as string | undefined) ?? DEMO_USER.email;
    // Never a prompt: without a password given, a random one is made and printed.
    const given = await ctx.readPassword(values, { prompt: false });
    let user = await ctx.services.accounts.findByEmail(email);
    let password: string | null = null;
    if (!user) {
      // A random password unless one is given: demo data may end up on a reachable server.
      password = given ?? randomBytes(12).toString('base64url');
      user = await ctx.services.auth.signUp({ email, name: DEMO_USER.name, password });
    }
    const recipes = await ctx.services.recipes.addMissing(user.id, DEMO_RECIPES);
    ctx.out(
      [
        `Demo user: ${user.email}`,
        password ? `Password:  ${password}` : 'Password:  unchanged (the user already existed)',
        `Recipes:   ${recipes.created} added, ${recipes.existing} already there`,
        `Sign in at ${ctx.config.publicUrl}/login`,
      ].join('\n'),
      { email: user.email, password, user_created: password !== null, recipes: recipes.created + recipes.existing, recipes_created: recipes.created },
    );
  },
};

export const seedCommands = [dbSeed];
