/**
 * The web dashboard the agent serves at `/`: one HTML page, one stylesheet and
 * one script, no framework. The page itself holds no data; it asks the operator
 * for the management secret once (kept in sessionStorage) and signs every /v1
 * call in the browser exactly as management-auth.ts does.
 *
 * This module serves the page and its stylesheet; the script is in dashboard-script.ts.
 */
import { DASHBOARD_JS } from './dashboard-script.js';

export interface DashboardAsset {
  type: string;
  body: string;
  headers: Record<string, string>;
}

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  'img-src data:',
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Whom the page's requests are signed for: the agent's environment and host name (management-auth.ts). */
export interface DashboardIdentity {
  title?: string | undefined;
  environment: string;
  host: string;
}

/** The dashboard's files by URL path, or null for any other path. */
export function dashboardAsset(pathname: string, identity: DashboardIdentity): DashboardAsset | null {
  if (pathname === '/' || pathname === '/index.html') {
    return { type: 'text/html; charset=utf-8', body: dashboardHtml(identity.title ?? 'slipway agent', identity), headers: { 'content-security-policy': CSP } };
  }
  if (pathname === '/dashboard.js') return { type: 'text/javascript; charset=utf-8', body: DASHBOARD_JS, headers: {} };
  if (pathname === '/dashboard.css') return { type: 'text/css; charset=utf-8', body: DASHBOARD_CSS, headers: {} };
  return null;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

export function dashboardHtml(title: string, identity: Pick<DashboardIdentity, 'environment' | 'host'>): string {
  const safeTitle = escapeHtml(title);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${safeTitle} · slipway</title>
<meta name="slipway-environment" content="${escapeHtml(identity.environment)}">
<meta name="slipway-host" content="${escapeHtml(identity.host)}">
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/dashboard.css">
<script src="/dashboard.js" defer></script>
</head>
<body>
<header>
  <h1><span class="brand">slipway</span> <span id="title">${safeTitle}</span></h1>
  <span id="agent-info" class="muted"></span>
  <button id="forget" type="button" hidden>Forget secret</button>
</header>

<section id="login-panel" class="panel">
  <form id="login">
    <label for="secret">Management secret</label>
    <input id="secret" name="secret" type="password" autocomplete="current-password" required>
    <button id="unlock" type="submit">Unlock</button>
    <p id="login-error" class="error" role="alert"></p>
    <p class="muted">The secret stays in this browser tab (sessionStorage) and signs each request; it is never sent.</p>
  </form>
</section>

<main id="app" hidden>
  <p id="error" class="error" role="alert"></p>
  <section class="cards">
    <div class="card"><h2>Current release</h2><p class="big" id="current-version">–</p><p class="muted" id="current-id"></p></div>
    <div class="card"><h2>Previous release</h2><p class="big" id="previous-version">–</p><p class="muted" id="previous-id"></p>
      <button id="rollback" type="button" disabled>Roll back…</button><p id="rollback-result" role="status"></p></div>
    <div class="card"><h2>Health</h2><p class="big" id="health">–</p><p class="muted" id="url"></p></div>
    <div class="card"><h2>Lock</h2><p id="lock">–</p></div>
    <div class="card"><h2>Maintenance</h2><p id="maintenance">–</p></div>
    <div class="card"><h2>Data</h2><p id="data-age">–</p></div>
    <div class="card" id="tls-card" hidden><h2>HTTPS certificates</h2><ul id="certificates" class="certs"></ul></div>
    <div class="card" id="channel-card" hidden><h2>Channel</h2><p id="channel">–</p><p id="channel-tested" class="muted" hidden></p><p id="channel-note" class="warn small" hidden></p></div>
  </section>

  <section class="panel">
    <h2>Deploy history</h2>
    <ol id="history" class="timeline"></ol>
    <p id="history-empty" class="muted" hidden>No deployments yet.</p>
  </section>

  <section class="panel" id="backups-panel" hidden>
    <h2>Backups</h2>
    <table><thead><tr><th>id</th><th>release</th><th>reason</th><th>created</th><th>size</th><th>verified</th></tr></thead><tbody id="backups"></tbody></table>
  </section>

  <section class="panel">
    <h2>Log <label class="muted small"><input id="log-pause" type="checkbox"> pause</label></h2>
    <pre id="log" tabindex="0"></pre>
  </section>
</main>

<dialog id="confirm-rollback">
  <form method="dialog">
    <h2>Roll back?</h2>
    <p id="confirm-text"></p>
    <label for="rollback-reason">Reason (for the record)</label>
    <input id="rollback-reason" type="text" value="rollback from the dashboard">
    <menu>
      <button id="rollback-cancel" value="cancel" type="submit">Cancel</button>
      <button id="rollback-confirm" value="confirm" type="submit" class="danger">Roll back</button>
    </menu>
  </form>
</dialog>
</body>
</html>
`;
}

const DASHBOARD_CSS = `
:root { --fg: #1d2430; --muted: #667085; --bg: #f6f7f9; --card: #fff; --line: #e3e6ea; --ok: #18794e; --bad: #c0362c; --warn: #a15c00; --accent: #2a5bd7; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; gap: 1rem; align-items: baseline; padding: .8rem 1.2rem; background: var(--card); border-bottom: 1px solid var(--line); }
header h1 { font-size: 1.1rem; margin: 0; }
header .brand { color: var(--accent); }
header button { margin-left: auto; }
main { padding: 0 1.2rem 1.2rem; }
.panel { margin: 1rem 0; }
#login-panel { max-width: 28rem; margin: 3rem auto; background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 1.2rem; }
#login label, dialog label { display: block; font-weight: 600; margin-bottom: .3rem; }
input[type=password], input[type=text] { width: 100%; padding: .45rem .5rem; border: 1px solid var(--line); border-radius: 6px; font: inherit; }
button { font: inherit; padding: .4rem .9rem; border-radius: 6px; border: 1px solid var(--line); background: var(--card); cursor: pointer; }
button[disabled] { opacity: .5; cursor: default; }
#unlock { margin-top: .6rem; background: var(--accent); color: #fff; border-color: var(--accent); }
.danger { background: var(--bad); color: #fff; border-color: var(--bad); }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(14rem, 1fr)); gap: .8rem; margin-top: 1rem; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: .8rem 1rem; }
.card h2, .panel h2 { font-size: .8rem; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); margin: 0 0 .4rem; }
.big { font-size: 1.4rem; font-weight: 650; margin: 0; word-break: break-all; }
.muted { color: var(--muted); }
.small { font-size: .75rem; text-transform: none; letter-spacing: 0; }
.error { color: var(--bad); min-height: 1em; }
main > #error:empty { display: none; }
.ok { color: var(--ok); } .bad { color: var(--bad); } .warn { color: var(--warn); }
.timeline { list-style: none; padding: 0; margin: 0; }
.timeline > li { background: var(--card); border: 1px solid var(--line); border-left: 4px solid var(--muted); border-radius: 6px; padding: .6rem .8rem; margin-bottom: .6rem; }
.timeline > li.succeeded { border-left-color: var(--ok); }
.timeline > li.failed, .timeline > li.rolled-back { border-left-color: var(--bad); }
.timeline .head { display: flex; flex-wrap: wrap; gap: .6rem; align-items: baseline; }
.timeline .meta { margin: .2rem 0 0; font-size: .8rem; }
.badge { font-size: .75rem; padding: .05rem .45rem; border-radius: 999px; background: var(--line); }
.badge.succeeded { background: #dff3e8; color: var(--ok); } .badge.failed, .badge.rolled-back { background: #fbe3e1; color: var(--bad); }
.steps { display: grid; grid-template-columns: 7rem 1fr 5rem; gap: .15rem .6rem; margin-top: .45rem; font-size: .8rem; }
.bar { height: .75rem; align-self: center; background: #dbe4ff; border-radius: 3px; min-width: 2px; }
.bar.failed, .bar.undone { background: #f6c5c0; } .bar.skipped { background: var(--line); }
.ms { text-align: right; color: var(--muted); font-variant-numeric: tabular-nums; }
.certs { list-style: none; padding: 0; margin: 0; }
.certs > li + li { border-top: 1px solid var(--line); margin-top: .4rem; padding-top: .4rem; }
.certs p { margin: .1rem 0 0; font-size: .8rem; word-break: break-word; }
table { border-collapse: collapse; width: 100%; background: var(--card); }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); font-size: .85rem; }
pre#log { background: #10141b; color: #d7dde8; padding: .8rem; border-radius: 6px; height: 18rem; overflow: auto; font-size: .78rem; margin: 0; white-space: pre-wrap; }
dialog { border: 1px solid var(--line); border-radius: 8px; padding: 1.2rem; max-width: 30rem; }
dialog menu { display: flex; gap: .6rem; justify-content: flex-end; padding: 0; margin: 1rem 0 0; }
`;
