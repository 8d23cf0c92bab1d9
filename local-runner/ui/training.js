// Training: start a run, follow it live, the history of runs with why each was or was not
// promoted, accuracy per model across runs, and the registered versions with the champion.
import { api, h, table, badge, format, errorBox } from './api.js';
import { lineChart, COLORS } from './charts.js';

const $ = (id) => document.getElementById(id);
let wired = false;
let polling = null; // the timer following a run, so leaving the view stops it

export function showTraining() {
  if (!wired) {
    $('train-form').addEventListener('submit', (event) => { event.preventDefault(); startRun(); });
    wired = true;
  }
  loadHistory();
}

export function leaveTraining() {
  // The run goes on in the runner; only the page stops asking.
  if (polling) clearTimeout(polling);
  polling = null;
}

async function startRun() {
  const force = $('train-force').checked;
  const button = $('train-form').querySelector('button');
  button.disabled = true;
  try {
    const accepted = await api('/training/', { method: 'POST', body: { force } });
    $('train-live').replaceChildren(h('p', {}, `Run ${accepted.run_id} queued${force ? ' (force)' : ''}; waiting for it to start…`));
    follow(accepted.run_id);
  } catch (error) {
    $('train-live').replaceChildren(errorBox(error));
    button.disabled = false;
  }
}

// Polls the run's status once a second until it ends. The run's row is written (queued) before
// the 202, and a second start while it is active gets 409 naming it, so any error here is real.
async function follow(runId) {
  const button = $('train-form').querySelector('button');
  try {
    const run = await api('/training/status', { query: { run_id: runId } });
    $('train-live').replaceChildren(liveRun(run));
    if (run.status === 'succeeded' || run.status === 'failed') {
      button.disabled = false;
      polling = null;
      loadHistory();
      return;
    }
  } catch (error) {
    $('train-live').replaceChildren(errorBox(error));
  }
  polling = setTimeout(() => follow(runId), 1000);
}

function liveRun(run) {
  const percent = Math.round(run.progress || 0);
  return h('div', { class: 'live' },
    h('p', {}, badge(run.status, statusKind(run.status)), ` Run ${run.run_id}: `, h('strong', { id: 'train-stage' }, run.stage)),
    h('p', {}, h('progress', { max: 100, value: percent, 'aria-label': 'training progress' }), ` ${percent}%`,
      run.status === 'running' && run.eta_seconds ? ` · about ${format.seconds(run.eta_seconds)} left` : '',
      run.duration_seconds ? ` · took ${format.seconds(run.duration_seconds)}` : ''),
    run.decision ? h('p', { class: 'decision' }, h('strong', {}, run.decision.promoted ? 'Promoted. ' : 'Not promoted. '), run.decision.reason) : null,
    run.error ? h('p', { class: 'error' }, run.error) : null);
}

function statusKind(status) {
  return status === 'succeeded' ? 'good' : status === 'failed' ? 'bad' : 'busy';
}

async function loadHistory() {
  let runs, models;
  try {
    [runs, models] = await Promise.all([api('/training/runs', { query: { limit: 50 } }), api('/models')]);
  } catch (error) {
    $('train-runs').replaceChildren(errorBox(error));
    return;
  }
  const champion = models.champion ? models.champion.version : null;
  $('train-chart').replaceChildren(...accuracyCharts(runs.runs, champion));
  $('train-runs').replaceChildren(runTable(runs.runs, champion));
  $('train-models').replaceChildren(modelTable(models));
  // A run started elsewhere (the schedule, curl) is followed too.
  const active = runs.runs.find((run) => run.status === 'running' || run.status === 'queued');
  if (active && !polling) follow(active.run_id);
}

// RMSE and MAE (cross-validated mean) of every candidate, oldest run first.
function accuracyCharts(runs, champion) {
  const done = runs.filter((run) => Array.isArray(run.candidates) && run.candidates.length).reverse();
  const categories = done.map((run) => (run.model_version ? `v${run.model_version}` : run.run_id.slice(0, 6)));
  const algorithms = [...new Set(done.flatMap((run) => run.candidates.map((c) => c.algorithm)))];
  const names = Object.fromEntries(done.flatMap((run) => run.candidates.map((c) => [c.algorithm, c.name || c.algorithm])));
  const marks = done.map((run, index) => (champion !== null && run.model_version === champion ? { index, label: 'champion' } : null)).filter(Boolean);
  const series = (key) => algorithms.map((algorithm, i) => ({
    label: names[algorithm], color: COLORS[i % COLORS.length],
    points: done.map((run) => { const c = run.candidates.find((x) => x.algorithm === algorithm); return c ? c[key] : null; }),
  }));
  return [
    lineChart({ title: 'RMSE per model across runs (cross-validated mean, lower is better)', categories, series: series('rmse_mean'), yLabel: 'RMSE', marks }),
    lineChart({ title: 'MAE per model across runs', categories, series: series('mae_mean'), yLabel: 'MAE', marks }),
  ];
}

// The run's page in MLflow when the mirror holds it; why not, when it failed; nothing without MLflow.
function mlflowCell(run) {
  const mirror = run.mlflow;
  if (!mirror) return '';
  if (mirror.status === 'mirrored') return h('a', { href: mirror.url, target: '_blank', rel: 'noopener' }, 'open run');
  return h('span', { class: 'muted', title: mirror.error || '' }, `not mirrored yet (${mirror.attempts || 1} tries)`);
}

function runTable(runs, champion) {
  if (!runs.length) return h('p', { class: 'muted' }, 'No training run yet.');
  return table([
    { label: 'Started', value: (r) => format.when(r.started_at || r.created_at) },
    { label: 'Run', value: (r) => h('code', { title: r.run_id }, r.run_id.slice(0, 8)) },
    { label: 'Status', value: (r) => badge(r.status, statusKind(r.status)) },
    { label: 'Trigger', value: (r) => [r.parameters && r.parameters.trigger, r.parameters && r.parameters.force ? 'force' : null].filter(Boolean).join(', ') },
    { label: 'Best', value: (r) => r.best || '–' },
    { label: 'RMSE', value: (r) => bestMetric(r, 'rmse_mean'), numeric: true },
    { label: 'MAE', value: (r) => bestMetric(r, 'mae_mean'), numeric: true },
    { label: 'Version', value: (r) => (r.model_version ? h('span', {}, `v${r.model_version}`, r.model_version === champion ? badge('champion', 'good') : null) : '–') },
    { label: 'Took', value: (r) => format.seconds(r.duration_seconds), numeric: true },
    { label: 'MLflow', value: mlflowCell },
    { label: 'Decision', value: (r) => (r.decision ? h('span', {}, h('strong', {}, r.decision.promoted ? 'promoted: ' : 'kept champion: '), r.decision.reason) : r.error || r.stage) },
  ], runs);
}

function bestMetric(run, key) {
  const best = (run.candidates || []).find((c) => c.algorithm === run.best);
  return best ? format.number(best[key]) : '–';
}

function modelTable(models) {
  if (!models.versions.length) return h('p', { class: 'muted' }, 'No model registered yet.');
  return table([
    { label: 'Version', value: (v) => h('span', {}, `v${v.version}`, v.aliases.includes('champion') ? badge('champion', 'good') : null) },
    { label: 'Algorithm', value: (v) => `${v.algorithm}${v.variant ? ` (${v.variant})` : ''}` },
    { label: 'RMSE', value: (v) => format.number(v.metrics && v.metrics.rmse), numeric: true },
    { label: 'MAE', value: (v) => format.number(v.metrics && v.metrics.mae), numeric: true },
    { label: 'NDCG@10', value: (v) => format.number(v.metrics && v.metrics.ranking && v.metrics.ranking.ndcg_at_10), numeric: true },
    { label: 'Ratings', value: (v) => format.number(v.data && v.data.ratings), numeric: true },
    { label: 'Created', value: (v) => format.when(v.created_at) },
    { label: 'Artifact', value: (v) => h('code', { class: 'small' }, v.artifact) },
  ], models.versions, models.name);
}
