// swan's search page: plain modern JavaScript, no build step, nothing fetched from
// outside the server that serves it. Talks to the JSON API under /api (see the README).
'use strict';

const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value == null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (key in node && !key.includes('-')) node[key] = value;
    else node.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children) if (child != null) node.append(child);
  return node;
};

const K_CHOICES = [6, 12, 24, 48, 96];
const EXAMPLES = [
  'a beach with white waves',
  'many green trees in a dense forest',
  'cars parked in rows',
  'brown fields next to each other',
  'houses along the streets',
];
const IMAGE_TYPES = ['image/jpeg', 'image/png', 'image/tiff'];
const IMAGE_EXT = /\.(jpe?g|png|tiff?)$/i;

// ---------------------------------------------------------------------------------------
// Authorisation: a server started with --token wants `Authorization: Bearer`. The page
// takes the token from the address's fragment (#token=...), which never reaches a server
// log, keeps it for the tab's life and removes it from the address bar.
const TOKEN_KEY = 'swan.token';
function readToken() {
  let token = null;
  const match = location.hash.match(/(?:^#|&)token=([^&]*)/);
  try {
    if (match) {
      token = decodeURIComponent(match[1]);
      sessionStorage.setItem(TOKEN_KEY, token);
      history.replaceState(history.state, '', location.pathname + location.search);
    } else {
      token = sessionStorage.getItem(TOKEN_KEY);
    }
  } catch (_) {
    // Storage can be off (private modes): the token then lasts until the page reloads.
  }
  return token || null;
}
const token = readToken();
const authHeaders = () => (token ? { Authorization: `Bearer ${token}` } : {});

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(path, { method = 'GET', json, body, signal } = {}) {
  const headers = { Accept: 'application/json', ...authHeaders() };
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(json);
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body, signal });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, 'Cannot reach the swan server. Is `swan serve` still running?');
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch (_) {
    // Not JSON (a proxy's page, a body-limit rejection): fall through with the text.
  }
  if (!response.ok) {
    let message = (data && data.error) || text.trim() || response.statusText;
    if (response.status === 401) {
      message = `${message || 'Unauthorised'}. This server needs a token: open its address with #token=YOUR_TOKEN at the end.`;
    } else if (response.status === 413 && !(data && data.error)) {
      message = 'The image is larger than this server accepts.';
    }
    throw new ApiError(response.status, message);
  }
  return data;
}

// Thumbnails: an <img src> cannot carry a bearer token, so with a token they are fetched
// and shown from object URLs (revoked when the grid is replaced); without one the browser
// loads and caches them directly.
let objectUrls = [];
function setThumb(img, path) {
  if (!token) {
    img.src = path;
    return;
  }
  fetch(path, { headers: authHeaders() })
    .then((r) => (r.ok ? r.blob() : Promise.reject(new Error(r.statusText))))
    .then((blob) => {
      const url = URL.createObjectURL(blob);
      objectUrls.push(url);
      img.src = url;
    })
    .catch(() => img.classList.add('broken'));
}
function releaseThumbs() {
  for (const url of objectUrls) URL.revokeObjectURL(url);
  objectUrls = [];
}

// ---------------------------------------------------------------------------------------
// State. A query is {kind: 'text', text} | {kind: 'row', row, file} | {kind: 'image', file};
// k, scene and exact apply to whichever query runs.
const state = {
  info: null,
  query: null,
  k: 12,
  scene: null,
  exact: false,
  controller: null,
  previewUrl: null,
};

const ui = {
  form: $('search-form'),
  q: $('q'),
  searchBtn: $('search-btn'),
  file: $('file'),
  drop: $('drop'),
  random: $('random-btn'),
  scenes: $('scenes'),
  k: $('k'),
  exact: $('exact'),
  exactWrap: $('exact-wrap'),
  exactNote: $('exact-note'),
  query: $('query'),
  timing: $('timing'),
  error: $('error'),
  results: $('results'),
  grid: $('grid'),
  empty: $('empty'),
  emptyLead: $('empty-lead'),
  examples: $('examples'),
  info: $('info'),
  progress: $('progress'),
};

// ---------------------------------------------------------------------------------------
// Start-up: what the server holds decides which controls make sense.
async function start() {
  bindEvents();
  try {
    state.info = await api('/api/info');
  } catch (err) {
    showError(err, 'Cannot load the server’s description');
    ui.info.textContent = 'No server information.';
    return;
  }
  renderInfo();
  renderControls();
  restoreFromUrl(false);
}

function renderInfo() {
  const info = state.info;
  const parts = [];
  parts.push(el('span', {}, 'Model ', el('strong', { text: info.model || 'unknown' })));
  if (info.checkpoint_sha256) {
    parts.push(el('span', { title: `checkpoint SHA-256 ${info.checkpoint_sha256}` }, 'checkpoint ',
      el('code', { text: info.checkpoint_sha256.slice(0, 12) })));
  }
  if (info.corpus) {
    const where = [info.corpus.layout, info.corpus.split].filter(Boolean).join(', ');
    parts.push(el('span', { title: info.corpus.path || '' }, 'corpus ',
      el('strong', { text: basename(info.corpus.path || 'unknown') }), where ? ` (${where})` : ''));
  }
  parts.push(el('span', { text: `${fmtInt(info.rows)} images · ${fmtInt(info.captions)} captions` }));
  if (info.index) {
    const ix = info.index;
    parts.push(el('span', { text: `HNSW index M ${ix.m}, ef ${ix.ef_construction}/${ix.ef_search}, ${ix.precision}` }));
  } else {
    parts.push(el('span', { text: 'exact search (no index)' }));
  }
  ui.info.replaceChildren(...parts.flatMap((p, i) => (i ? [el('span', { class: 'sep', 'aria-hidden': 'true', text: '·' }), p] : [p])));
}

function renderControls() {
  const info = state.info;
  const maxK = Math.max(1, info.max_k || 96);
  const choices = K_CHOICES.filter((k) => k <= maxK);
  if (!choices.length || choices[choices.length - 1] < Math.min(maxK, 96)) choices.push(Math.min(maxK, 96));
  state.k = choices.includes(12) ? 12 : choices[choices.length - 1];
  ui.k.replaceChildren(...choices.map((k) => el('option', { value: String(k), text: String(k), selected: k === state.k })));

  ui.exactWrap.hidden = !info.index;

  if (!info.text_queries) {
    ui.q.disabled = true;
    ui.searchBtn.disabled = true;
    ui.q.placeholder = 'Text search needs a checkpoint and vocabulary';
    ui.form.title = 'Start swan serve with --checkpoint and --vocab to search by text';
  }
  if (!info.image_queries) {
    ui.drop.classList.add('no-upload');
    ui.file.disabled = true;
    ui.drop.querySelector('.drop-text').textContent = 'No model loaded: browse by example';
  }

  renderScenes();
  ui.examples.replaceChildren();
  if (info.text_queries) {
    for (const text of EXAMPLES) {
      ui.examples.append(el('button', { type: 'button', class: 'example', text, onclick: () => runText(text) }));
    }
  }
  renderSamples(info);
  if (!info.text_queries && !info.image_queries) {
    ui.emptyLead.textContent = 'This server has no model loaded: pick a scene or “Surprise me” and follow the images you like.';
  }
}

// A few of the archive's images, spread over its rows, as starting points ("more like this").
function renderSamples(info) {
  const n = Math.min(8, info.rows || 0);
  const row = $('sample-row');
  row.replaceChildren();
  for (let i = 0; i < n; i += 1) {
    const r = Math.floor((i * info.rows) / n);
    const img = el('img', { alt: '', decoding: 'async', draggable: false });
    img.addEventListener('load', () => img.classList.add('loaded'));
    setThumb(img, `/api/thumb/${r}`);
    row.append(el('button', { type: 'button', class: 'sample', 'aria-label': `More like image ${r}`, onclick: () => runRow(r, null) }, img));
  }
  $('samples').hidden = n === 0;
}

function renderScenes() {
  const scenes = (state.info && state.info.scenes) || [];
  const chip = (name, label, count) => el('button', {
    type: 'button',
    class: 'chip',
    'data-scene': name ?? '',
    'aria-pressed': String(state.scene === name),
    onclick: () => pickScene(name),
  }, el('span', { text: label }), count == null ? null : el('span', { class: 'count', text: fmtInt(count) }));
  ui.scenes.replaceChildren(
    chip(null, 'All scenes', state.info ? state.info.rows : null),
    ...scenes.map((s) => chip(s.name, s.name, s.count)),
  );
}

// ---------------------------------------------------------------------------------------
// Queries.
function runText(text) {
  text = text.trim();
  if (!text) {
    ui.q.focus();
    return;
  }
  ui.q.value = text;
  run({ kind: 'text', text });
}

function runRow(row, file) {
  run({ kind: 'row', row, file });
}

function runImage(file) {
  if (!file) return;
  if (!(IMAGE_TYPES.includes(file.type) || IMAGE_EXT.test(file.name))) {
    showError(new ApiError(0, `“${file.name}” is not a JPEG, PNG or TIFF image.`), 'Cannot search with this file');
    return;
  }
  run({ kind: 'image', file });
}

function runRandom() {
  if (!state.info || !state.info.rows) return;
  runRow(Math.floor(Math.random() * state.info.rows), null);
}

function pickScene(name) {
  state.scene = name;
  for (const c of ui.scenes.children) c.setAttribute('aria-pressed', String((c.dataset.scene || null) === name));
  if (state.query) run(state.query);
  else if (name != null) runRandom();
  else syncUrl(false);
}

async function run(query, { push = true } = {}) {
  state.query = query;
  if (state.controller) state.controller.abort();
  const controller = new AbortController();
  state.controller = controller;
  const focusWasInGrid = ui.grid.contains(document.activeElement);

  hideError();
  setLoading(true);
  renderQuery(query);
  if (push) syncUrl(true);

  try {
    let data;
    if (query.kind === 'image') {
      const form = new FormData();
      form.append('image', query.file, query.file.name || 'image');
      const params = new URLSearchParams({ k: String(state.k), exact: String(state.exact) });
      if (state.scene != null) params.set('scene', state.scene);
      data = await api(`/api/search/image?${params}`, { method: 'POST', body: form, signal: controller.signal });
    } else {
      const body = { k: state.k, scene: state.scene, exact: state.exact };
      if (query.kind === 'text') body.text = query.text;
      else body.row = query.row;
      data = await api('/api/search', { method: 'POST', json: body, signal: controller.signal });
    }
    if (controller !== state.controller) return;
    renderResults(data, query);
    if (focusWasInGrid) ui.query.focus({ preventScroll: false });
  } catch (err) {
    if (err.name === 'AbortError' || controller !== state.controller) return;
    showError(err);
    // The old results answered another query: showing them under this one would mislead.
    releaseThumbs();
    ui.grid.replaceChildren();
    ui.timing.textContent = '';
    ui.results.dataset.state = 'error';
    ui.results.dataset.seq = String(Number(ui.results.dataset.seq || 0) + 1);
  } finally {
    if (controller === state.controller) {
      setLoading(false);
      state.controller = null;
    }
  }
}

function setLoading(on) {
  ui.progress.hidden = !on;
  ui.results.setAttribute('aria-busy', String(on));
  if (on) ui.results.dataset.state = 'loading';
  document.body.classList.toggle('loading', on);
}

// ---------------------------------------------------------------------------------------
// Rendering.
function renderQuery(query) {
  if (state.previewUrl) {
    URL.revokeObjectURL(state.previewUrl);
    state.previewUrl = null;
  }
  const parts = [];
  if (query.kind === 'text') {
    parts.push(el('span', { class: 'qkind', text: 'Text' }), el('q', { class: 'qtext', text: query.text }));
  } else if (query.kind === 'row') {
    const img = el('img', { class: 'qthumb', alt: '', width: 40, height: 40 });
    setThumb(img, `/api/thumb/${query.row}`);
    parts.push(el('span', { class: 'qkind', text: 'More like' }), img,
      el('span', { class: 'qtext', text: query.file || `image #${query.row}` }));
  } else {
    const img = el('img', { class: 'qthumb', alt: '', width: 40, height: 40 });
    state.previewUrl = URL.createObjectURL(query.file);
    img.src = state.previewUrl;
    img.onerror = () => img.classList.add('broken'); // TIFF: browsers cannot show it
    parts.push(el('span', { class: 'qkind', text: 'Image' }), img,
      el('span', { class: 'qtext', text: query.file.name || 'pasted image' }));
  }
  if (state.scene != null) {
    parts.push(el('span', { class: 'qscene' }, 'in ', el('strong', { text: state.scene })));
  }
  ui.query.replaceChildren(...parts);
  ui.timing.textContent = '';
  if (!ui.grid.children.length) renderSkeleton();
}

function renderSkeleton() {
  ui.empty.hidden = true;
  ui.grid.replaceChildren(...Array.from({ length: Math.min(state.k, 12) }, () =>
    el('li', { class: 'card skeleton', 'aria-hidden': 'true' }, el('div', { class: 'ph' }), el('div', { class: 'meta' }))));
}

function renderResults(data, query) {
  releaseThumbs();
  const results = data.results || [];
  ui.empty.hidden = true;
  ui.grid.replaceChildren(...results.map((r, i) => card(r, i, query)));
  ui.results.dataset.state = 'done';
  ui.results.dataset.count = String(results.length);
  // Counts rendered answers, so that a script (the browser test) can wait for the next one.
  ui.results.dataset.seq = String(Number(ui.results.dataset.seq || 0) + 1);

  const mode = data.exact || !state.info.index ? 'exact' : 'index';
  const split = [];
  if (data.encode_ms != null && query.kind !== 'row') split.push(`encode ${fmtMs(data.encode_ms)}`);
  if (data.search_ms != null) split.push(`search ${fmtMs(data.search_ms)}`);
  // Dynamic batching: this query shared its forward pass with others.
  if (data.batch > 1) split.push(`encoded with ${data.batch - 1} other${data.batch > 2 ? 's' : ''}`);
  ui.timing.replaceChildren(
    el('span', { text: `${results.length} ${results.length === 1 ? 'result' : 'results'}` }),
    el('span', { class: 'sep', 'aria-hidden': 'true', text: '·' }),
    el('span', { class: 'took', text: fmtMs(data.took_ms) }),
    split.length ? el('span', { class: 'split', text: ` (${split.join(', ')})` }) : null,
    el('span', { class: 'sep', 'aria-hidden': 'true', text: '·' }),
    el('span', { class: 'mode', text: mode }),
  );

  if (query.kind === 'row' && !query.file) nameRowQuery(query, results);

  if (!results.length) {
    ui.grid.replaceChildren(el('li', { class: 'none' },
      el('p', { text: state.scene != null ? `No image of scene “${state.scene}” matches.` : 'No results.' }),
      state.scene != null ? el('button', { type: 'button', class: 'btn ghost', text: 'Search all scenes', onclick: () => pickScene(null) }) : null));
  }
}

// A row query from the address or "Surprise me" knows only the row: name its image.
async function nameRowQuery(query, results) {
  const hit = results.find((r) => r.row === query.row);
  let file = hit && hit.file;
  if (!file) {
    try {
      file = (await api(`/api/item/${query.row}`)).file;
    } catch (_) {
      return; // the results are there; the name is a nicety
    }
  }
  if (!file || state.query !== query) return;
  query.file = file;
  const text = ui.query.querySelector('.qtext');
  if (text) text.textContent = file;
  syncUrl(false);
}

function card(r, i, query) {
  const captions = r.captions || [];
  const img = el('img', { alt: '', decoding: 'async', draggable: false });
  img.addEventListener('error', () => img.classList.add('broken'));
  img.addEventListener('load', () => img.classList.add('loaded'));
  setThumb(img, r.thumbnail || `/api/thumb/${r.row}`);
  const isSelf = query.kind === 'row' && r.row === query.row;
  const label = `More like this: ${r.file || `image ${r.row}`}${r.scene ? `, ${r.scene}` : ''}, score ${fmtScore(r.score)}`;
  return el('li', { class: 'card', 'data-row': String(r.row), 'data-scene': r.scene ?? '' },
    el('button', {
      type: 'button',
      class: 'hit',
      'aria-label': label,
      title: 'More like this',
      onclick: () => runRow(r.row, r.file),
    },
    el('span', { class: 'ph' }, img),
    el('span', { class: 'rank', 'aria-hidden': 'true', text: isSelf ? 'query' : `#${i + 1}` }),
    el('span', { class: 'score', 'aria-hidden': 'true' },
      el('span', { class: 'meter', style: `--s:${Math.max(0, Math.min(1, r.score))}` }), fmtScore(r.score)),
    el('span', { class: 'more', 'aria-hidden': 'true', text: 'More like this' })),
    el('div', { class: 'meta' },
      el('div', { class: 'line' },
        r.scene ? el('span', { class: 'tag', text: r.scene }) : null,
        el('span', { class: 'file', title: r.file || '', text: r.file || `#${r.row}` })),
      captions.length
        ? el('p', { class: 'caps', title: captions.join('\n') }, captions[0],
          captions.length > 1 ? el('span', { class: 'morecaps', text: ` +${captions.length - 1}` }) : null)
        : el('p', { class: 'caps none', text: 'No captions' })));
}

function showError(err, title = 'Search failed') {
  const status = err.status ? ` (HTTP ${err.status})` : '';
  ui.error.replaceChildren(el('strong', { text: title + status }), el('span', { text: err.message || String(err) }),
    el('button', { type: 'button', class: 'close', 'aria-label': 'Dismiss error', text: '×', onclick: hideError }));
  ui.error.hidden = false;
}
function hideError() {
  ui.error.hidden = true;
  ui.error.replaceChildren();
}

// ---------------------------------------------------------------------------------------
// The address keeps text and row queries (and k, scene, exact), so Back returns to the
// previous results and a search can be shared. Uploaded images stay out of it.
function syncUrl(push) {
  const params = new URLSearchParams();
  const q = state.query;
  if (q && q.kind === 'text') params.set('q', q.text);
  if (q && q.kind === 'row') params.set('row', String(q.row));
  if (q && q.kind === 'row' && q.file) params.set('file', q.file);
  if (state.k !== 12) params.set('k', String(state.k));
  if (state.scene != null) params.set('scene', state.scene);
  if (state.exact) params.set('exact', '1');
  const search = params.toString();
  const url = location.pathname + (search ? `?${search}` : '');
  if (url === location.pathname + location.search) return;
  if (push && q && q.kind !== 'image') history.pushState(null, '', url);
  else history.replaceState(null, '', url);
}

function restoreFromUrl() {
  const params = new URLSearchParams(location.search);
  const k = Number(params.get('k'));
  if (k && [...ui.k.options].some((o) => Number(o.value) === k)) state.k = k;
  ui.k.value = String(state.k);
  state.scene = params.has('scene') ? params.get('scene') : null;
  state.exact = params.get('exact') === '1' && !!state.info.index;
  ui.exact.checked = state.exact;
  updateExactNote();
  renderScenes();
  const row = params.get('row');
  if (params.get('q') && state.info.text_queries) {
    ui.q.value = params.get('q');
    run({ kind: 'text', text: params.get('q') }, { push: false });
  } else if (row != null && /^\d+$/.test(row)) {
    run({ kind: 'row', row: Number(row), file: params.get('file') }, { push: false });
  } else {
    state.query = null;
    showEmpty();
  }
}

function showEmpty() {
  releaseThumbs();
  ui.grid.replaceChildren();
  ui.query.replaceChildren();
  ui.timing.textContent = '';
  ui.empty.hidden = false;
  ui.results.dataset.state = 'idle';
}

function updateExactNote() {
  ui.exactWrap.title = state.exact ? 'On: every image is scored' : 'Off: results come through the HNSW index';
}

// ---------------------------------------------------------------------------------------
// Events.
function bindEvents() {
  ui.form.addEventListener('submit', (e) => {
    e.preventDefault();
    runText(ui.q.value);
  });
  ui.q.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && ui.q.value) {
      ui.q.value = '';
      e.stopPropagation();
    }
  });
  ui.file.addEventListener('change', () => {
    runImage(ui.file.files[0]);
    ui.file.value = ''; // choosing the same file again searches again
  });
  ui.random.addEventListener('click', runRandom);
  ui.k.addEventListener('change', () => {
    state.k = Number(ui.k.value);
    if (state.query) run(state.query);
    else syncUrl(false);
  });
  ui.exact.addEventListener('change', () => {
    state.exact = ui.exact.checked;
    updateExactNote();
    if (state.query) run(state.query);
    else syncUrl(false);
  });
  window.addEventListener('popstate', () => state.info && restoreFromUrl());

  // "/" focuses the search box from anywhere except a field being typed in.
  document.addEventListener('keydown', (e) => {
    if (e.key !== '/' || e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target;
    if (t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement || t instanceof HTMLSelectElement || t.isContentEditable) return;
    e.preventDefault();
    ui.q.focus();
    ui.q.select();
  });

  // Drag and drop: anywhere on the page, highlighted while a file hovers.
  let depth = 0;
  const hasFiles = (e) => e.dataTransfer && [...e.dataTransfer.types].includes('Files');
  window.addEventListener('dragenter', (e) => {
    if (!hasFiles(e)) return;
    depth += 1;
    document.body.classList.add('dragging');
  });
  window.addEventListener('dragleave', () => {
    depth = Math.max(0, depth - 1);
    if (!depth) document.body.classList.remove('dragging');
  });
  window.addEventListener('dragover', (e) => {
    if (hasFiles(e)) e.preventDefault();
  });
  window.addEventListener('drop', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth = 0;
    document.body.classList.remove('dragging');
    if (state.info && state.info.image_queries) runImage(e.dataTransfer.files[0]);
  });
  // Pasting an image (a screenshot, a copied tile) searches with it too.
  window.addEventListener('paste', (e) => {
    if (!state.info || !state.info.image_queries) return;
    const file = [...(e.clipboardData ? e.clipboardData.files : [])].find((f) => f.type.startsWith('image/'));
    if (file) {
      e.preventDefault();
      runImage(file);
    }
  });
}

// ---------------------------------------------------------------------------------------
// Formatting.
const fmtInt = (n) => (n == null ? '?' : Number(n).toLocaleString('en'));
const fmtScore = (s) => (typeof s === 'number' ? s.toFixed(3) : '–');
function fmtMs(ms) {
  if (typeof ms !== 'number') return '–';
  return ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`;
}
const basename = (p) => String(p).replace(/[\\/]+$/, '').split(/[\\/]/).pop() || p;

start();
