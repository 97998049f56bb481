// The conformance vectors' pattern language (conformance/README.md): a
// server message, or a server API answer, matches a pattern when every key
// the pattern names matches, arrays match element by element, scalars are
// equal, and placeholder strings check a type, capture a value into a
// variable or compare with one captured earlier. Pure functions, so that
// the unit tests can check the matcher without a server.

const placeholder = /^\{\{([^{}]*)\}\}$/;
const kinds = ['any', 'string', 'number', 'bool', 'object', 'array', 'absent'];

/**
 * Fields whose absence means something (PROTOCOL.md §5.3), so that absent is
 * not read as their zero value even where the encoding drops zero values.
 */
const meaningfulAbsence = new Set(['recovered', 'expires', 'inbox', 'info']);

/**
 * A failed match: where (a JSON path from `$`), what the pattern wanted and
 * what the message held (undefined: the key is absent).
 */
export class Mismatch {
  constructor(path, expected, actual, why = '') {
    this.path = path;
    this.expected = expected;
    this.actual = actual;
    this.why = why;
  }

  toString() {
    const show = (v) => (v === undefined ? '(absent)' : JSON.stringify(v));
    return `at ${this.path}: expected ${show(this.expected)}, got ${show(this.actual)}${this.why ? ` (${this.why})` : ''}`;
  }
}

/**
 * match compares actual with pattern. vars holds the variables captured so
 * far (a Map, filled in by captures). zeroAbsent reads an absent key as its
 * zero value (0, "", false, [], {}), as the Protobuf encoding requires: it
 * does not send zero values (PROTOCOL.md §6). It returns null on a match,
 * else the first Mismatch.
 */
export function match(pattern, actual, vars, { zeroAbsent = false } = {}, path = '$') {
  if (typeof pattern === 'string') {
    const p = parsePlaceholder(pattern);
    if (p) return matchPlaceholder(p, pattern, actual, vars, path);
    return actual === pattern ? null : new Mismatch(path, pattern, actual);
  }
  if (Array.isArray(pattern)) {
    if (!Array.isArray(actual)) return new Mismatch(path, pattern, actual, 'not an array');
    if (actual.length !== pattern.length) {
      return new Mismatch(path, pattern, actual, `${actual.length} elements, want ${pattern.length}`);
    }
    for (let i = 0; i < pattern.length; i++) {
      const m = match(pattern[i], actual[i], vars, { zeroAbsent }, `${path}[${i}]`);
      if (m) return m;
    }
    return null;
  }
  if (pattern !== null && typeof pattern === 'object') {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) {
      return new Mismatch(path, pattern, actual, 'not an object');
    }
    for (const [k, want] of Object.entries(pattern)) {
      const key = keyOf(k, vars, path);
      const at = path + pathKey(key);
      if (Object.hasOwn(actual, key)) {
        const m = match(want, actual[key], vars, { zeroAbsent }, at);
        if (m) return m;
        continue;
      }
      if (want === '{{absent}}') continue;
      const zero = zeroAbsent && !meaningfulAbsence.has(key) ? zeroOf(want, vars) : undefined;
      if (zero === undefined) return new Mismatch(at, want, undefined, 'missing');
      const m = match(want, zero, vars, { zeroAbsent }, at);
      if (m) return m;
    }
    return null;
  }
  // Numbers compare by value; null, booleans and numbers by identity.
  return pattern === actual ? null : new Mismatch(path, pattern, actual);
}

function matchPlaceholder({ ref, kind, name }, pattern, actual, vars, path) {
  if (ref) {
    if (!vars.has(name)) throw new Error(`${path}: ${pattern} names a variable nothing captured`);
    const want = vars.get(name);
    return equal(want, actual) ? null : new Mismatch(path, want, actual, `the value of ${pattern}`);
  }
  if (kind === 'absent') {
    return isEmpty(actual) ? null : new Mismatch(path, pattern, actual, 'want absent or empty');
  }
  if (actual === undefined) return new Mismatch(path, pattern, actual, 'missing');
  if (!typeOk(kind, actual)) return new Mismatch(path, pattern, actual, `not a ${kind}`);
  if (name !== undefined) {
    if (!vars.has(name)) vars.set(name, actual);
    else if (!equal(vars.get(name), actual)) {
      return new Mismatch(path, vars.get(name), actual, `${name} was captured as another value`);
    }
  }
  return null;
}

/** Whether value has the type a placeholder names. */
function typeOk(kind, value) {
  switch (kind) {
    case 'any':
      return true;
    case 'string':
      return typeof value === 'string';
    case 'number':
      return typeof value === 'number';
    case 'bool':
      return typeof value === 'boolean';
    case 'object':
      return value !== null && typeof value === 'object' && !Array.isArray(value);
    case 'array':
      return Array.isArray(value);
  }
  throw new Error(`unknown placeholder kind ${kind}`);
}

/**
 * parsePlaceholder reads `{{kind}}`, `{{kind:NAME}}` and `{{=NAME}}`; it
 * returns null for any other string, and throws on a placeholder the
 * patterns do not define, so that a typo in a vector fails loudly rather
 * than comparing as a literal.
 */
export function parsePlaceholder(s) {
  const m = placeholder.exec(s);
  if (!m) return null;
  const body = m[1];
  if (body.startsWith('=')) {
    if (body.length === 1) throw new Error('{{=}} names no variable');
    return { ref: true, kind: '', name: body.slice(1) };
  }
  const colon = body.indexOf(':');
  const kind = colon < 0 ? body : body.slice(0, colon);
  const name = colon < 0 ? undefined : body.slice(colon + 1);
  if (!kinds.includes(kind) || name === '' || (kind === 'absent' && name !== undefined)) {
    throw new Error(`unknown placeholder ${s}`);
  }
  return { ref: false, kind, name };
}

/**
 * zeroOf returns the zero value an absent key stands for when the pattern
 * accepts one (PROTOCOL.md §5.3), or undefined.
 */
function zeroOf(pattern, vars) {
  if (pattern === 0 || pattern === '' || pattern === false) return pattern;
  if (Array.isArray(pattern)) return pattern.length === 0 ? [] : undefined;
  if (pattern !== null && typeof pattern === 'object') return Object.keys(pattern).length === 0 ? {} : undefined;
  if (typeof pattern !== 'string') return undefined;
  const p = parsePlaceholder(pattern);
  if (!p) return undefined;
  if (p.ref) {
    const v = vars.get(p.name);
    return isEmpty(v) && v !== undefined ? v : undefined;
  }
  return { string: '', number: 0, bool: false, object: {}, array: [] }[p.kind];
}

/** Whether v is absent or a zero value (PROTOCOL.md §5.3). */
function isEmpty(v) {
  if (v === undefined || v === null || v === 0 || v === '' || v === false) return true;
  if (Array.isArray(v)) return v.length === 0;
  return typeof v === 'object' && Object.keys(v).length === 0;
}

/** Deep equality of JSON values (object keys in any order). */
function equal(a, b) {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object' || Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && equal(a[k], b[k]));
}

/**
 * keyOf reads an object key: `{{=NAME}}` stands for the string captured as
 * NAME (a client id keying a presence result), any other key for itself.
 */
function keyOf(k, vars, path) {
  const p = k.startsWith('{{=') ? parsePlaceholder(k) : null;
  if (!p) return k;
  if (typeof vars.get(p.name) !== 'string') throw new Error(`${path}: key ${k} names no captured string`);
  return vars.get(p.name);
}

function pathKey(key) {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

/**
 * substitute returns value with its placeholders replaced, for what a
 * vector sends (commands, server API parameters): `{{=NAME}}` becomes the
 * captured value (of its own type; as a key, a captured string), and
 * tokens(kind, spec) answers `{{token:...}}` and `{{chantoken:...}}`. A
 * placeholder is a whole string: nothing is replaced inside a longer one.
 */
export function substitute(value, vars, tokens, path = '$') {
  if (typeof value === 'string') {
    const t = /^\{\{(token|chantoken):(.*)\}\}$/.exec(value);
    if (t) return tokens(t[1], t[2]);
    const p = parsePlaceholder(value);
    if (p && !p.ref) throw new Error(`${path}: ${value} can only be matched, not sent`);
    if (p) {
      if (!vars.has(p.name)) throw new Error(`${path}: ${value} names a variable nothing captured`);
      return vars.get(p.name);
    }
    return value;
  }
  if (Array.isArray(value)) return value.map((v, i) => substitute(v, vars, tokens, `${path}[${i}]`));
  if (value !== null && typeof value === 'object') {
    const out = {};
    for (const [k, v] of Object.entries(value)) {
      const key = keyOf(k, vars, path);
      out[key] = substitute(v, vars, tokens, path + pathKey(key));
    }
    return out;
  }
  return value;
}
