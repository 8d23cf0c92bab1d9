// Recommendations: a known user's top-N, and a new visitor whose ratings change the list at once
// (POST /ratings records them; POST /predict/ then folds them into the champion's factors).
import { api, h, table, badge, format, errorBox, GENRES } from './api.js';

const $ = (id) => document.getElementById(id);
let wired = false;
// The new visitor: an id just above the dataset's users, kept across reloads. Not far above: the
// drift baseline keeps per-user activity in an array indexed by user id.
let visitor = { id: 0, ratings: new Map(), previous: [] };
let userCount = 0;

export function showRecommendations() {
  if (wired) return;
  wired = true;
  for (const genre of GENRES) $('rec-genre').append(h('option', { value: genre }, genre));
  $('visitor-genres').replaceChildren(...GENRES.map((genre) =>
    h('label', {}, h('input', { type: 'checkbox', name: 'genre', value: genre }), ` ${genre}`)));
  $('rec-form').addEventListener('submit', (event) => { event.preventDefault(); recommendForUser(); });
  $('rec-random').addEventListener('click', pickRandomUser);
  $('visitor-form').addEventListener('submit', (event) => { event.preventDefault(); refreshVisitor(); });
  $('visitor-new').addEventListener('click', () => { newVisitor(); $('visitor-result').replaceChildren(); $('visitor-rated').replaceChildren(); });
  recommendForUser();
  api('/stats').then((stats) => {
    userCount = stats.users;
    const saved = Number(localStorage.getItem('movierec-visitor'));
    if (saved > userCount && saved < userCount + 200_000) {
      visitor.id = saved;
      $('visitor-id').textContent = String(saved);
    } else {
      newVisitor();
    }
  }).catch((error) => $('visitor-result').replaceChildren(errorBox(error)));
}

function newVisitor() {
  visitor = { id: userCount + 1000 + Math.floor(Math.random() * 100_000), ratings: new Map(), previous: [] };
  localStorage.setItem('movierec-visitor', String(visitor.id));
  $('visitor-id').textContent = String(visitor.id);
}

function methodNote(answer) {
  const names = {
    svd: 'SVD: the champion knows this user',
    svd_fold_in: 'SVD fold-in: factors fitted to ratings newer than the model',
    popularity_cold_start: 'cold start: damped popularity stored with the model',
    popularity: 'popularity (the model cannot score this user)',
    popularity_no_model: 'popularity from the database: no champion model yet',
  };
  const text = names[answer.method] || (answer.method.startsWith('knn') ? `KNN (${answer.method})` : answer.method);
  return h('p', { class: 'method' }, 'Answered by ', badge(answer.method, 'info'), ` ${text}`,
    answer.model_version ? ` · model v${answer.model_version}` : '');
}

function recommendationTable(answer, { rate, previous } = {}) {
  const before = new Set(previous || []);
  const columns = [
    { label: '#', value: (r) => String(r.rank), numeric: true },
    { label: 'Title', value: (r) => h('span', {}, r.title, previous && previous.length && !before.has(r.movie_id) ? h('span', { class: 'badge new' }, 'new') : null) },
    { label: 'Genres', value: (r) => r.genres.replaceAll('|', ', ') },
    // Two decimals always: the top of a generous user's list sits at the clip (5.00), and 4.96 must not read "5".
    { label: 'Predicted rating', value: (r) => format.fixed(r.score, 2), numeric: true },
  ];
  if (rate) columns.push({ label: 'Your rating', value: (r) => stars(r, rate) });
  const rows = answer.recommendations.map((r, i) => ({ ...r, rank: i + 1 }));
  if (!rows.length) return h('p', { class: 'muted' }, 'No movies to recommend with these choices.');
  return table(columns, rows);
}

function stars(movie, rate) {
  return h('span', { class: 'stars', role: 'group', 'aria-label': `Rate ${movie.title}` },
    [1, 2, 3, 4, 5].map((n) => h('button', { type: 'button', class: 'star', title: `${n} star${n > 1 ? 's' : ''}`,
      'aria-label': `Rate ${movie.title} ${n} star${n > 1 ? 's' : ''}`, 'data-movie': movie.movie_id, 'data-stars': n,
      onclick: () => rate(movie, n) }, '★')));
}

async function pickRandomUser() {
  try {
    const sample = await api('/get-random-ratings', { query: { n: 1 } });
    if (sample.ratings.length) $('rec-user').value = sample.ratings[0].user_id;
    await recommendForUser();
  } catch (error) {
    $('rec-result').replaceChildren(errorBox(error));
  }
}

async function recommendForUser() {
  const user = Number($('rec-user').value);
  const genre = $('rec-genre').value;
  const body = { user_id: user, top_n: Number($('rec-topn').value) };
  if (genre) body.genres = [genre];
  $('rec-result').replaceChildren(h('p', { class: 'muted' }, 'Asking the predict function…'));
  try {
    const answer = await api('/predict/', { method: 'POST', body });
    $('rec-result').replaceChildren(
      h('h3', {}, `Top ${answer.recommendations.length} for user ${answer.user_id}`),
      methodNote(answer), recommendationTable(answer));
  } catch (error) {
    $('rec-result').replaceChildren(errorBox(error));
  }
  showUserHistory(user);
}

// A few of the user's own ratings, so the list can be judged against their taste.
async function showUserHistory(user) {
  try {
    const sample = await api('/get-random-ratings', { query: { n: 8, user_id: user } });
    $('rec-history').replaceChildren(h('details', {},
      h('summary', {}, `Some of user ${user}'s own ratings (${sample.count})`),
      table([
        { label: 'Title', value: (r) => r.title },
        { label: 'Genres', value: (r) => r.genres.replaceAll('|', ', ') },
        { label: 'Rating', value: (r) => format.number(r.rating, 1), numeric: true },
      ], sample.ratings)));
  } catch (error) {
    $('rec-history').replaceChildren(h('p', { class: 'muted' }, error.status === 404 ? `User ${user} has no ratings yet.` : error.message));
  }
}

function chosenGenres() {
  return [...document.querySelectorAll('#visitor-genres input:checked')].map((box) => box.value);
}

async function refreshVisitor() {
  const body = { user_id: visitor.id, top_n: 10 };
  const genres = chosenGenres();
  if (genres.length) body.genres = genres;
  try {
    const answer = await api('/predict/', { method: 'POST', body });
    const heading = visitor.ratings.size
      ? `Your top 10 after ${visitor.ratings.size} rating${visitor.ratings.size > 1 ? 's' : ''}`
      : `Your top 10${genres.length ? ` in ${genres.join(', ')}` : ''}`;
    $('visitor-result').replaceChildren(h('h3', {}, heading), methodNote(answer),
      recommendationTable(answer, { rate, previous: visitor.previous }),
      h('p', { class: 'muted small' }, 'Rate a movie with the stars: the list is asked for again right away; movies marked "new" were not in the previous list.'));
    visitor.previous = answer.recommendations.map((r) => r.movie_id);
  } catch (error) {
    $('visitor-result').replaceChildren(errorBox(error));
  }
}

async function rate(movie, starsGiven) {
  try {
    await api('/ratings', { method: 'POST', body: { user_id: visitor.id, ratings: [{ movie_id: movie.movie_id, rating: starsGiven }] } });
    visitor.ratings.set(movie.movie_id, { title: movie.title, rating: starsGiven });
    $('visitor-rated').replaceChildren(h('p', {}, h('strong', {}, 'Your ratings: '),
      [...visitor.ratings.values()].map((r) => `${r.title} ${'★'.repeat(r.rating)}`).join(' · ')));
    await refreshVisitor();
  } catch (error) {
    $('visitor-result').prepend(errorBox(error));
  }
}
