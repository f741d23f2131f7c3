/**
 * The one canonical form of an email address (security.md, "One canonical form per identifier").
 *
 * Every spelling that should reach the same account maps to the same string here, and this string
 * (stored in users.email_canonical, unique) is what storage, look-up, uniqueness and every
 * throttle key use. It is computed in JavaScript only and compared by equality in SQL: never
 * `lower()` in the database, whose case mapping depends on the server's locale and version and
 * disagrees with JavaScript (e.g. U+0130 'İ').
 *
 * Steps (in this order, each for a reason):
 * 0. An unpaired surrogate becomes U+FFFD (as any UTF-8 encoder would), so the form is
 *    well-defined for every JavaScript string.
 * 1. NFKC: compatibility forms become their plain letters (fullwidth 'ｔｉｍ' -> 'tim', ligatures,
 *    superscripts), and composed/decomposed accents become one form.
 * 2. Default-ignorable code points are removed (zero-width space/joiners, soft hyphen, BOM,
 *    variation selectors, bidi marks): invisible, so they must not make a "different" address.
 * 3. Surrounding white space (Unicode White_Space, as String.prototype.trim) is removed.
 * 4. Case folding, locale-independent: toUpperCase then toLowerCase, which folds what lower-casing
 *    alone keeps apart ('ß' and 'ẞ' -> 'ss', 'ﬀ' -> 'ff'; 'σ', 'ς' and 'Σ' all become Σ and then
 *    whichever lower form its position calls for). JavaScript's case mapping is the Unicode
 *    default one, never the host's locale. 'İ' (U+0130) folds to 'i̇'
 *    ('i' + U+0307 combining dot), which stays a different address from 'i': it is a different
 *    letter, so `tİm@…` is not `tim@…` (and no longer reaches tim's account, or a fresh counter).
 * 5. NFKC again, and ignorables again: case mapping can produce sequences that normalise further.
 *
 * The whole address is folded, local part included: RFC 5321 lets a mail server treat the local
 * part case-sensitively, but no mail provider our users have does, and two accounts differing only
 * in case would be a phishing gift. Sign-up accepts only what `emailSchema` accepts (ASCII), so
 * for stored addresses this is, in effect, ASCII lower case; the Unicode steps matter for what a
 * visitor types at log-in, which must land on the same account and the same throttle key.
 *
 * Changing this function changes which account an address reaches: it needs a new migration that
 * recomputes users.email_canonical (see migrations/20261201_006_users_email_canonical.ts).
 */
const IGNORABLE = /\p{Default_Ignorable_Code_Point}/gu;
/** In a `u` regex a surrogate class matches only unpaired halves (hostile input, not text). */
const LONE_SURROGATE = /\p{Surrogate}/gu;

export function canonicalEmail(raw: string): string {
  let s = raw.replace(LONE_SURROGATE, '\uFFFD').normalize('NFKC').replace(IGNORABLE, '').trim();
  s = s.toUpperCase().toLowerCase();
  return s.normalize('NFKC').replace(IGNORABLE, '').trim();
}
