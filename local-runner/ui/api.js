// Talking to the runner, and turning its answers into words.
//
// Two error shapes come back: the functions' own {"error": {"code", "message", "details"}}, and the
// gateway's {"message": ...} for 404/429/502/504 (no function answered, or none in time).

export class ApiError extends Error {
  constructor(status, message, { code = null, details = null, data = null } = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
    this.data = data; // the parsed body, for callers that still want it (e.g. a degraded /health)
  }
}

// What the gateway's bare messages mean for someone looking at the UI.
const gatewayMeaning = {
  404: 'this runner has no such route',
  405: 'the route does not take this method',
  413: 'the request is too large',
  429: 'too many requests at once: every worker of the function is busy; try again in a moment',
  502: 'the function failed or crashed (see the runner log)',
  503: 'a dependency is down',
  504: 'the function did not answer within its timeout',
};

export function describeFailure(status, data, text) {
  if (data && data.error && data.error.message) {
    // An unknown key's message already names it, the accepted ones and the likely meant one.
    const details = data.error.details && Object.keys(data.error.details).length && !data.error.details.unknown
      ? ` (${Object.entries(data.error.details).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join(', ')})` : '';
    return `${data.error.message}${details} [${status} ${data.error.code}]`;
  }
  if (data && typeof data.message === 'string') {
    const meaning = gatewayMeaning[status];
    return meaning ? `${data.message}: ${meaning} [${status}]` : `${data.message} [${status}]`;
  }
  const snippet = (text || '').trim().slice(0, 200);
  return `HTTP ${status}${snippet ? `: ${snippet}` : ''}`;
}

// fetch with JSON in and out. Resolves with the parsed body (or the text when it is not JSON);
// rejects with an ApiError whose message is ready to show.
export async function api(path, { method = 'GET', body, query } = {}) {
  let url = path;
  if (query) {
    const params = new URLSearchParams(Object.entries(query).filter(([, v]) => v !== undefined && v !== null && v !== ''));
    if ([...params].length) url += `?${params}`;
  }
  const init = { method, headers: { accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (error) {
    throw new ApiError(0, `The runner did not answer ${method} ${path} (${error.message}); is local-runner still running?`);
  }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!response.ok) {
    throw new ApiError(response.status, describeFailure(response.status, data, text),
      { code: data && data.error ? data.error.code : null, details: data && data.error ? data.error.details : null, data });
  }
  return data !== null ? data : text;
}

// Runs `load` and shows its failure inside `element` instead of leaving it blank.
export async function into(element, load) {
  try {
    await load();
  } catch (error) {
    element.replaceChildren(errorBox(error));
  }
}

export function errorBox(error) {
  return h('p', { class: 'error', role: 'alert' }, error instanceof ApiError ? error.message : `Unexpected: ${error.message || error}`);
}

// A tiny element builder: h('td', {class: 'num'}, '3.2'). Text is always set as text (no HTML injection).
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

// A table from column definitions: [{label, value: row => text|Node, numeric}].
export function table(columns, rows, caption) {
  return h('table', {},
    caption ? h('caption', {}, caption) : null,
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col', class: c.numeric ? 'num' : null }, c.label)))),
    h('tbody', {}, rows.map((row) => h('tr', {}, columns.map((c) => h('td', { class: c.numeric ? 'num' : null }, c.value(row)))))));
}

export function card(label, value, note) {
  return h('div', { class: 'card' }, h('div', { class: 'label' }, label), h('div', { class: 'value' }, value), note ? h('div', { class: 'note' }, note) : null);
}

export function badge(text, kind) {
  return h('span', { class: `badge ${kind || ''}` }, text);
}

export const format = {
  number(value, digits = 4) {
    if (value === null || value === undefined || Number.isNaN(value)) return '–';
    if (Number.isInteger(value)) return value.toLocaleString('en-US');
    if (value !== 0 && Math.abs(value) < 1e-3) return value.toExponential(2);
    return Number(value.toFixed(digits)).toString();
  },
  fixed(value, digits) {
    if (value === null || value === undefined || Number.isNaN(value)) return '–';
    return value.toFixed(digits);
  },
  percent(value) {
    return value === null || value === undefined ? '–' : `${(value * 100).toFixed(1)}%`;
  },
  seconds(value) {
    if (value === null || value === undefined) return '–';
    if (value < 60) return `${value.toFixed(1)} s`;
    return `${Math.floor(value / 60)} min ${Math.round(value % 60)} s`;
  },
  when(iso) {
    if (!iso) return '–';
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? iso : date.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC').replace(/Z$/, ' UTC');
  },
  epoch(seconds) {
    return seconds === null || seconds === undefined ? '–' : format.when(new Date(seconds * 1000).toISOString());
  },
};

// Genre names of the MovieLens catalogue (the same list the dataset generator uses).
export const GENRES = ['Action', 'Adventure', 'Animation', 'Children', 'Comedy', 'Crime', 'Documentary', 'Drama',
  'Fantasy', 'Film-Noir', 'Horror', 'IMAX', 'Musical', 'Mystery', 'Romance', 'Sci-Fi', 'Thriller', 'War', 'Western'];
