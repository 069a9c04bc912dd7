// JSON to YAML for the source view. The server parses YAML, so the UI only
// writes it: strings that could read as something else are quoted as JSON
// strings, which YAML reads back unchanged.

const PLAIN = /^[A-Za-z_/$][\w ./:@$-]*$/;
const RESERVED = /^(true|false|null|yes|no|on|off|y|n|~)$/i;

function scalar(value) {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  const text = String(value);
  if (PLAIN.test(text) && !RESERVED.test(text) && !text.endsWith(' ') && !text.includes(': ') && !text.includes(' #')) {
    return text;
  }
  return JSON.stringify(text);
}

function key(k) {
  return PLAIN.test(k) && !RESERVED.test(k) && !k.includes(' ') ? k : JSON.stringify(k);
}

function isEmpty(v) {
  return (Array.isArray(v) && v.length === 0) || (v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0);
}

// The order people write a workflow in; other keys follow alphabetically.
const FIRST = ['name', 'id', 'type', 'description', 'tags', 'from', 'port', 'to', 'input', 'params', 'nodes', 'connections'];

function ordered(object) {
  const rank = (k) => (FIRST.includes(k) ? FIRST.indexOf(k) : FIRST.length);
  return Object.entries(object).sort(([a], [b]) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
}

function lines(value, indent) {
  const pad = ' '.repeat(indent);
  if (Array.isArray(value)) {
    return value.flatMap((item) => {
      if (item && typeof item === 'object' && !isEmpty(item)) {
        const inner = lines(item, indent + 2);
        return [`${pad}- ${inner[0].trimStart()}`, ...inner.slice(1)];
      }
      return [`${pad}- ${isEmpty(item) ? JSON.stringify(item) : scalar(item)}`];
    });
  }
  return ordered(value).flatMap(([k, v]) => {
    if (v && typeof v === 'object' && !isEmpty(v)) {
      return [`${pad}${key(k)}:`, ...lines(v, Array.isArray(v) ? indent : indent + 2)];
    }
    return [`${pad}${key(k)}: ${isEmpty(v) ? JSON.stringify(v) : scalar(v)}`];
  });
}

/** YAML text for a JSON value (an object at the top). */
export function toYaml(value) {
  return `${lines(value, 0).join('\n')}\n`;
}
