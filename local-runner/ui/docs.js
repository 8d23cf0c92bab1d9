// Renders /openapi.json as a readable page: operations grouped by tag, their parameters, request
// and response bodies (schemas written out as compact type sketches), then every named schema.
import { api, h, table, errorBox } from './api.js';

const METHODS = ['get', 'post', 'put', 'patch', 'delete', 'head'];
let spec = null;

function refName(schema) {
  return schema && schema.$ref ? schema.$ref.split('/').pop() : null;
}

// A schema as a type sketch, e.g. "{ user_id: integer (1..268435455), top_n?: integer = 5 }".
// Named schemas are written by name (they are listed in full at the end); depth is bounded.
function sketch(schema, indent = '', depth = 0) {
  if (!schema) return 'any';
  const name = refName(schema);
  if (name) return name;
  if (schema.oneOf) return schema.oneOf.map((s) => sketch(s, indent, depth)).join(' | ');
  const type = Array.isArray(schema.type) ? schema.type.join(' | ') : schema.type;
  if (type === 'array') return `${sketch(schema.items, indent, depth)}[]`;
  if (schema.type === 'object' || (Array.isArray(schema.type) && schema.type.includes('object'))) {
    const properties = Object.entries(schema.properties || {});
    if (!properties.length) {
      if (schema.additionalProperties && typeof schema.additionalProperties === 'object') return `{ [key: string]: ${sketch(schema.additionalProperties, indent, depth + 1)} }`;
      return 'object';
    }
    if (depth > 3) return 'object';
    const required = new Set(schema.required || []);
    const inner = indent + '  ';
    const lines = properties.map(([key, value]) => {
      const note = [constraints(value), value.description].filter(Boolean).join(' — ');
      return `${inner}${key}${required.has(key) ? '' : '?'}: ${sketch(value, inner, depth + 1)}${note ? `   // ${note}` : ''}`;
    });
    return `{\n${lines.join('\n')}\n${indent}}`;
  }
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(' | ');
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  return type || (schema.description ? 'any' : 'any');
}

function constraints(schema) {
  const parts = [];
  if (schema.minimum !== undefined || schema.maximum !== undefined) parts.push(`${schema.minimum ?? ''}..${schema.maximum ?? ''}`);
  if (schema.default !== undefined) parts.push(`default ${JSON.stringify(schema.default)}`);
  return parts.join(', ');
}

function schemaBlock(schema) {
  return h('pre', { class: 'schema' }, sketch(schema));
}

function anchor(method, path) {
  return `op-${method}-${path.replace(/[^a-zA-Z0-9]+/g, '-')}`;
}

function operationCard(method, path, op) {
  const parameters = op.parameters || [];
  const body = op.requestBody && op.requestBody.content ? Object.entries(op.requestBody.content)[0] : null;
  return h('section', { class: 'operation', id: anchor(method, path), 'aria-labelledby': `${anchor(method, path)}-title` },
    h('h3', { id: `${anchor(method, path)}-title` }, h('span', { class: `verb ${method}` }, method.toUpperCase()), ' ', path),
    h('p', {}, h('strong', {}, op.summary || '')), op.description ? h('p', {}, op.description) : null,
    parameters.length ? h('div', {}, h('h4', {}, 'Parameters'), table([
      { label: 'Name', value: (p) => h('code', {}, p.name) },
      { label: 'In', value: (p) => p.in },
      { label: 'Type', value: (p) => h('code', {}, sketch(p.schema)) },
      { label: 'Constraints', value: (p) => [p.required ? 'required' : 'optional', constraints(p.schema || {})].filter(Boolean).join(', ') },
      { label: 'Meaning', value: (p) => p.description || '' },
    ], parameters)) : null,
    body ? h('div', {}, h('h4', {}, `Request body (${body[0]})`), schemaBlock(body[1].schema)) : null,
    h('h4', {}, 'Responses'),
    Object.entries(op.responses || {}).map(([status, response]) => {
      const content = response.content ? Object.entries(response.content)[0] : null;
      return h('div', { class: 'response' },
        h('p', {}, h('strong', {}, status), ` ${response.description || ''}`, content ? h('span', { class: 'muted' }, ` (${content[0]})`) : null),
        content && content[1].schema && Object.keys(content[1].schema).length ? schemaBlock(content[1].schema) : null);
    }));
}

async function render() {
  const root = document.getElementById('docs');
  try {
    spec = await api('/openapi.json');
  } catch (error) {
    root.replaceChildren(errorBox(error));
    return;
  }
  const byTag = new Map((spec.tags || []).map((tag) => [tag.name, []]));
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const method of METHODS) {
      if (!item[method]) continue;
      const tag = (item[method].tags || ['other'])[0];
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push({ method, path, op: item[method] });
    }
  }
  const descriptions = Object.fromEntries((spec.tags || []).map((tag) => [tag.name, tag.description]));
  const schemas = Object.entries((spec.components || {}).schemas || {});
  const toc = h('nav', { class: 'docs-toc', 'aria-label': 'Contents' },
    [...byTag].map(([tag, operations]) => [h('strong', {}, descriptions[tag] || tag),
      h('ul', {}, operations.map(({ method, path }) => h('li', {}, h('a', { href: `#${anchor(method, path)}` }, `${method.toUpperCase()} ${path}`))))]),
    h('strong', {}, 'Schemas'), h('ul', {}, schemas.map(([name]) => h('li', {}, h('a', { href: `#schema-${name}` }, name)))));
  const body = h('div', {},
    h('h2', {}, `${spec.info.title} API ${spec.info.version}`), h('p', {}, spec.info.description),
    h('p', { class: 'muted' }, 'OpenAPI ', spec.openapi, ' · ', h('a', { href: '/openapi.json' }, 'openapi.json')),
    [...byTag].map(([tag, operations]) => [h('h2', { id: `tag-${tag}` }, descriptions[tag] || tag),
      operations.map(({ method, path, op }) => operationCard(method, path, op))]),
    h('h2', {}, 'Schemas'),
    schemas.map(([name, schema]) => h('section', { class: 'schema-def', id: `schema-${name}` },
      h('h3', {}, name), schema.description ? h('p', {}, schema.description) : null, h('pre', { class: 'schema' }, sketch({ ...schema, $ref: undefined })))));
  root.replaceChildren(h('div', { class: 'docs-layout' }, toc, body));
  if (location.hash) document.getElementById(location.hash.slice(1))?.scrollIntoView();
}

render();
