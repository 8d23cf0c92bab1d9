// The page's router: the URL's hash names a view (#home, #recommendations, #training,
// #monitoring); the matching <section> is shown and its module fills it in.
import { showHome } from './home.js';
import { showRecommendations } from './recommend.js';
import { showTraining, leaveTraining } from './training.js';
import { showMonitoring } from './monitoring.js';

const views = {
  home: { show: showHome, title: 'Home' },
  recommendations: { show: showRecommendations, title: 'Recommendations' },
  training: { show: showTraining, leave: leaveTraining, title: 'Training' },
  monitoring: { show: showMonitoring, title: 'Monitoring' },
};
let current = null;

function route() {
  const name = location.hash.replace(/^#/, '') || 'home';
  const view = views[name] ? name : 'home';
  if (current && current !== view && views[current].leave) views[current].leave();
  for (const section of document.querySelectorAll('.view')) section.hidden = section.id !== `view-${view}`;
  for (const link of document.querySelectorAll('nav a[data-view]')) {
    if (link.dataset.view === view) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  document.title = `${views[view].title} · MovieRec Functions`;
  current = view;
  views[view].show();
}

window.addEventListener('hashchange', route);
route();
