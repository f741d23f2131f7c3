import { randomBytes } from 'node:crypto';
import { DEMO_RECIPES, DEMO_USER } from '../recipes/demo-recipes';
import { Command } from './command';

const dbSeed: Command = {
  name: 'db:seed',
  summary: 'Load demo data: a demo user (credentials printed) and a dozen recipes; running it again adds nothing twice',
  usage: 'db:seed [--email E] [--password P] [--json]',
  options: { email: { type: 'string' }, password: { type: 'string' } },
  async run(ctx, { values }) {
    const email = (values.email as string | undefined) ?? DEMO_USER.email;
    let user = await ctx.services.accounts.findByEmail(email);
    let password: string | null = null;
    if (!user) {
      // A random password unless one is given: demo data may end up on a reachable server.
      password = (values.password as string | undefined) ?? randomBytes(12).toString('base64url');
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
