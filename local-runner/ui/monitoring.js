// Monitoring: the drift verdict per feature with histograms, the baseline, rating statistics and
// recommendation quality over a chosen window.
import { api, h, table, card, badge, format, errorBox } from './api.js';
import { barChart, COLORS } from './charts.js';

const $ = (id) => document.getElementById(id);
let wired = false;

const testNames = {
  ks: 'K-S p-value', chisquare: 'chi-squared p-value', z: 'Z-test p-value',
  wasserstein: 'Wasserstein (normed)', jensenshannon: 'Jensen-Shannon distance', psi: 'PSI',
};

export function showMonitoring() {
  if (!wired) {
    $('mon-form').addEventListener('submit', (event) => { event.preventDefault(); load(); });
    $('mon-days').addEventListener('change', load);
    $('baseline-form').addEventListener('submit', (event) => { event.preventDefault(); setBaseline(); });
    wired = true;
  }
  load();
}

function days() {
  return Number($('mon-days').value);
}

// The window the drift and rating panels read: the chosen days, or, when those hold no ratings
// (a historical dataset such as MovieLens, whose newest rating is years old), the latest 10,000
// ratings, as the home page's drift card does. The page says which it shows.
const LATEST = 10000;
let current = { query: { days: 7 }, label: 'last 7 days' };

async function chooseWindow() {
  const chosen = { query: { days: days() }, label: `last ${$('mon-days').selectedOptions[0].textContent}` };
  let stats;
  try {
    stats = await api('/monitoring/stats', { query: chosen.query });
  } catch {
    return chosen;  // the panels below show the error
  }
  if (stats.ratings > 0) return chosen;
  return { query: { last_ratings: LATEST }, label: `latest ${format.number(LATEST)} ratings`, fellBack: true };
}

async function load() {
  current = await chooseWindow();
  $('mon-window').replaceChildren(current.fellBack
    ? h('p', { class: 'notice' }, `No ratings in the ${$('mon-days').selectedOptions[0].textContent === 'all time' ? 'database' : `last ${$('mon-days').selectedOptions[0].textContent}`}`
      + ` (the dataset's ratings are historical): drift and rating statistics are over the latest ${format.number(LATEST)} ratings instead.`)
    : '');
  $('mon-report').href = `/monitoring/drift/report?${new URLSearchParams(current.query)}`;
  loadDrift();
  loadBaseline();
  loadStats();
  loadQuality();
}

async function loadDrift() {
  $('mon-verdict').replaceChildren(h('p', { class: 'muted' }, 'Checking drift…'));
  $('mon-features').replaceChildren();
  $('mon-histograms').replaceChildren();
  let result;
  try {
    result = await api('/monitoring/drift', { query: current.query });
  } catch (error) {
    $('mon-verdict').replaceChildren(errorBox(error));
    return;
  }
  $('mon-verdict').replaceChildren(h('p', { class: `verdict ${result.drift_detected ? 'drift' : 'ok'}` },
    result.drift_detected ? 'Drift detected' : 'No drift detected',
    `: ${result.drifted_features} of ${result.features.length} features drifted (share ${format.number(result.share_drifted, 3)}; dataset drift from ${format.number(result.drift_share_threshold)}).`,
    ` Current window: ${format.number(result.current.rows)} ratings; baseline #${result.baseline_id}: ${format.number(result.reference.rows)} ratings.`));
  $('mon-features').replaceChildren(table([
    { label: 'Feature', value: (f) => f.name },
    { label: 'Type', value: (f) => f.type },
    { label: 'Test', value: (f) => testNames[f.method] || f.method },
    { label: 'Statistic', value: (f) => format.number(f.statistic), numeric: true },
    { label: 'p-value', value: (f) => format.number(f.p_value), numeric: true },
    { label: 'Threshold', value: (f) => format.number(f.threshold), numeric: true },
    { label: 'PSI', value: (f) => format.number(f.psi), numeric: true },
    { label: 'Drift', value: (f) => badge(f.drifted ? 'yes' : 'no', f.drifted ? 'bad' : 'good') },
  ], result.features, 'Per-feature tests (chosen as Evidently does by default)'));
  loadHistograms(result);
}

// Both windows' distributions are in the HTML report (the JSON verdict carries only the tests):
// read each feature's bar shares from the report's SVG titles ("label: reference 12.3%") and
// draw them again here. Without the report, the baseline alone is drawn.
async function loadHistograms(result) {
  const verdicts = Object.fromEntries(result.features.map((f) => [f.name, f]));
  let features = [];
  try {
    const page = await api('/monitoring/drift/report', { query: current.query });
    features = sharesFromReport(String(page));
  } catch {
    features = [];
  }
  if (!features.length) {
    try {
      const baseline = await api('/monitoring/drift/baseline');
      features = baseline.features.map((f) => {
        const total = f.counts.reduce((a, b) => a + b, 0) || 1;
        return { name: f.name, labels: f.kind === 'categorical' ? f.labels : f.values.map(String), reference: f.counts.map((c) => c / total), current: null };
      });
    } catch (error) {
      $('mon-histograms').replaceChildren(errorBox(error));
      return;
    }
  }
  $('mon-histograms').replaceChildren(...features.map((f) => {
    const verdict = verdicts[f.name];
    const title = `${f.name}${verdict ? ` · ${testNames[verdict.method] || verdict.method} ${format.number(verdict.statistic)} · ${verdict.drifted ? 'drift' : 'no drift'}` : ''}`;
    const series = [{ label: 'reference (baseline)', color: '#94a3b8', values: f.reference }];
    if (f.current) series.push({ label: `current (${current.label})`, color: COLORS[0], values: f.current });
    return barChart({ title, categories: f.labels, series, percent: true });
  }));
}

export function sharesFromReport(html) {
  const doc = new DOMParser().parseFromString(html, 'text/html');
  return [...doc.querySelectorAll('.card')].map((cardElement) => {
    const name = (cardElement.querySelector('strong') || {}).textContent || '?';
    const labels = [], reference = [], current = [];
    for (const title of cardElement.querySelectorAll('rect > title')) {
      const match = /^(.*): (reference|current) ([\d.]+)%$/.exec(title.textContent);
      if (!match) continue;
      const [, label, window, percent] = match;
      if (window === 'reference') { labels.push(label); reference.push(Number(percent) / 100); } else current.push(Number(percent) / 100);
    }
    return { name, labels, reference, current };
  }).filter((f) => f.labels.length);
}

async function loadBaseline() {
  try {
    const baseline = await api('/monitoring/drift/baseline');
    const w = baseline.window || {};
    const range = [w.from ? `from ${format.epoch(w.from)}` : null, w.to ? `to ${format.epoch(w.to)}` : null,
      w.last_ratings ? `the last ${format.number(w.last_ratings)} ratings` : null].filter(Boolean).join(', ') || 'every rating';
    $('mon-baseline').replaceChildren(h('p', {}, `Baseline #${baseline.baseline_id}, taken ${format.when(baseline.created_at)}: ${range}, `,
      `${format.number(baseline.rows)} ratings, ${baseline.features.length} features.`));
  } catch (error) {
    $('mon-baseline').replaceChildren(errorBox(error));
  }
}

async function setBaseline() {
  const last = $('baseline-window').value;
  const button = $('baseline-form').querySelector('button');
  button.disabled = true;
  $('mon-baseline').replaceChildren(h('p', { class: 'muted' }, 'Taking the baseline…'));
  try {
    await api('/monitoring/drift/baseline', { method: 'POST', query: { last_ratings: last || undefined } });
    await loadBaseline();
    loadDrift();
  } catch (error) {
    $('mon-baseline').replaceChildren(errorBox(error));
  } finally {
    button.disabled = false;
  }
}

async function loadStats() {
  try {
    const stats = await api('/monitoring/stats', { query: current.query });
    $('mon-stats').replaceChildren(
      card('Ratings', format.number(stats.ratings)), card('Users', format.number(stats.users)), card('Movies', format.number(stats.movies)),
      card('Mean', format.number(stats.mean, 3), `std ${format.number(stats.std, 3)}`),
      card('Range', `${format.number(stats.min, 1)} – ${format.number(stats.max, 1)}`), card('Days with ratings', format.number(stats.distinct_days)));
  } catch (error) {
    $('mon-stats').replaceChildren(errorBox(error));
  }
}

async function loadQuality() {
  try {
    const quality = await api('/monitoring/recommendations', { query: { days: days() } });
    $('mon-quality').replaceChildren(
      card('Requests', format.number(quality.requests)), card('Items recommended', format.number(quality.items)),
      card('Distinct items', format.number(quality.distinct_items)),
      card('Genre diversity', format.percent(quality.intra_list_genre_diversity), 'within a list'),
      card('Novelty', format.percent(quality.novelty), 'outside the 100 most rated'),
      card('Catalogue coverage', format.percent(quality.catalog_coverage)));
    const methods = Object.keys(quality.methods);
    $('mon-methods').replaceChildren(methods.length
      ? barChart({ title: 'Requests by method', categories: methods, series: [{ label: 'requests', color: COLORS[2], values: methods.map((m) => quality.methods[m]) }] })
      : h('p', { class: 'muted' }, 'No recommendations served in this window.'),
    methods.length
      ? barChart({ title: 'Mean score by method', categories: methods, series: [{ label: 'mean score', color: COLORS[3], values: methods.map((m) => quality.mean_score_by_method[m] || 0) }] })
      : '');
  } catch (error) {
    $('mon-quality').replaceChildren(errorBox(error));
  }
}
