import { oauthErrors } from '../../lib/errors';

/**
 * A small, strict multipart/form-data parser (RFC 7578 on RFC 2046's framing), so that the
 * token, revocation and introspection endpoints accept `curl -F name=value` as the popular guides
 * (Doorkeeper's) teach it. Text fields only: it is a second spelling of a form body, not an upload.
 *
 * It reads a body already held in memory (the router caps it at the form limit, 16 kB), so every
 * step is a bounded scan of a Buffer: nothing here can hang or grow. Anything it does not
 * understand is invalid_request (400), never a guess.
 */

export interface MultipartLimits {
  /** Most fields accepted; one more is 413 "too many parameters", as for a form body. */
  maxFields: number;
}

/** RFC 2046 §5.1.1: 1-70 characters of bchars, not ending in a space. */
const BOUNDARY = /^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

const bad = (why: string) => oauthErrors.invalidRequest(`The multipart/form-data body is malformed: ${why}.`);

/** Parameters of a header value such as `form-data; name="x"` or `multipart/form-data; boundary=y`. */
function parseHeaderValue(value: string): { type: string; params: Map<string, string> } | undefined {
  let i = 0;
  const n = value.length;
  const skipWs = () => {
    while (i < n && (value[i] === ' ' || value[i] === '\t')) i++;
  };
  const readToken = () => {
    const start = i;
    while (i < n && /[!#$%&'*+\-.^_`|~0-9A-Za-z/]/.test(value[i])) i++;
    return value.slice(start, i);
  };
  skipWs();
  const type = readToken().toLowerCase();
  if (!type) return undefined;
  const params = new Map<string, string>();
  for (;;) {
    skipWs();
    if (i === n) break;
    if (value[i] !== ';') return undefined;
    i++;
    skipWs();
    const name = readToken().toLowerCase();
    if (!name || name.includes('/')) return undefined;
    skipWs();
    if (value[i] !== '=') return undefined;
    i++;
    skipWs();
    let v: string;
    if (value[i] === '"') {
      i++;
      const start = i;
      // No backslash escapes: RFC 7578 §4.2 has senders percent-encode `"`, CR and LF in names,
      // and an OAuth parameter name never needs either. A backslash is refused, not interpreted.
      while (i < n && value[i] !== '"' && value[i] !== '\\') i++;
      if (i === n || value[i] !== '"') return undefined;
      v = value.slice(start, i);
      i++;
    } else {
      v = readToken();
      if (!v || v.includes('/')) return undefined;
    }
    if (params.has(name)) return undefined;
    params.set(name, v);
  }
  return { type, params };
}

/** The boundary from a Content-Type header, or invalid_request. */
export function boundaryOf(contentType: string | undefined): string {
  const parsed = contentType === undefined ? undefined : parseHeaderValue(contentType);
  if (!parsed || parsed.type !== 'multipart/form-data') throw bad('the Content-Type is not multipart/form-data with parameters');
  const boundary = parsed.params.get('boundary');
  if (boundary === undefined || !BOUNDARY.test(boundary)) throw bad('the Content-Type has no valid boundary');
  return boundary;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function decodeUtf8(bytes: Buffer, what: string): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw bad(`${what} is not UTF-8`);
  }
}

/** The headers of one part: Content-Disposition (required) and an optional text/plain Content-Type. */
function partName(headerBlock: string): string {
  let disposition: string | undefined;
  let contentType: string | undefined;
  for (const line of headerBlock.split('\r\n')) {
    if (line === '' || line.startsWith(' ') || line.startsWith('\t')) throw bad('a part has an empty or folded header line');
    const colon = line.indexOf(':');
    if (colon <= 0) throw bad('a part has a header line without a name');
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) throw bad('a part has an invalid header name');
    const value = line.slice(colon + 1).trim();
    switch (name.toLowerCase()) {
      case 'content-disposition':
        if (disposition !== undefined) throw bad('a part has two Content-Disposition headers');
        disposition = value;
        break;
      case 'content-type':
        if (contentType !== undefined) throw bad('a part has two Content-Type headers');
        contentType = value;
        break;
      default:
        // Content-Transfer-Encoding is deprecated (RFC 7578 §4.7); nothing else belongs here.
        throw bad(`a part has an unsupported header "${name.slice(0, 40)}"`);
    }
  }
  if (contentType !== undefined) {
    const ct = parseHeaderValue(contentType);
    const charset = ct?.params.get('charset')?.toLowerCase();
    const onlyCharset = ct !== undefined && [...ct.params.keys()].every((k) => k === 'charset');
    if (!ct || ct.type !== 'text/plain' || !onlyCharset || (charset !== undefined && charset !== 'utf-8' && charset !== 'us-ascii')) {
      throw bad('a part is not text/plain in UTF-8 (files are not accepted)');
    }
  }
  const d = disposition === undefined ? undefined : parseHeaderValue(disposition);
  if (!d || d.type !== 'form-data') throw bad('a part has no "Content-Disposition: form-data" header');
  if (d.params.has('filename') || d.params.has('filename*')) throw oauthErrors.invalidRequest('File parts are not accepted: send each parameter as a text field (curl -F name=value, without @ or <).');
  const unknown = [...d.params.keys()].find((k) => k !== 'name');
  if (unknown !== undefined) throw bad(`a part's Content-Disposition has an unsupported parameter "${unknown.slice(0, 40)}"`);
  const fieldName = d.params.get('name');
  if (fieldName === undefined || fieldName === '') throw bad('a part has no name');
  return fieldName;
}

/**
 * Parses a complete multipart/form-data body into flat string fields (an object without a
 * prototype). A repeated name, a file part, a missing or broken delimiter, a non-UTF-8 name or
 * value: invalid_request. More than `maxFields` fields: 413 as for a form body.
 */
export function parseMultipartFormData(body: Buffer, contentType: string | undefined, limits: MultipartLimits): Record<string, string> {
  const boundary = boundaryOf(contentType);
  const dash = Buffer.from(`--${boundary}`, 'latin1');
  const delimiter = Buffer.from(`\r\n--${boundary}`, 'latin1');
  const fields: Record<string, string> = Object.create(null) as Record<string, string>;
  let count = 0;

  // The first delimiter: at the very start, or after a preamble that RFC 2046 says to ignore.
  let pos: number;
  if (body.subarray(0, dash.length).equals(dash)) pos = dash.length;
  else {
    const at = body.indexOf(delimiter);
    if (at < 0) throw bad('the boundary never appears');
    pos = at + delimiter.length;
  }

  for (;;) {
    // After a delimiter: "--" closes the body; otherwise optional transport padding, then CRLF.
    if (body[pos] === 0x2d && body[pos + 1] === 0x2d) {
      const epilogue = body.subarray(pos + 2);
      if (epilogue.length !== 0 && !(epilogue.length === 2 && epilogue[0] === 0x0d && epilogue[1] === 0x0a)) throw bad('there is data after the closing boundary');
      return fields;
    }
    while (body[pos] === 0x20 || body[pos] === 0x09) pos++;
    if (body[pos] !== 0x0d || body[pos + 1] !== 0x0a) throw bad('a boundary line does not end in CRLF');
    pos += 2;

    const next = body.indexOf(delimiter, pos);
    if (next < 0) throw bad('the closing boundary is missing');
    // Header lines, each ending in CRLF, then an empty line, then the value (possibly empty).
    const headersEnd = body.indexOf('\r\n\r\n', pos, 'latin1');
    if (headersEnd < 0 || headersEnd + 4 > next) throw bad('a part has no blank line after its headers');

    const name = partName(decodeUtf8(body.subarray(pos, headersEnd), 'a part header'));
    const value = decodeUtf8(body.subarray(headersEnd + 4, next), `the value of "${name.slice(0, 40)}"`);
    if (Object.prototype.hasOwnProperty.call(fields, name)) throw oauthErrors.invalidRequest(`The parameter "${name.slice(0, 40)}" must be sent once.`);
    if (++count > limits.maxFields) {
      throw Object.assign(new Error('too many parameters'), { status: 413, expose: true, type: 'parameters.too.many' });
    }
    fields[name] = value;
    pos = next + delimiter.length;
  }
}
