import { Page } from 'playwright-core';

/**
 * Accessibility and layout checks run inside a page of ours. Each returns a list of problems,
 * empty when the page is fine, so a failure names every offending element at once.
 *
 * The functions passed to page.evaluate run in the browser: they are serialized as written, so
 * they use only plain JavaScript that needs no compiled helper.
 */

/** Every form field has a label (label[for], a wrapping label, aria-label or aria-labelledby). */
function unlabelledFields(): string[] {
  const describe = (el: Element) => `<${el.tagName.toLowerCase()} name="${el.getAttribute('name') ?? ''}" id="${el.id}">`;
  const out: string[] = [];
  for (const el of Array.from(document.querySelectorAll<HTMLInputElement>('input, select, textarea'))) {
    if (el.type === 'hidden') continue;
    const fromLabels = Array.from(el.labels ?? []).some((l) => (l.textContent ?? '').trim() !== '');
    const fromAria = (el.getAttribute('aria-label') ?? '').trim() !== '' || (el.getAttribute('aria-labelledby') ?? '').split(/\s+/).some((id) => (document.getElementById(id)?.textContent ?? '').trim() !== '');
    if (!fromLabels && !fromAria) out.push(`no label: ${describe(el)}`);
  }
  for (const el of Array.from(document.querySelectorAll('button, a[href]'))) {
    if ((el.textContent ?? '').trim() === '' && !el.getAttribute('aria-label')) out.push(`no accessible name: ${describe(el)}`);
  }
  if (!document.documentElement.lang) out.push('<html> has no lang');
  if (document.title.trim() === '') out.push('the page has no title');
  return out;
}

/**
 * WCAG 2.x contrast of every visible piece of text against the background it is painted on:
 * at least 4.5:1, or 3:1 for large text (24px, or 18.66px bold). Backgrounds are composited
 * up the ancestor chain; the page uses flat colours only (no background images).
 */
function lowContrastText(): string[] {
  type Rgba = [number, number, number, number];
  const parse = (c: string): Rgba => {
    const m = /rgba?\(([^)]+)\)/.exec(c);
    if (!m) return [0, 0, 0, 0];
    const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (top: Rgba, below: Rgba): Rgba => {
    const a = top[3] + below[3] * (1 - top[3]);
    if (a === 0) return [0, 0, 0, 0];
    const mix = (i: number) => (top[i] * top[3] + below[i] * below[3] * (1 - top[3])) / a;
    return [mix(0), mix(1), mix(2), a];
  };
  const luminance = (c: Rgba) => {
    const ch = (v: number) => {
      const s = v / 255;
      return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    };
    return 0.2126 * ch(c[0]) + 0.7152 * ch(c[1]) + 0.0722 * ch(c[2]);
  };
  const background = (el: Element | null): Rgba => {
    const layers: Rgba[] = [];
    for (let e = el; e; e = e.parentElement) layers.push(parse(getComputedStyle(e).backgroundColor));
    let bg: Rgba = [255, 255, 255, 1]; // the canvas
    for (const layer of layers.reverse()) bg = over(layer, bg);
    return bg;
  };
  const out: string[] = [];
  const seen = new Set<Element>();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!el || seen.has(el) || (node.textContent ?? '').trim() === '') continue;
    seen.add(el);
    const style = getComputedStyle(el);
    const box = el.getBoundingClientRect();
    if (style.visibility !== 'visible' || box.width <= 1 || box.height <= 1 || el.closest('[aria-hidden="true"]')) continue;
    const bg = background(el);
    const fg = over(parse(style.color), bg);
    const [hi, lo] = [luminance(fg), luminance(bg)].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    const needed = large ? 3 : 4.5;
    if (ratio < needed) out.push(`contrast ${ratio.toFixed(2)} < ${needed}: "${(node.textContent ?? '').trim().slice(0, 40)}" (${style.color} on rgb(${bg.slice(0, 3).map(Math.round).join(', ')}))`);
  }
  return out;
}

/** The page fits the layout viewport: no horizontal scrolling, and which elements stick out. */
function horizontalOverflow(): string[] {
  const root = document.documentElement;
  const width = root.clientWidth;
  if (root.scrollWidth <= width) return [];
  const wide = Array.from(document.body.querySelectorAll('*'))
    .filter((el) => el.getBoundingClientRect().right > width + 0.5)
    .slice(0, 5)
    .map((el) => `<${el.tagName.toLowerCase()} class="${el.className}">`);
  return [`the page scrolls sideways: ${root.scrollWidth}px wide in a ${width}px viewport; sticking out: ${wide.join(', ')}`];
}

/**
 * Marks the controls a keyboard user must be able to reach (every visible, enabled link, button
 * and field, whatever its tabindex says), and returns how many there are.
 */
function markFocusable(): number {
  const all = Array.from(document.querySelectorAll<HTMLElement>('a[href], button, input, select, textarea, [tabindex]:not([tabindex^="-"])'));
  const reachable = all.filter((el) => {
    if ((el as HTMLInputElement).type === 'hidden' || (el as HTMLButtonElement).disabled) return false;
    const style = getComputedStyle(el);
    return style.visibility === 'visible' && el.getClientRects().length > 0;
  });
  reachable.forEach((el, i) => el.setAttribute('data-e2e-focus', String(i)));
  return reachable.length;
}

/** The focused control (its mark) and whether the focus is drawn (an outline). */
function focused(): { mark: string | null; outlined: boolean } {
  const el = document.activeElement;
  if (!el || el === document.body) return { mark: null, outlined: false };
  const style = getComputedStyle(el);
  return { mark: el.getAttribute('data-e2e-focus'), outlined: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0 };
}

/**
 * Presses Tab through the page (wrapping around once if focus starts midway) and reports every
 * control that never received focus, or received it without a visible focus ring.
 */
async function keyboardProblems(page: Page): Promise<string[]> {
  const count = await page.evaluate(markFocusable);
  const reached = new Set<string>();
  const unringed = new Set<string>();
  for (let i = 0; i < count * 2 + 4 && reached.size < count; i++) {
    await page.keyboard.press('Tab');
    const { mark, outlined } = await page.evaluate(focused);
    if (mark === null) continue;
    reached.add(mark);
    if (!outlined) unringed.add(mark);
  }
  const describeMarks = (marks: string[]) =>
    page.evaluate(
      (ms) => ms.map((m) => {
        const el = document.querySelector(`[data-e2e-focus="${m}"]`)!;
        return `<${el.tagName.toLowerCase()}> "${(el.textContent ?? '').trim().slice(0, 40) || el.getAttribute('name')}"`;
      }),
      marks,
    );
  const missing = Array.from({ length: count }, (_, i) => String(i)).filter((m) => !reached.has(m));
  return [
    ...(await describeMarks(missing)).map((d) => `not reachable with Tab: ${d}`),
    ...(await describeMarks([...unringed])).map((d) => `no visible focus: ${d}`),
  ];
}

/** All the checks on the page as it is now; empty when it passes. */
export async function auditPage(page: Page, opts: { keyboard?: boolean } = {}): Promise<string[]> {
  const inPage = [unlabelledFields, lowContrastText, horizontalOverflow];
  const problems = (await Promise.all(inPage.map((check) => page.evaluate(check)))).flat();
  if (opts.keyboard ?? true) problems.push(...(await keyboardProblems(page)));
  return problems;
}
