// The console's shell: sign-in, sign-out and the hash router (#/functions, #/functions/NAME, #/logs/NAME,
// #/queues, #/buckets/NAME, #/environments, #/billing). Pages are in pages.js.
import { ApiError, api, setCsrf } from './api.js';
import { h } from './dom.js';
import { pages } from './pages.js';

const $ = (id) => document.getElementById(id);
let signedIn = false;
/** The running page's cleanup (live logs stop polling when the page changes). */
let leave = () => {};
/** Bumped by every navigation: an older page that loads late is dropped. */
let seq = 0;

function showSignIn(message) {
  signedIn = false;
  setCsrf('');
  leave();
  leave = () => {};
  $('nav').hidden = true;
  $('signout').hidden = true;
  $('who').textContent = '';
  $('page').replaceChildren();
  $('signin-page').hidden = false;
  $('signin-error').textContent = message ?? '';
  document.body.dataset.ready = 'signin';
}

function showSession(s) {
  signedIn = true;
  setCsrf(s.csrf);
  $('signin-page').hidden = true;
  $('nav').hidden = false;
  $('signout').hidden = false;
  $('who').replaceChildren(
    h('strong', {}, s.tenant.name),
    ` · account ${s.tenant.accountId} · key ${s.accessKeyId}`,
  );
}

async function route() {
  if (!signedIn) return;
  leave();
  leave = () => {};
  const parts = location.hash
    .replace(/^#\/?/, '')
    .split('/')
    .map((p) => decodeURIComponent(p));
  const name = Object.hasOwn(pages, parts[0]) ? parts[0] : 'functions';
  for (const a of document.querySelectorAll('[data-nav]')) {
    a.classList.toggle('active', a.dataset.nav === name);
  }
  const page = $('page');
  const mine = ++seq;
  document.body.dataset.ready = '';
  page.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
  try {
    const out = await pages[name](parts.slice(1));
    if (mine !== seq) return out.leave?.();
    page.replaceChildren(out.node);
    if (out.leave) leave = out.leave;
    document.body.dataset.ready = name;
  } catch (e) {
    if (mine !== seq) return;
    if (e instanceof ApiError && e.status === 401) return showSignIn('Your session ended. Sign in again.');
    page.replaceChildren(h('p', { class: 'error', role: 'alert' }, e.message));
    document.body.dataset.ready = `${name}-error`;
  }
}

async function signIn(ev) {
  ev.preventDefault();
  const form = ev.target;
  const id = $('accessKeyId');
  const secret = $('secretAccessKey');
  const button = form.querySelector('button');
  button.disabled = true;
  $('signin-error').textContent = '';
  try {
    const s = await api('signin', { accessKeyId: id.value.trim(), secretAccessKey: secret.value });
    showSession(s);
    if (!location.hash || location.hash === '#/') location.hash = '#/functions';
    else await route();
  } catch (e) {
    $('signin-error').textContent = e.message;
    document.body.dataset.ready = 'signin-failed';
  } finally {
    // The secret leaves the page as soon as it was sent, whatever the answer.
    secret.value = '';
    button.disabled = false;
  }
}

async function signOut() {
  try {
    await api('signout', {});
  } finally {
    showSignIn('Signed out.');
  }
}

async function start() {
  $('signin').addEventListener('submit', signIn);
  $('signout').addEventListener('click', signOut);
  window.addEventListener('hashchange', route);
  try {
    showSession(await api('session'));
    await route();
  } catch (e) {
    showSignIn(e instanceof ApiError && e.status === 401 ? '' : e.message);
  }
}

void start();
