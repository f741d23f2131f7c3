/**
 * One line of the doctor's report. `ok` is false for an error, and for a check skipped because an
 * earlier one failed; a warning is ok (it does not change the exit code) but still says what to fix.
 */
export type Severity = 'ok' | 'warning' | 'error' | 'skipped';

export interface Check {
  name: string;
  ok: boolean;
  severity: Severity;
  detail: string;
  fix: string | null;
}

export const pass = (name: string, detail: string): Check => ({ name, ok: true, severity: 'ok', detail, fix: null });
export const warn = (name: string, detail: string, fix: string): Check => ({ name, ok: true, severity: 'warning', detail, fix });
export const fail = (name: string, detail: string, fix: string): Check => ({ name, ok: false, severity: 'error', detail, fix });
export const skip = (name: string, because: string): Check => ({ name, ok: false, severity: 'skipped', detail: `not checked: ${because}`, fix: null });

/** The doctor's verdict: 0 when every check is ok (warnings allowed), 1 otherwise. */
export const exitCodeOf = (checks: Check[]): number => (checks.every((c) => c.ok) ? 0 : 1);

const MARK: Record<Severity, string> = { ok: 'ok  ', warning: 'WARN', error: 'FAIL', skipped: 'skip' };

export function formatReport(checks: Check[]): string {
  const lines: string[] = [];
  for (const c of checks) {
    lines.push(`${MARK[c.severity]}  ${c.name}: ${c.detail}`);
    if (c.fix) lines.push(`      fix: ${c.fix}`);
  }
  const errors = checks.filter((c) => c.severity === 'error').length;
  const warnings = checks.filter((c) => c.severity === 'warning').length;
  lines.push('');
  lines.push(errors === 0 ? `All checks passed${warnings ? ` (${warnings} warning${warnings > 1 ? 's' : ''})` : ''}.` : `${errors} check${errors > 1 ? 's' : ''} failed${warnings ? `, ${warnings} warning${warnings > 1 ? 's' : ''}` : ''}: Alexa will not link until they pass.`);
  return lines.join('\n');
}
