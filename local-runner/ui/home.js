// Home: is the system up, what is it serving, what did it last do, what will it do next.
import { api, ApiError, h, card, badge, table, format, errorBox } from './api.js';

const $ = (id) => document.getElementById(id);
let wired = false;

export function showHome() {
  if (!wired) {
    $('home-refresh').addEventListener('click', load);
    wired = true;
  }
  load();
}

// Each source is asked on its own: one failing (say, no drift baseline yet) leaves the rest shown.
async function settle(promise) {
  try { return { value: await promise }; } catch (error) { return { error }; }
}

// The last week's drift; when the week holds no ratings (a dataset with old timestamps), the
// latest 10,000 ratings instead, so the card shows a verdict rather than an empty window.
async function latestDrift() {
  try {
    return { value: await api('/monitoring/drift', { query: { days: 7 } }), window: 'last 7 days' };
  } catch (error) {
    if (error.status !== 409 || !/no ratings/.test(error.message || '')) return { error, window: 'last 7 days' };
    return { ...(await settle(api('/monitoring/drift', { query: { last_ratings: 10000 } }))), window: 'latest 10,000 ratings' };
  }
}

async function load() {
  const [health, models, stats, drift, schedules, latest] = await Promise.all([
    settle(api('/health')), settle(api('/models')), settle(api('/stats')),
    latestDrift(), settle(api('/schedules')), settle(api('/training/status')),
  ]);
  $('home-status').replaceChildren(
    healthCards(health),
    championCard(models),
    trainingCard(latest),
    driftCard(drift),
    nextRunCard(schedules),
  );
  $('home-counts').replaceChildren(...countCards(stats));
  $('home-schedules').replaceChildren(scheduleTable(schedules));
}

function state(text) {
  const good = text === 'ok';
  return badge(text || 'not reported', good ? 'good' : text ? 'bad' : '');
}

function healthCards({ value, error }) {
  // A degraded runner answers 503 with the same document: show it rather than the error.
  const body = value || (error instanceof ApiError ? error.data : null);
  if (!body || !body.status) return card('Runner', errorBox(error));
  const functions = Object.entries(body.functions || {}).sort().map(([name, pool]) =>
    h('div', {}, `${name.replace(/Function$/, '')}: ${pool.workers ?? 0} warm, ${pool.busy ?? 0} busy`));
  const fragment = document.createDocumentFragment();
  fragment.append(
    card('Runner', state(body.status), `${(body.routes || []).length} routes`),
    card('Database', state(body.database)),
    card('Storage', state(body.storage)),
    card('Function workers', h('div', { class: 'small' }, functions.length ? functions : 'none started yet')),
  );
  return fragment;
}

function championCard({ value, error }) {
  if (error) return card('Champion model', errorBox(error));
  const champion = value.champion;
  if (!champion) return card('Champion model', 'none yet', 'start a training run');
  const metrics = champion.metrics || {};
  return card('Champion model', `${champion.algorithm} v${champion.version}`,
    `RMSE ${format.number(metrics.rmse)} · MAE ${format.number(metrics.mae)} · ${format.when(champion.created_at)}`);
}

function trainingCard({ value, error }) {
  if (error) return card('Last training run', errorBox(error));
  // Before the first run the status is {"status": "idle"}, with no run fields.
  if (value.status === 'idle') return card('Last training run', 'none yet', 'start a training run');
  const promoted = value.decision ? (value.decision.promoted ? 'promoted' : 'not promoted') : '';
  return card('Last training run', h('span', {}, badge(value.status, value.status === 'succeeded' ? 'good' : value.status === 'failed' ? 'bad' : 'busy')),
    `${format.when(value.finished_at || value.started_at)}${promoted ? ` · ${promoted}` : ''}`);
}

function driftCard({ value, error, window }) {
  if (error) return card(`Drift, ${window}`, errorBox(error));
  return card(`Drift, ${window}`, badge(value.drift_detected ? 'drift detected' : 'no drift', value.drift_detected ? 'bad' : 'good'),
    `${value.drifted_features} of ${value.features.length} features drifted · ${format.number(value.current.rows)} ratings`);
}

function nextRunCard({ value, error }) {
  if (error) return card('Next scheduled run', error.status === 404 ? 'no scheduler in this runner' : errorBox(error));
  const upcoming = (value.schedules || []).filter((s) => s.next_fire).sort((a, b) => a.next_fire.localeCompare(b.next_fire));
  if (!upcoming.length) return card('Next scheduled run', 'none');
  return card('Next scheduled run', upcoming[0].name, format.when(upcoming[0].next_fire));
}

function countCards({ value, error }) {
  if (error) return [errorBox(error)];
  return [
    card('Users', format.number(value.users)),
    card('Movies', format.number(value.movies)),
    card('Ratings', format.number(value.ratings)),
    card('Average rating', format.number(value.average_rating, 3)),
    card('Last import', format.when(value.last_import)),
  ];
}

function scheduleTable({ value, error }) {
  if (error) return h('p', { class: 'muted' }, error.status === 404 ? 'This runner does not expose its schedules (GET /schedules).' : error.message);
  const rows = value.schedules || [];
  if (!rows.length) return h('p', { class: 'muted' }, 'No schedules in the template.');
  return table([
    { label: 'Schedule', value: (r) => r.name },
    { label: 'Expression', value: (r) => h('code', {}, r.expression) },
    { label: 'Targets', value: (r) => (r.targets || []).map((t) => (typeof t === 'string' ? t : t.function || t.name || JSON.stringify(t))).join(', ') },
    { label: 'Next run', value: (r) => format.when(r.next_fire) },
    { label: 'Last run', value: (r) => (r.last_run ? h('span', {}, badge(r.last_run.status, r.last_run.status === 'succeeded' ? 'good' : r.last_run.status === 'failed' ? 'bad' : 'busy'), ' ', format.when(r.last_run.started_at), lastRunSteps(r.last_run)) : 'never') },
    { label: '', value: (r) => runNowButton(r) },
  ], rows);
}

// Each step of a run, with its attempts and error, so a failed night says which step and why.
function lastRunSteps(run) {
  const steps = run.steps || [];
  if (!steps.length) return '';
  return h('ul', { class: 'steps' }, ...steps.map((step) => h('li', {},
    `${step.name}: ${step.status}${step.attempts > 1 ? ` after ${step.attempts} attempts` : ''}${step.error ? ` (${step.error})` : ''}`)));
}

// POST /schedules/{name}/run, then follow the run until it ends.
function runNowButton(schedule) {
  const button = h('button', { type: 'button', class: 'run-now', 'data-schedule': schedule.name }, 'Run now');
  const note = h('span', { class: 'muted', role: 'status' });
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      const started = await api(`/schedules/${encodeURIComponent(schedule.name)}/run`, { method: 'POST' });
      note.textContent = ` started ${started.run_id.slice(0, 8)}…`;
      for (;;) {
        await new Promise((resolve) => setTimeout(resolve, 1000));
        const runs = await api(`/schedules/${encodeURIComponent(schedule.name)}/runs`);
        const run = (runs.runs || []).find((r) => r.id === started.run_id);
        if (run && run.status !== 'running') { note.textContent = ` run ${run.status}`; break; }
      }
      load();
    } catch (error) {
      note.replaceChildren(errorBox(error));
    } finally {
      button.disabled = false;
    }
  });
  return h('span', {}, button, note);
}
