import { Knex } from 'knex';

/**
 * Recipes with full-text search, and the bookmarks users keep of them.
 *
 * `search` is a generated column. A generated column may only call IMMUTABLE functions and
 * array_to_string is not one (it is STABLE in general, because of element output functions), so
 * the vector comes from a small IMMUTABLE SQL wrapper; for text[] with a fixed text search
 * configuration the result really is immutable. Title weighs most, then summary, then ingredients.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('recipes', (t) => {
    t.bigIncrements('id').primary();
    t.bigInteger('author_id').notNullable().references('users.id').onDelete('CASCADE');
    t.text('title').notNullable();
    t.text('summary').notNullable().defaultTo('');
    t.specificType('ingredients', 'text[]').notNullable().defaultTo('{}');
    t.specificType('steps', 'text[]').notNullable().defaultTo('{}'); // in order: a skill reads one at a time
    t.integer('minutes');
    t.integer('servings');
    t.boolean('is_published').notNullable().defaultTo(false);
    t.timestamps(true, true);
    t.index(['author_id', 'id']);
  });
  await knex.raw(`
    CREATE FUNCTION recipe_search_vector(title text, summary text, ingredients text[]) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT setweight(to_tsvector('pg_catalog.english'::regconfig, coalesce(title, '')), 'A')
          || setweight(to_tsvector('pg_catalog.english'::regconfig, coalesce(summary, '')), 'B')
          || setweight(to_tsvector('pg_catalog.english'::regconfig, coalesce(array_to_string(ingredients, ' '), '')), 'C')
    $$`);
  await knex.raw('ALTER TABLE recipes ADD COLUMN search tsvector GENERATED ALWAYS AS (recipe_search_vector(title, summary, ingredients)) STORED');
  await knex.raw('CREATE INDEX recipes_search_idx ON recipes USING gin (search)');

  await knex.schema.createTable('bookmarks', (t) => {
    t.bigInteger('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.bigInteger('recipe_id').notNullable().references('recipes.id').onDelete('CASCADE');
    // Millisecond precision, so the (created_at, recipe_id) page cursor round-trips exactly
    // through a JavaScript Date.
    t.timestamp('created_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.raw('now()'));
    t.primary(['user_id', 'recipe_id']);
    t.index(['user_id', 'created_at', 'recipe_id']);
    t.index(['recipe_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('bookmarks');
  await knex.schema.dropTable('recipes');
  await knex.raw('DROP FUNCTION recipe_search_vector(text, text, text[])');
}
