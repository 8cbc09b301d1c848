"""The chat page's stylesheet and scripts (plain strings; `ui/app.py` hands them to Gradio)."""

from __future__ import annotations

MOBILE = "(max-width: 768px)"  # at or under this width the sources and the article are a drawer

_REVEAL_DELAYS = "\n".join(
    f".rag-reveal .rag-sent:nth-of-type({n}) {{ animation-delay: {0.22 * (n - 1):.2f}s; }}"
    for n in range(2, 9)
)

CSS = (
    """
.rag-question { white-space: normal; }
.rag-cite { display: inline-block; margin: 0 .15em; padding: 0 .35em; border-radius: .6em;
  font-size: .8em; line-height: 1.5; font-weight: 600; text-decoration: none !important;
  color: var(--color-accent) !important; background: var(--color-accent-soft);
  border: 1px solid var(--color-accent); cursor: pointer; vertical-align: .1em; }
.rag-cite:hover, .rag-cite:focus { background: var(--color-accent); color: white !important; }
.rag-meta { margin-top: .5em; font-size: .8em; opacity: .65; }
.rag-filters { display: inline-block; margin-top: .5em; padding: .1em .5em; font-size: .8em;
  border-radius: .3em; background: var(--color-accent-soft); }
.rag-abstain { border-left: 4px solid #d97706; background: rgba(217, 119, 6, .10);
  padding: .5em .75em; border-radius: .3em; }
.rag-abstain-head { font-weight: 700; color: #b45309; }
.rag-nearest { margin-top: .5em; font-size: .9em; }
.rag-nearest summary { cursor: pointer; opacity: .8; }
.rag-nearest li { margin-bottom: .35em; }
.rag-nearest-title { font-weight: 600; }
.rag-error { border-left: 4px solid #dc2626; background: rgba(220, 38, 38, .08);
  padding: .5em .75em; border-radius: .3em; }
.rag-error-head { font-weight: 700; color: #b91c1c; }
.rag-notice { margin-top: .5em; padding: .35em .6em; font-size: .9em; border-radius: .3em;
  border: 1px dashed #ca8a04; background: rgba(234, 179, 8, .10); }
.rag-notice::before { content: "Note: "; font-weight: 600; }
.rag-cursor { opacity: .6; animation: rag-blink 1s steps(2) infinite; }
@keyframes rag-blink { 50% { opacity: 0; } }
.rag-wait { opacity: .7; font-style: italic; }
.rag-reveal .rag-sent { animation: rag-in .3s ease-out both; }
@keyframes rag-in { from { opacity: 0; } to { opacity: 1; } }
@media (prefers-reduced-motion: reduce) { .rag-reveal .rag-sent { animation: none; } }
.rag-actions { display: flex; flex-wrap: wrap; gap: .35em; margin-top: .5em; }
button.rag-act { font-size: .78rem; line-height: 1.4; padding: .1em .55em; border-radius: .3em;
  border: 1px solid var(--border-color-primary); background: transparent; color: inherit;
  cursor: pointer; opacity: .8; }
button.rag-act:hover, button.rag-act:focus { opacity: 1; border-color: var(--color-accent); }
button.rag-act.rag-pressed { opacity: 1; border-color: var(--color-accent); background: var(--color-accent-soft); }
.rag-status { font-size: .9em; opacity: .85; }
.rag-status-warn { color: #b45309; opacity: 1; font-weight: 600; }
.rag-status-busy::after { content: " ⟳"; }
.rag-counter { display: flex; gap: 1em; align-items: baseline; font-size: .8em; opacity: .75;
  margin-top: -.35em; }
.rag-count { white-space: nowrap; font-variant-numeric: tabular-nums; }
.rag-count-note { flex: 1; }
.rag-counter.rag-over, .rag-counter:has(.rag-count-note:not(:empty)) { opacity: 1; }
.rag-counter.rag-over .rag-count, .rag-counter.rag-over .rag-count-note { color: #b91c1c; font-weight: 600; }
.rag-count-note { color: #b45309; }
button.rag-sources-toggle { display: none; }
#rag-counter { margin-top: -10px !important; }
#rag-counter .prose { font-size: inherit; }
#rag-examples { align-items: center; gap: .4em; flex-wrap: wrap; }
#rag-examples > * { flex: 0 1 auto !important; min-width: 0 !important; width: auto !important; }
#rag-examples .rag-try { font-size: .9em; opacity: .75; }
#rag-clear { align-self: flex-start; width: auto !important; flex: 0 0 auto !important; }
#rag-chat { min-height: 0; }
#rag-chat .placeholder-content, #rag-chat .placeholder { min-height: 0; }
#rag-sources .rag-sources { max-height: 60vh; overflow-y: auto; padding-right: .25em; }
.rag-empty { opacity: .7; font-style: italic; padding: .5em; }
.rag-source { border: 1px solid var(--border-color-primary); border-radius: .4em;
  padding: .5em .7em; margin-bottom: .6em; transition: box-shadow .2s, border-color .2s; }
.rag-source:not(.rag-current) { opacity: .75; }
.rag-source.rag-selected { border-color: var(--color-accent); box-shadow: 0 0 0 3px var(--color-accent-soft);
  opacity: 1; }
.rag-source-head { font-size: .9em; margin-bottom: .3em; }
.rag-key { font-weight: 700; color: var(--color-accent); }
.rag-title { font-weight: 600; }
.rag-pn { opacity: .7; font-size: .85em; white-space: nowrap; }
.rag-date, .rag-also { opacity: .75; font-size: .85em; white-space: nowrap; margin-left: .3em; }
.rag-source-text { font-size: .92em; line-height: 1.45; }
mark.rag-quote { background: rgba(250, 204, 21, .45); color: inherit; padding: 0 .1em; border-radius: .15em; }
.rag-source-actions { margin-top: .4em; display: flex; gap: 1em; align-items: center; font-size: .85em; }
.rag-sources button.rag-open, .rag-articles button.rag-only { border: 1px solid var(--color-accent);
  color: var(--color-accent); background: transparent; border-radius: .3em; padding: .1em .6em;
  cursor: pointer; font-size: .85rem; font-weight: 500; line-height: 1.4; }
.rag-sources button.rag-open:hover, .rag-articles button.rag-only:hover { background: var(--color-accent-soft); }
.rag-earlier { font-size: .8em; text-transform: uppercase; letter-spacing: .05em; opacity: .6;
  margin: .8em 0 .4em; }
.rag-article-head { display: flex; justify-content: space-between; gap: 1em; margin-bottom: .4em; }
.rag-article-body { position: relative; max-height: 45vh; overflow-y: auto; padding-right: .4em;
  border-top: 1px solid var(--border-color-primary); }
.rag-para { margin: .5em 0; padding: .3em .5em; border-radius: .3em; line-height: 1.45; font-size: .92em; }
.rag-para-target { background: var(--color-accent-soft); border-left: 4px solid var(--color-accent); }
.rag-articles { overflow-x: auto; }
.rag-articles-count { font-size: .9em; opacity: .8; }
.rag-articles-table { width: 100%; border-collapse: collapse; font-size: .9em; }
.rag-articles-table th, .rag-articles-table td { text-align: left; vertical-align: top; padding: .35em .45em;
  border-bottom: 1px solid var(--border-color-primary); }
.rag-articles-table .rag-col-date, .rag-articles-table .rag-col-n { white-space: nowrap; }
.rag-articles-table .rag-link { margin-left: .3em; }
.rag-drawer-bar { display: none; }
"""
    + _REVEAL_DELAYS
    + f"""
@media {MOBILE} {{
  #rag-header {{ flex-direction: column; gap: .3em; }}
  .rag-sources-head {{ display: none; }}
  button.rag-sources-toggle {{ display: inline-block; margin-left: auto; border: 1px solid var(--color-accent);
    color: var(--color-accent); background: transparent; border-radius: .3em; padding: .05em .6em; }}
  #rag-side {{ position: fixed !important; left: 0; right: 0; bottom: 0; z-index: 1000; margin: 0 !important;
    flex-wrap: nowrap !important;
    max-height: 58vh; overflow-y: auto; overscroll-behavior: contain; padding: .4em .8em 1em !important;
    background: var(--background-fill-primary); border-top: 2px solid var(--color-accent);
    border-radius: .8em .8em 0 0; box-shadow: 0 -6px 24px rgba(0, 0, 0, .25);
    transform: translateY(110%); visibility: hidden; transition: transform .18s ease-out, visibility .18s; }}
  #rag-side > * {{ flex-shrink: 0 !important; }}
  #rag-side.rag-drawer-open {{ transform: none; visibility: visible; }}
  #rag-sources .rag-sources {{ max-height: none; overflow: visible; }}
  .rag-article-body {{ max-height: 40vh; }}
  .rag-drawer-bar {{ display: flex; justify-content: space-between; align-items: center; position: sticky;
    top: -.4em; z-index: 1; padding: .3em 0; background: var(--background-fill-primary); }}
  .rag-drawer-bar button {{ border: 1px solid var(--border-color-primary); border-radius: .3em;
    background: transparent; color: inherit; padding: .1em .7em; }}
  .rag-articles-table {{ font-size: .85em; }}
  /* A phone has no room for five columns: each article is a small card (title, then date, site,
     paragraphs and the button on one line). */
  .rag-articles-table thead {{ display: none; }}
  .rag-articles-table, .rag-articles-table tbody {{ display: block; border: none !important; }}
  .rag-articles-table tr {{ display: block; padding: .45em 0; border: none !important;
    border-bottom: 1px solid var(--border-color-primary) !important; }}
  .rag-articles-table td {{ display: inline-block; border: none !important; padding: .1em .6em .1em 0; }}
  .rag-articles-table td.rag-col-title {{ display: block; }}
  .rag-articles-table td.rag-col-n::before {{ content: "¶ "; opacity: .7; }}
}}
"""
)

# Installed once, by the counter under the question box (`element` is that component, `trigger`
# fires its events). Everything here is on the document: the chat's messages are outside any one
# component, and the send button and the question box belong to Gradio.
PAGE_JS = (
    """
const MOBILE = window.matchMedia('"""
    + MOBILE
    + """');
const counter = element.querySelector('.rag-counter');
const limit = Number(counter ? counter.getAttribute('data-rag-limit') : 0) || 2000;
const fmt = (n) => n.toLocaleString('en-US');
const box = () => document.querySelector('#rag-question textarea');
const side = () => document.getElementById('rag-side');
let hint = '';
const update = () => {
  const c = element.querySelector('.rag-counter');
  if (!c) return;
  const n = box() ? box().value.length : 0;
  c.querySelector('.rag-count').textContent = fmt(n) + ' / ' + fmt(limit);
  c.classList.toggle('rag-over', n > limit);
  c.querySelector('.rag-count-note').textContent = n > limit
    ? 'Too long to ask: ' + fmt(n) + ' characters; the limit is ' + fmt(limit) + '. Shorten it first.'
    : hint;
};
window.__ragCount = () => { hint = ''; update(); };
// Refuse here, before Gradio sees the event: nothing is sent, the question stays in the box.
const refused = () => {
  const text = box() ? box().value : '';
  if (!text.trim()) { hint = 'Type a question first.'; update(); return true; }
  if (text.length > limit) { update(); return true; }
  return false;
};
document.addEventListener('input', (ev) => { if (ev.target === box()) { hint = ''; update(); } }, true);
const onKey = (ev) => {
  if (ev.key !== 'Enter' || ev.shiftKey || ev.isComposing || ev.target !== box()) return;
  if (refused()) { ev.preventDefault(); ev.stopImmediatePropagation(); }
};
document.addEventListener('keydown', onKey, true);
document.addEventListener('keypress', onKey, true);

const openDrawer = () => { const s = side(); if (s) s.classList.add('rag-drawer-open'); };
const closeDrawer = () => { const s = side(); if (s) s.classList.remove('rag-drawer-open'); };
window.__ragOpenDrawer = openDrawer;
const drawerTop = () => window.innerHeight - (side() ? side().offsetHeight : 0);
const scrollDrawerTo = (el) => {
  const s = side();
  if (s && el) s.scrollTop += el.getBoundingClientRect().top - s.getBoundingClientRect().top - 48;
};
const showSource = (marker) => {
  const m = /#rag-src-(\\d+)$/.exec(marker.getAttribute('href') || '');
  const root = document.getElementById('rag-sources');
  if (!m || !root) return;
  root.querySelectorAll('.rag-selected').forEach((el) => el.classList.remove('rag-selected'));
  const card = root.querySelector('#rag-src-' + m[1]);
  if (!card) return;
  card.classList.add('rag-selected');
  if (!MOBILE.matches) {
    if (side()) side().style.maxHeight = '';
    card.scrollIntoView({block: 'nearest'});
    return;
  }
  // On a phone the paragraph opens in a drawer over the lower part of the screen; the page
  // stays where it is unless the marker would sit under the drawer (then it moves just enough).
  const s = side();
  const room = window.innerHeight - marker.getBoundingClientRect().bottom - 12;
  if (s) s.style.maxHeight = Math.round(Math.max(0.4, Math.min(0.58, room / window.innerHeight)) * 100) + 'vh';
  openDrawer();
  scrollDrawerTo(card);
  const below = marker.getBoundingClientRect().bottom - (drawerTop() - 12);
  if (below > 0) window.scrollBy({top: below, behavior: 'instant'});
};
const copyAnswer = async (btn) => {
  const msg = btn.closest('.rag-message');
  const lines = msg ? [...msg.querySelectorAll('.rag-copy-text .rag-copy-line')].map((s) => s.textContent) : [];
  const text = lines.join('\\n');
  let ok = false;
  try { await navigator.clipboard.writeText(text); ok = true; } catch (e) {
    const area = document.createElement('textarea');  // plain http on a network host: no Clipboard API
    area.value = text;
    area.style.position = 'fixed';
    area.style.opacity = '0';
    document.body.appendChild(area);
    area.select();
    try { ok = document.execCommand('copy'); } catch (e2) { ok = false; }
    area.remove();
  }
  window.__ragCopied = ok ? text : null;
  btn.textContent = ok ? 'Copied' : 'Copy failed';
  setTimeout(() => { btn.textContent = 'Copy'; }, 1500);
};
document.addEventListener('click', (ev) => {
  const t = ev.target;
  if (!t || !t.closest) return;
  if (t.closest('#rag-send') && refused()) { ev.preventDefault(); ev.stopImmediatePropagation(); return; }
  const marker = t.closest('a.rag-cite');
  if (marker) { ev.preventDefault(); ev.stopPropagation(); showSource(marker); return; }
  const act = t.closest('button.rag-act');
  if (act && act.closest('#rag-chat')) {
    ev.preventDefault();
    ev.stopPropagation();
    const name = act.getAttribute('name');
    if (name === 'copy') { copyAnswer(act); return; }
    if (name === 'up' || name === 'down') {
      act.parentElement.querySelectorAll('.rag-act-up, .rag-act-down').forEach((b) => b.classList.remove('rag-pressed'));
      act.classList.add('rag-pressed');
    }
    trigger('click', {action: name, turn: act.getAttribute('value')});
    return;
  }
  if (t.closest('.rag-drawer-close')) { closeDrawer(); return; }
  if (t.closest('.rag-sources-toggle')) { openDrawer(); return; }
  const s = side();
  if (MOBILE.matches && s && s.classList.contains('rag-drawer-open') && !t.closest('#rag-side')) closeDrawer();
}, true);
update();
"""
)

# Send: the box is emptied here, at once (a server-side clearing raced the next question being
# typed), and the question travels in a hidden field to the Python handler.
SEND_JS = "(q) => { setTimeout(() => window.__ragCount && window.__ragCount(), 0); return ['', q]; }"

# The source cards' "Open the article" buttons call the server with the paragraph to open.
SOURCES_JS = """
element.addEventListener('click', (ev) => {
  const btn = ev.target.closest('[data-rag-open]');
  if (!btn) return;
  ev.preventDefault();
  trigger('click', {open: btn.dataset.ragOpen, key: Number(btn.dataset.ragKey)});
});
"""

# Scroll the opened article so the cited paragraph sits near the top of its box; on a phone
# the article is in the drawer, which opens on it.
ARTICLE_JS = (
    """
const show = () => {
  const body = element.querySelector('.rag-article-body');
  const target = element.querySelector('.rag-para-target');
  if (!body || !target) return;
  body.scrollTop = Math.max(0, target.offsetTop - body.clientHeight / 5);
  const side = document.getElementById('rag-side');
  if (side && window.matchMedia('"""
    + MOBILE
    + """').matches) {
    side.classList.add('rag-drawer-open');
    side.scrollTop += element.getBoundingClientRect().top - side.getBoundingClientRect().top - 48;
  } else {
    element.scrollIntoView({block: 'nearest'});
  }
};
watch('value', show);
show();
"""
)

# The articles view's "Ask about this one" buttons.
ARTICLES_JS = """
element.addEventListener('click', (ev) => {
  const btn = ev.target.closest('[data-rag-only]');
  if (!btn) return;
  ev.preventDefault();
  trigger('click', {only: btn.dataset.ragOnly});
});
"""
