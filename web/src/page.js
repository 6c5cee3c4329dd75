// The page: screens, language, quick exit. No crypto and no socket here: the
// protocol client runs in worker.js, loaded once a language is chosen so the
// first screen never waits for it. Text from the network is only ever set
// with textContent. Nothing is written to cookies, storage or history.

const $ = (id) => document.getElementById(id);
const state = {
  lang: 'en', t: {}, config: null, worker: null, workerReady: false,
  danger: null, need: null, when: null, codename: null, items: [], claimed: false, closed: false, status: '',
  exiting: false, pendingHandoff: null, chatShown: false,
};

// ------------------------------------------------------------ quick exit
function exitUrl() {
  const u = state.config && typeof state.config.exit_url === 'string' ? state.config.exit_url : null;
  return u && /^https?:\/\//.test(u) ? u : $('exit').href;
}
function quickExit() {
  if (state.exiting) return;
  state.exiting = true;
  window.removeEventListener('beforeunload', guardLeaving); // never a "leave this site?" prompt
  const target = exitUrl();
  try {
    if (state.worker) {
      state.worker.postMessage({ t: 'wipe' });
      state.worker.terminate(); // closes its WebSocket and frees every key
    }
  } catch { /* leaving anyway */ }
  state.worker = null;
  state.codename = null;
  state.items = [];
  $('main').textContent = '';
  document.title = '';
  // replace(): the neutral site takes this page's place in history.
  window.location.replace(target);
}
// Back, reload or closing the tab would lose a typed first message, or a codename
// not yet written down (the case stays open on the server, unreachable). The
// browser asks first. No history entry is added (no pushState): Back itself is
// left alone, only guarded. Quick exit removes this guard before it leaves.
function unsaved() {
  if (state.exiting) return false;
  if (state.codename !== null) return true; // shown, not yet through the practice step
  return !$('s-message').hidden && $('first-message').value.trim() !== '';
}
function guardLeaving(e) {
  if (!unsaved()) return;
  e.preventDefault();
  e.returnValue = ''; // older browsers ask only when this is set
}
function installQuickExit() {
  window.addEventListener('beforeunload', guardLeaving);
  $('exit').addEventListener('click', (e) => { e.preventDefault(); quickExit(); });
  let escTimes = [];
  let shiftTimes = [];
  document.addEventListener('keydown', (e) => {
    if (e.repeat) return;
    const now = e.timeStamp;
    if (e.key === 'Escape') {
      escTimes = escTimes.filter((t) => now - t < 1500).concat(now);
      if (escTimes.length >= 2) quickExit();
    } else if (e.key === 'Shift') {
      shiftTimes = shiftTimes.filter((t) => now - t < 1500).concat(now);
      if (shiftTimes.length >= 3) quickExit();
    } else {
      shiftTimes = [];
    }
  }, true);
}

// ------------------------------------------------------------ i18n
// Strings from the network (a queue name, a band) may be anything: never throws.
function tr(key, vars = {}) {
  const k0 = String(key);
  let s = Object.hasOwn(state.t, k0) && typeof state.t[k0] === 'string' ? state.t[k0] : k0;
  for (const [k, v] of Object.entries(vars)) s = s.replace(`{${k}}`, () => (typeof v === 'string' || typeof v === 'number' ? String(v) : ''));
  return s;
}
function applyCatalogue() {
  document.documentElement.lang = state.lang;
  document.documentElement.dir = state.t._dir === 'rtl' ? 'rtl' : 'ltr';
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = tr(el.dataset.i18n);
  for (const el of document.querySelectorAll('[data-i18n-label]')) el.setAttribute('aria-label', tr(el.dataset.i18nLabel));
  $('exit').setAttribute('aria-label', tr('exit_label'));
}
async function loadCatalogue(lang) {
  const r = await fetch(`i18n/${lang}.json`, { credentials: 'omit', cache: 'no-store' });
  if (!r.ok) throw new Error('catalogue');
  return r.json();
}

// ------------------------------------------------------------ screens
function show(name) {
  for (const s of document.querySelectorAll('main > section.screen')) s.hidden = s.id !== `s-${name}`;
  const h = document.querySelector(`#s-${name} h1`);
  if (h) h.focus();
  window.scrollTo(0, 0);
}
function setText(id, text) { $(id).textContent = text; }

// ------------------------------------------------------------ worker
function wsUrl() {
  return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/v1/ws`;
}
function startWorker() {
  if (state.worker) return;
  state.worker = new Worker('worker.js');
  state.worker.onmessage = (e) => onWorker(e.data);
  state.worker.onerror = (e) => { e.preventDefault(); workerFailed(); };
  const root = state.config && typeof state.config.org_root === 'string' ? state.config.org_root : '';
  state.worker.postMessage({ t: 'init', orgRoot: root, wsUrl: wsUrl() });
}
const post = (m) => state.worker && state.worker.postMessage(m);
// worker.js did not load (a dropped download) or died: say so; Send (or Open)
// again starts a new one. What was typed stays in its box.
function workerFailed() {
  if (state.worker) { try { state.worker.terminate(); } catch { /* gone */ } }
  state.worker = null;
  state.workerReady = false;
  for (const [form, line] of [['message-form', 'message-progress'], ['resume-form', 'resume-progress'], ['reply-form', 'chat-status']]) {
    if (!$(form).closest('section').hidden) {
      setBusy(form, false);
      setText(line, tr('err_worker'));
    }
  }
}
function resetWorker() {
  if (state.worker) {
    state.worker.postMessage({ t: 'wipe' });
    state.worker.terminate();
    state.worker = null;
  }
  startWorker();
}

function errorText(code) {
  const known = { network: 'err_network', no_responder: 'err_no_responder', unavailable: 'err_unavailable', limit_exceeded: 'err_limit', not_claimed: 'not_claimed' };
  return tr(known[code] ?? 'err_generic');
}

function onWorker(m) {
  switch (m.t) {
    case 'ready': state.workerReady = true; break;
    case 'progress': {
      const line = document.querySelector('.screen:not([hidden]) .progress');
      if (line) line.textContent = m.stage === 'done' ? '' : tr(`progress_${m.stage}`);
      break;
    }
    case 'codename':
      state.codename = m.codename;
      setText('codename-text', m.codename);
      show('codename');
      break;
    case 'opened':
      state.items = [m.item];
      state.claimed = false;
      state.closed = false;
      state.status = '';
      break;
    case 'resumed':
      setText('resume-progress', '');
      show('safe');
      break;
    case 'history':
      state.items = m.items;
      state.claimed = m.claimed;
      state.closed = m.closed;
      renderChat();
      show('chat');
      if (state.closed) setText('chat-status', tr('closed_closed'));
      askHandoff();
      break;
    case 'status':
      if (!state.claimed) {
        state.status = `${tr('waiting', { n: m.position })} ${tr(`band_${m.band}`)}`;
        setText('chat-status', state.status);
      }
      break;
    case 'claimed':
      state.claimed = true;
      setText('chat-status', tr('claimed'));
      break;
    case 'message':
    case 'sent':
      state.items.push(m.item);
      appendItem(m.item);
      if (m.t === 'sent') $('reply').value = '';
      setBusy('reply-form', false);
      break;
    case 'closed':
      state.closed = true;
      setText('chat-status', tr(m.reason === 'deleted' ? 'closed_deleted' : 'closed_closed'));
      break;
    case 'deleted':
      state.items = [];
      state.status = '';
      state.chatShown = false;
      resetWorker(); // a new conversation starts from a new client: new codename, new socket
      show('deleted');
      break;
    case 'handoff':
      // Never before "is it safe to talk now?" has been answered: kept until the chat shows.
      state.pendingHandoff = m.queue;
      if (!$('s-chat').hidden) askHandoff();
      break;
    case 'handoff_done':
      if (m.moved) {
        state.claimed = false;
        state.status = tr('handoff_moved');
      }
      renderChat();
      show('chat');
      if (!m.moved) setText('chat-status', tr('handoff_stayed'));
      break;
    case 'socket':
      if (!m.open && state.chatShown && !state.exiting) {
        setText('chat-status', tr(m.replaced ? 'replaced' : 'reconnecting'));
      }
      break;
    case 'refreshed':
      // After a reconnect: the conversation as the vault has it, only where it is already shown.
      if (!state.chatShown) break;
      state.items = m.items;
      state.claimed = m.claimed;
      state.closed = m.closed;
      renderChat();
      break;
    case 'error': onError(m); break;
    default: break;
  }
}

function onError(m) {
  if (m.where === 'start') {
    setBusy('message-form', false);
    setText('message-progress', errorText(m.code));
  } else if (m.where === 'resume') {
    setBusy('resume-form', false);
    let text = tr('resume_failed');
    if (m.code === 'codename') text = m.words !== 7 ? tr('practice_count') : tr('practice_bad', { n: m.position });
    else if (m.code === 'no_case') text = tr('resume_none');
    else if (m.code === 'network') text = tr('err_network');
    setText('resume-progress', text);
  } else if (m.where === 'send') {
    setBusy('reply-form', false);
    setText('chat-status', errorText(m.code));
  } else if (m.where === 'handoff') {
    renderChat();
    show('chat');
    setText('chat-status', errorText(m.code));
  } else if (m.where === 'delete') {
    setText('chat-status', errorText(m.code));
    show('chat');
  }
}

function askHandoff() {
  const queue = state.pendingHandoff;
  if (queue === null) return;
  state.pendingHandoff = null;
  const known = typeof queue === 'string' && Object.hasOwn(state.t, `need_${queue}`);
  setText('handoff-title', tr('handoff_q', { queue: known ? tr(`need_${queue}`) : typeof queue === 'string' ? queue : '' }));
  show('handoff');
}

function setBusy(formId, busy) {
  for (const el of $(formId).querySelectorAll('button, textarea, input')) el.disabled = busy;
}

// ------------------------------------------------------------ chat
function appendItem(item) {
  const li = document.createElement('li');
  li.className = item.author;
  const who = document.createElement('span');
  who.className = 'who';
  who.textContent = tr(item.author);
  // Isolated: a bidi override in a message cannot reorder anything outside its bubble.
  const body = document.createElement('span');
  body.className = 'text';
  body.dir = 'auto';
  body.textContent = item.text ?? '…';
  li.append(who, body);
  $('chat-log').append(li);
}
function renderChat() {
  state.chatShown = true;
  $('chat-log').textContent = '';
  for (const item of state.items) appendItem(item);
  setText('chat-status', state.closed ? tr('closed_closed') : state.claimed ? tr('claimed') : state.status);
}

// ------------------------------------------------------------ flow
function envelope() {
  const languages = [state.lang];
  if (state.danger) return { needs: ['immediate-safety'], urgency: 'danger-now', languages, mode: 'live' };
  return { needs: [state.need], urgency: state.when, languages, mode: 'live' };
}
function triageDone() {
  post({ t: 'prepare' }); // draw the codename and derive its key while the survivor writes
  show('message');
}

// A phone keyboard adds ". " after a double space, commas, capitals, typographic
// dashes: anything but letters and a word's own hyphen separates words.
function cleanCodename(s) {
  return s.replace(/[\u2010-\u2015\u2212]/g, '-').replace(/[^A-Za-z-]+/g, ' ')
    .replace(/(^|\s)-+(?=\s|$)/g, ' ').trim();
}
function normalizeTyped(s) {
  return cleanCodename(s).toLowerCase().split(' ').filter((w) => w !== '');
}

function bind() {
  for (const b of document.querySelectorAll('button[data-lang]')) {
    b.addEventListener('click', async () => {
      state.lang = b.dataset.lang;
      try {
        state.t = await loadCatalogue(state.lang);
      } catch {
        state.t = {};
      }
      applyCatalogue();
      await configLoaded;
      startWorker();
      show('safety');
    });
  }
  for (const b of document.querySelectorAll('[data-go]')) {
    b.addEventListener('click', () => {
      if (b.dataset.go === 'chat') { renderChat(); }
      show(b.dataset.go);
    });
  }
  for (const b of document.querySelectorAll('[data-danger]')) {
    b.addEventListener('click', () => {
      state.danger = b.dataset.danger === 'yes';
      if (state.danger) triageDone(); else show('need');
    });
  }
  for (const b of document.querySelectorAll('[data-need]')) {
    b.addEventListener('click', () => { state.need = b.dataset.need; show('when'); });
  }
  for (const b of document.querySelectorAll('[data-when]')) {
    b.addEventListener('click', () => { state.when = b.dataset.when; triageDone(); });
  }
  $('message-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const text = $('first-message').value.trim();
    if (text === '') return;
    if (!state.config || !/^[0-9a-f]{64}$/.test(state.config.org_root ?? '')) {
      setText('message-progress', tr('err_config'));
      return;
    }
    setBusy('message-form', true);
    setText('message-progress', tr('progress_kdf'));
    if (!state.worker) { startWorker(); post({ t: 'prepare' }); }
    post({ t: 'start', envelope: envelope(), text });
  });
  $('codename-done').addEventListener('click', () => show('practice'));
  $('practice-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const typed = normalizeTyped($('practice-input').value);
    const want = state.codename ? state.codename.split(' ') : [];
    if (typed.length !== want.length) { setText('practice-result', tr('practice_count')); return; }
    const bad = typed.findIndex((w, i) => w !== want[i]);
    if (bad >= 0) { setText('practice-result', tr('practice_bad', { n: bad + 1 })); return; }
    setText('practice-result', tr('practice_ok'));
    finishPractice();
  });
  $('practice-skip').addEventListener('click', finishPractice);
  $('reply-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const text = $('reply').value.trim();
    if (text === '') return;
    if (state.closed) { setText('chat-status', tr('closed_closed')); return; }
    if (!state.claimed) { setText('chat-status', tr('not_claimed')); return; }
    if (!state.worker) { setText('chat-status', tr('err_worker')); return; }
    setBusy('reply-form', true);
    post({ t: 'send', text });
  });
  $('delete-yes').addEventListener('click', () => post({ t: 'delete' }));
  for (const b of document.querySelectorAll('[data-share]')) {
    b.addEventListener('click', () => post({ t: 'handoff', share: b.dataset.share === 'stay' ? null : b.dataset.share }));
  }
  $('resume-form').addEventListener('submit', (e) => {
    e.preventDefault();
    if (!state.config || !/^[0-9a-f]{64}$/.test(state.config.org_root ?? '')) {
      setText('resume-progress', tr('err_config'));
      return;
    }
    setBusy('resume-form', true);
    setText('resume-progress', tr('progress_login'));
    const typed = cleanCodename($('resume-input').value);
    $('resume-input').value = '';
    startWorker();
    post({ t: 'resume', codename: typed });
  });
  $('safe-yes').addEventListener('click', () => post({ t: 'history' }));
  $('safe-no').addEventListener('click', quickExit);
}

function finishPractice() {
  state.codename = null; // shown once: the page forgets it
  setText('codename-text', '');
  $('practice-input').value = '';
  renderChat();
  show('chat');
}

async function loadConfig() {
  try {
    const r = await fetch('config.json', { credentials: 'omit', cache: 'no-store' });
    state.config = r.ok ? await r.json() : {};
  } catch {
    state.config = {};
  }
  if (typeof state.config.title === 'string') document.title = state.config.title;
  if (typeof state.config.exit_url === 'string' && /^https?:\/\//.test(state.config.exit_url)) $('exit').href = state.config.exit_url;
}

const configLoaded = loadConfig();
installQuickExit();
bind();
document.documentElement.dataset.ready = '1'; // the first screen answers taps from here on
