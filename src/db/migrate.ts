import { Knex } from 'knex';
import { migrations } from '../../migrations';

/** Migrations are listed in code (migrations/index.ts) so they run the same from src and dist. */
class ListedMigrationSource implements Knex.MigrationSource<string> {
  async getMigrations(): Promise<string[]> {
    return Object.keys(migrations).sort();
  }
  getMigrationName(name: string): string {
    return name;
  }
  async getMigration(name: string): Promise<Knex.Migration> {
    return migrations[name];
  }
}

const config = (): Knex.MigratorConfig => ({ migrationSource: new ListedMigrationSource(), tableName: 'knex_migrations' });

export async function migrateLatest(knex: Knex): Promise<string[]> {
  const [, applied] = (await knex.migrate.latest(config())) as [number, string[]];
  return applied;
}

export async function migrationStatus(knex: Knex): Promise<{ applied: string[]; pending: string[] }> {
  const [done, pending] = (await knex.migrate.list(config())) as [Array<{ name: string } | string>, Array<{ file: string } | string>];
  return {
    applied: done.map((d) => (typeof d === 'string' ? d : d.name)),
    pending: pending.map((p) => (typeof p === 'string' ? p : p.file)),
  };
}
