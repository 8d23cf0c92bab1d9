// Inline SVG charts, drawn here (no library): lines across runs, and grouped bars for histograms.

const SVG = 'http://www.w3.org/2000/svg';
export const COLORS = ['#2563eb', '#dc2626', '#059669', '#d97706', '#7c3aed', '#0891b2'];

function s(tag, attributes = {}, text) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}

function tidy(value) {
  return Math.abs(value) >= 100 ? value.toFixed(0) : Number(value.toPrecision(3)).toString();
}

function figure(title, svg, legend) {
  const wrapper = document.createElement('figure');
  wrapper.className = 'chart';
  const caption = document.createElement('figcaption');
  caption.textContent = title;
  wrapper.append(caption, svg);
  if (legend && legend.length) {
    const list = document.createElement('ul');
    list.className = 'legend';
    for (const { label, color } of legend) {
      const item = document.createElement('li');
      const swatch = document.createElement('span');
      swatch.className = 'swatch';
      swatch.style.background = color;
      item.append(swatch, label);
      list.append(item);
    }
    wrapper.append(list);
  }
  return wrapper;
}

// Lines over categories. series: [{label, color, points: [number|null per category]}];
// marks: [{index, label}] draws a labelled marker (e.g. the champion's run).
export function lineChart({ title, categories, series, yLabel, marks = [] }) {
  const width = 640, height = 260, left = 56, right = 40, top = 16, bottom = 56;
  const values = series.flatMap((line) => line.points).filter((v) => v !== null && v !== undefined);
  const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': title, class: 'line-chart' });
  if (!values.length) {
    svg.append(s('text', { x: width / 2, y: height / 2, 'text-anchor': 'middle', class: 'axis' }, 'no data yet'));
    return figure(title, svg);
  }
  let low = Math.min(...values), high = Math.max(...values);
  const pad = (high - low) * 0.1 || Math.abs(high) * 0.05 || 0.1;
  low -= pad; high += pad;
  const x = (i) => left + (categories.length === 1 ? (width - left - right) / 2 : i * (width - left - right) / (categories.length - 1));
  const y = (v) => top + (high - v) / (high - low) * (height - top - bottom);
  for (let k = 0; k <= 4; k++) {
    const value = low + (high - low) * k / 4;
    svg.append(s('line', { x1: left, x2: width - right, y1: y(value), y2: y(value), class: 'grid' }));
    svg.append(s('text', { x: left - 6, y: y(value) + 4, 'text-anchor': 'end', class: 'axis' }, tidy(value)));
  }
  if (yLabel) svg.append(s('text', { x: 12, y: top + (height - top - bottom) / 2, transform: `rotate(-90 12 ${top + (height - top - bottom) / 2})`, 'text-anchor': 'middle', class: 'axis' }, yLabel));
  const step = Math.max(1, Math.ceil(categories.length / 10));
  categories.forEach((label, i) => {
    if (i % step) return;
    svg.append(s('text', { x: x(i), y: height - bottom + 16, 'text-anchor': 'middle', class: 'axis' }, label));
  });
  for (const mark of marks) {
    svg.append(s('line', { x1: x(mark.index), x2: x(mark.index), y1: top, y2: height - bottom, class: 'mark' }));
    svg.append(s('text', { x: x(mark.index), y: height - bottom + 32, 'text-anchor': 'middle', class: 'mark-label' }, mark.label));
  }
  for (const line of series) {
    let path = '';
    line.points.forEach((v, i) => {
      if (v === null || v === undefined) return;
      path += `${path && line.points[i - 1] !== null && line.points[i - 1] !== undefined ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
    });
    svg.append(s('path', { d: path, fill: 'none', stroke: line.color, 'stroke-width': 2 }));
    line.points.forEach((v, i) => {
      if (v === null || v === undefined) return;
      const dot = s('circle', { cx: x(i), cy: y(v), r: 3.5, fill: line.color });
      dot.append(s('title', {}, `${line.label}, ${categories[i]}: ${v.toFixed(4)}`));
      svg.append(dot);
    });
  }
  return figure(title, svg, series.map(({ label, color }) => ({ label, color })));
}

// Grouped bars: categories on x, one bar per series in each, heights as given (e.g. shares).
export function barChart({ title, categories, series, percent = false }) {
  const width = 480, height = 210, left = 40, right = 8, top = 14, bottom = 58;
  const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': title, class: 'bar-chart' });
  const peak = Math.max(1e-9, ...series.flatMap((b) => b.values));
  const slot = (width - left - right) / Math.max(categories.length, 1);
  const barWidth = Math.max(1, (slot - 2) / series.length);
  const y = (v) => top + (1 - v / peak) * (height - top - bottom);
  svg.append(s('line', { x1: left, x2: width - right, y1: height - bottom, y2: height - bottom, class: 'axis-line' }));
  svg.append(s('text', { x: left - 4, y: top + 4, 'text-anchor': 'end', class: 'axis' }, percent ? `${(peak * 100).toFixed(0)}%` : tidy(peak)));
  svg.append(s('text', { x: left - 4, y: height - bottom, 'text-anchor': 'end', class: 'axis' }, '0'));
  const labelStep = Math.max(1, Math.ceil(categories.length / 24));
  categories.forEach((label, i) => {
    series.forEach((bars, k) => {
      const value = bars.values[i] || 0;
      const rect = s('rect', { x: left + i * slot + 1 + k * barWidth, y: y(value), width: barWidth, height: Math.max(0, height - bottom - y(value)), fill: bars.color });
      rect.append(s('title', {}, `${label}: ${bars.label} ${percent ? `${(value * 100).toFixed(1)}%` : tidy(value)}`));
      svg.append(rect);
    });
    if (i % labelStep === 0) {
      const cx = left + i * slot + slot / 2, cy = height - bottom + 10;
      svg.append(s('text', { x: cx, y: cy, 'text-anchor': 'end', transform: `rotate(-40 ${cx} ${cy})`, class: 'axis small' }, String(label).slice(0, 22)));
    }
  });
  return figure(title, svg, series.length > 1 ? series.map(({ label, color }) => ({ label, color })) : []);
}
