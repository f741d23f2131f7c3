import { migrateLatest, migrationStatus } from '../db/migrate';
import { Command } from './command';

const dbMigrate: Command = {
  name: 'db:migrate',
  summary: 'Apply pending migrations (the server also applies them at start)',
  usage: 'db:migrate [--json]',
  options: {},
  migrate: false,
  async run(ctx) {
    const applied = await migrateLatest(ctx.knex);
    ctx.out(applied.length ? `Applied:\n${applied.map((m) => `  ${m}`).join('\n')}` : 'Already up to date.', { applied });
  },
};

const dbStatus: Command = {
  name: 'db:status',
  summary: 'Show applied and pending migrations',
  usage: 'db:status [--json]',
  options: {},
  migrate: false,
  async run(ctx) {
    const status = await migrationStatus(ctx.knex);
    ctx.out(
      [...status.applied.map((m) => `  applied  ${m}`), ...status.pending.map((m) => `  pending  ${m}`)].join('\n') || 'No migrations.',
      status,
    );
  },
};

export const dbCommands = [dbMigrate, dbStatus];
