import fc from 'fast-check';
import { AppError } from '../../src/lib/errors';
import { boundaryOf, parseMultipartFormData } from '../../src/oauth/token/multipart';

const limits = { maxFields: 50 };
const parse = (body: string | Buffer, type = 'multipart/form-data; boundary=b') => parseMultipartFormData(Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8'), type, limits);

function build(fields: [string, string][], boundary: string): Buffer {
  const parts = fields.map(([k, v]) => `--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`).join('');
  return Buffer.from(`${parts}--${boundary}--\r\n`, 'utf8');
}

/** Only ever a result or a 4xx AppError: never another exception. */
function outcome(fn: () => unknown): 'ok' | number {
  try {
    fn();
    return 'ok';
  } catch (err) {
    if (err instanceof AppError) return err.status;
    const status = (err as { status?: number }).status;
    if (status === 413) return 413;
    throw err;
  }
}

describe('multipart/form-data parser', () => {
  it('when curl -F writes two fields, then both come back as flat strings', () => {
    const body = '--b\r\nContent-Disposition: form-data; name="grant_type"\r\n\r\nauthorization_code\r\n--b\r\nContent-Disposition: form-data; name="code"\r\n\r\nlb_ac_x+y/z=\r\n--b--\r\n';
    expect({ ...parse(body) }).toEqual({ grant_type: 'authorization_code', code: 'lb_ac_x+y/z=' });
  });

  it('when the boundary is quoted, a part is text/plain; charset=utf-8, a value is empty or spans lines, then they parse', () => {
    const body = 'ignored preamble\r\n--a b\r\ncontent-disposition: Form-Data; name=token\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nline 1\r\nline 2\r\n--a b\r\nContent-Disposition: form-data; name="empty"\r\n\r\n\r\n--a b--';
    expect({ ...parse(body, 'Multipart/Form-Data; boundary="a b"') }).toEqual({ token: 'line 1\r\nline 2', empty: '' });
  });

  it('when a field is named __proto__, then it is an ordinary field and no prototype is touched', () => {
    const fields = parse('--b\r\nContent-Disposition: form-data; name="__proto__"\r\n\r\nx\r\n--b--\r\n');
    expect(Object.keys(fields)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it.each([
    ['filename', '--b\r\nContent-Disposition: form-data; name="code"; filename="c.txt"\r\n\r\nx\r\n--b--\r\n'],
    ['filename*', "--b\r\nContent-Disposition: form-data; name=\"code\"; filename*=UTF-8''c.txt\r\n\r\nx\r\n--b--\r\n"],
    ['an unknown header', '--b\r\nContent-Disposition: form-data; name="a"\r\nContent-Transfer-Encoding: base64\r\n\r\neA==\r\n--b--\r\n'],
    ['a folded header', '--b\r\nContent-Disposition: form-data;\r\n name="a"\r\n\r\nx\r\n--b--\r\n'],
    ['two dispositions', '--b\r\nContent-Disposition: form-data; name="a"\r\nContent-Disposition: form-data; name="b"\r\n\r\nx\r\n--b--\r\n'],
    ['attachment', '--b\r\nContent-Disposition: attachment; name="a"\r\n\r\nx\r\n--b--\r\n'],
    ['no name', '--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--\r\n'],
    ['an empty name', '--b\r\nContent-Disposition: form-data; name=""\r\n\r\nx\r\n--b--\r\n'],
    ['a backslash in a quoted name', '--b\r\nContent-Disposition: form-data; name="a\\"b"\r\n\r\nx\r\n--b--\r\n'],
    ['an unterminated quote', '--b\r\nContent-Disposition: form-data; name="a\r\n\r\nx\r\n--b--\r\n'],
    ['no blank line after the headers', '--b\r\nContent-Disposition: form-data; name="a"\r\n--b--\r\n'],
    ['data after the close', '--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nx\r\n--b--\r\nmore'],
    ['no close', '--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nx\r\n--b\r\n'],
    ['garbage after a boundary', '--bX\r\nContent-Disposition: form-data; name="a"\r\n\r\nx\r\n--b--\r\n'],
    ['a repeated name', '--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nx\r\n--b\r\nContent-Disposition: form-data; name="a"\r\n\r\ny\r\n--b--\r\n'],
    ['no boundary at all', 'grant_type=authorization_code'],
  ])('when a body has %s, then it is invalid_request (400)', (_why, body) => {
    expect(outcome(() => parse(body))).toBe(400);
  });

  it.each(['multipart/form-data', 'multipart/form-data; boundary=', 'multipart/form-data; boundary="x', `multipart/form-data; boundary=${'x'.repeat(71)}`, 'multipart/form-data; boundary="ends in space "', 'multipart/mixed; boundary=b', 'multipart/form-data; boundary=a; boundary=b'])(
    'when the Content-Type is %p, then there is no boundary and it is invalid_request',
    (type) => {
      expect(outcome(() => boundaryOf(type))).toBe(400);
    },
  );

  it('when there are more than 50 fields, then 413 as for a form body', () => {
    const fields = Array.from({ length: 51 }, (_, i): [string, string] => [`p${i}`, 'v']);
    expect(outcome(() => parse(build(fields, 'b')))).toBe(413);
    expect(outcome(() => parse(build(fields.slice(0, 50), 'b')))).toBe('ok');
  });

  const name = fc.stringMatching(/^[A-Za-z0-9_.~-]{1,20}$/);
  const boundary = fc.stringMatching(/^[0-9A-Za-z'()+_,\-./:=?]{1,70}$/);

  it('when any set of fields is written the way curl -F writes them, then parsing gives them back exactly', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(name, fc.string({ unit: 'grapheme', maxLength: 40 })), { selector: ([k]) => k, maxLength: 10 }), boundary, (fields, b) => {
        // A value that contains the delimiter cannot be written with this boundary (a real client picks another).
        fc.pre(fields.every(([, v]) => !`\r\n${v}\r\n`.includes(`\r\n--${b}`)));
        expect({ ...parseMultipartFormData(build(fields, b), `multipart/form-data; boundary="${b}"`, limits) }).toEqual(Object.fromEntries(fields));
      }),
      { numRuns: 300 },
    );
  });

  it('when a well-formed body is cut, spliced or has bytes flipped, then the parser answers or refuses with a 4xx, never throws anything else', () => {
    const base = build([['grant_type', 'authorization_code'], ['code', 'lb_ac_abc'], ['redirect_uri', 'https://layla.amazon.com/api/skill/link/M1']], 'b');
    fc.assert(
      fc.property(fc.nat(base.length), fc.nat(base.length), fc.uint8Array({ maxLength: 8 }), (at, cut, bytes) => {
        const mutated = Buffer.concat([base.subarray(0, at), Buffer.from(bytes), base.subarray(Math.max(at, cut))]);
        const r = outcome(() => parse(mutated));
        expect(r === 'ok' || r === 400 || r === 413).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('when the body is random bytes, then it is refused with 400 and the parse stays fast', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), fc.string({ maxLength: 80 }), (bytes, type) => {
        const r = outcome(() => parseMultipartFormData(Buffer.from(bytes), `multipart/form-data; boundary=${type}`, limits));
        expect(r === 'ok' || r === 400).toBe(true);
      }),
      { numRuns: 500 },
    );
    // Near-delimiters everywhere, 16 kB of them: still one linear scan.
    const start = Date.now();
    expect(outcome(() => parse(Buffer.from(`--b\r\nContent-Disposition: form-data; name="a"\r\n\r\n${'\r\n-'.repeat(5400)}`)))).toBe(400);
    expect(Date.now() - start).toBeLessThan(200);
  });
});
