import { z } from 'zod';
import { ValidationError } from './errors';

/** Parses input with a zod schema; a failure is a ValidationError naming each field's first problem. */
export function parseInput<T>(schema: z.ZodType<T>, input: unknown): T {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const fields: Record<string, string> = {};
  for (const issue of r.error.issues) {
    const key = issue.path.join('.') || 'form';
    fields[key] ??= issue.message;
  }
  throw new ValidationError(Object.values(fields).join(' '), fields);
}
