/**
 * The page's only stylesheet and script, served from /ui/assets: the
 * Content-Security-Policy allows no inline style or script. No build step.
 */

export const APP_CSS = `
:root { color-scheme: light dark; --fg: #1b1f23; --bg: #fff; --muted: #5b6570; --line: #d0d7de; --accent: #0b5cad;
  --good: #1a7f37; --warn: #9a6700; --bad: #cf222e; --panel: #f6f8fa; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --bg: #0d1117; --muted: #9aa5b1; --line: #30363d; --accent: #58a6ff;
  --good: #3fb950; --warn: #d29922; --bad: #f85149; --panel: #161b22; } }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; font: 16px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
header.top { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; padding: .6rem 1rem; border-bottom: 1px solid var(--line); background: var(--panel); }
.brand { font-weight: 700; color: var(--fg); text-decoration: none; }
header nav { display: flex; flex-wrap: wrap; gap: .25rem .9rem; align-items: center; }
header nav a[aria-current="page"] { font-weight: 700; text-decoration: underline; }
main { max-width: 72rem; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.5rem; margin: .2rem 0 1rem; }
h2 { font-size: 1.15rem; margin: 1.6rem 0 .6rem; }
a { color: var(--accent); }
code, pre, .mono { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: .9em; overflow-wrap: anywhere; word-break: break-all; }
pre { white-space: pre-wrap; background: var(--panel); border: 1px solid var(--line); padding: .7rem; border-radius: 6px; margin: .4rem 0; }
.muted { color: var(--muted); }
.notice, .error { padding: .6rem .8rem; border-radius: 6px; border: 1px solid; }
.notice { border-color: var(--good); }
.error { border-color: var(--bad); color: var(--bad); }
.counts { display: grid; grid-template-columns: repeat(auto-fit, minmax(8.5rem, 1fr)); gap: .6rem; padding: 0; margin: 0; list-style: none; }
.counts li { border: 1px solid var(--line); border-radius: 6px; padding: .6rem .8rem; background: var(--panel); }
.counts strong { display: block; font-size: 1.5rem; }
.badge { display: inline-block; padding: 0 .45rem; border-radius: 999px; font-size: .85em; border: 1px solid currentColor; white-space: nowrap; }
.badge.good { color: var(--good); } .badge.warn { color: var(--warn); } .badge.bad { color: var(--bad); } .badge.plain { color: var(--muted); }
table.cards { width: 100%; border-collapse: collapse; }
table.cards th, table.cards td { text-align: left; padding: .4rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
@media (max-width: 48rem) {
  table.cards thead { display: none; }
  table.cards, table.cards tbody, table.cards tr, table.cards td { display: block; width: 100%; }
  table.cards tr { border: 1px solid var(--line); border-radius: 6px; margin-bottom: .6rem; padding: .3rem .5rem; }
  table.cards td { border: 0; padding: .2rem 0; }
  table.cards td::before { content: attr(data-label); display: block; font-size: .8em; color: var(--muted); }
}
.quota { display: inline-flex; flex-wrap: wrap; gap: .2rem .5rem; align-items: center; }
meter { width: 7rem; }
form { margin: 0; }
form.inline { display: inline-block; margin: .15rem .3rem .15rem 0; }
form.stack { display: grid; gap: .7rem; max-width: 34rem; }
form.stack label { display: grid; gap: .2rem; }
form.setting + form.setting { margin-top: .9rem; }
form.stack label.check { display: flex; gap: .5rem; align-items: center; }
fieldset { border: 1px solid var(--line); border-radius: 6px; padding: .6rem .8rem; min-width: 0; }
input[type=text], input[type=password], input[type=url], input[type=search], select, textarea { font: inherit; padding: .4rem .5rem; border: 1px solid var(--line); border-radius: 6px; background: var(--bg); color: var(--fg); width: 100%; max-width: 100%; }
button { font: inherit; padding: .4rem .9rem; border-radius: 6px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; }
button.secondary { background: transparent; color: var(--accent); }
button.danger { background: var(--bad); border-color: var(--bad); }
button.link { background: none; border: 0; padding: 0; color: var(--accent); text-decoration: underline; }
.search { display: flex; flex-wrap: wrap; gap: .5rem; align-items: end; margin-bottom: .8rem; }
.search label { flex: 1 1 12rem; display: grid; gap: .2rem; }
.pager { display: flex; gap: 1rem; margin: .8rem 0; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: .8rem; margin-bottom: .8rem; min-width: 0; }
.card > h2:first-child, .card > h3:first-child { margin-top: 0; }
.actions { display: grid; gap: .8rem; grid-template-columns: repeat(auto-fit, minmax(16rem, 1fr)); }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .3rem 1rem; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; min-width: 0; }
svg.chart { width: 100%; height: auto; max-width: 40rem; display: block; }
svg.chart .bar { fill: var(--accent); } svg.chart .bar.bad { fill: var(--bad); } svg.chart .axis { stroke: var(--line); } svg.chart text { fill: var(--muted); font-size: 10px; }
.copy-row { display: flex; gap: .5rem; align-items: center; flex-wrap: wrap; }
`;

/** Copy buttons: `data-copy="ID"` copies the text of element ID (and selects it where the clipboard is unavailable, plain HTTP). */
export const APP_JS = `
'use strict';
document.addEventListener('click', async (event) => {
  const button = event.target instanceof Element ? event.target.closest('button[data-copy]') : null;
  if (!button) return;
  const source = document.getElementById(button.getAttribute('data-copy'));
  if (!source) return;
  const text = source.textContent.trim();
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = 'Copied';
  } catch {
    const range = document.createRange();
    range.selectNodeContents(source);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    button.textContent = 'Selected: press Ctrl+C';
  }
});
`;

export const ICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#0b5cad"/><path d="M4 5h8v2H4zm0 4h8v2H4z" fill="#fff"/></svg>';
