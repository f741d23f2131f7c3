import { OAuthError } from '../../lib/errors';

/** What happens besides the error when a rule fails (committed before the error is answered). */
export type Consequence = 'revoke-grant' | 'revoke-issued-from-code';

export interface Violation {
  rule: string;
  error: OAuthError;
  consequence?: Consequence;
}

/**
 * One rule of a grant, written once: `check` is the rule as a pure function of the stored row and
 * the request, and `sql` (when the rule also runs inside a one-statement fast path) the same rule
 * as a PostgreSQL predicate over the statement's table aliases and placeholders. The two must
 * agree on every fixture: test/unit/grant-rules.test.ts and the fast/locked agreement test check
 * that they do.
 */
export interface Rule<Row, Ctx, P = Record<string, string>> {
  readonly name: string;
  readonly check: (row: Row, ctx: Ctx) => Omit<Violation, 'rule'> | undefined;
  readonly sql?: (p: P) => string;
}

/** The first rule the row breaks, in the order given (the first failure decides the error). */
export function firstViolation<Row, Ctx>(rules: readonly Rule<Row, Ctx, never>[], row: Row, ctx: Ctx): Violation | undefined {
  for (const rule of rules) {
    const v = rule.check(row, ctx);
    if (v) return { rule: rule.name, ...v };
  }
  return undefined;
}

/** Every rule that has a SQL form, joined with AND: the fast path's WHERE clause. */
export function sqlPredicate<P>(rules: readonly Rule<never, never, P>[], placeholders: P): string {
  return rules
    .filter((r) => r.sql)
    .map((r) => `(${r.sql!(placeholders)})`)
    .join('\n AND ');
}
