/** The scopes this server knows, with the words the consent page uses for them. */
export const SCOPES = {
  read: 'See your profile, your recipes and your bookmarks',
  write: 'Add, change and remove your recipes and bookmarks',
} as const;

export type Scope = keyof typeof SCOPES;
export const ALL_SCOPES = Object.keys(SCOPES) as Scope[];
export const DEFAULT_SCOPES: Scope[] = ['read', 'write'];

export const isKnownScope = (s: string): s is Scope => Object.prototype.hasOwnProperty.call(SCOPES, s);

/** RFC 6749 §3.3: space-delimited, case-sensitive; order and duplicates do not matter. */
export function parseScopeString(value: string): string[] {
  return [...new Set(value.split(' ').filter((s) => s !== ''))];
}

/** Keeps the scopes in a stable order (the order of SCOPES). */
export function sortScopes(scopes: readonly string[]): string[] {
  return [...scopes].sort((a, b) => ALL_SCOPES.indexOf(a as Scope) - ALL_SCOPES.indexOf(b as Scope));
}
