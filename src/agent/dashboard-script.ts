/**
 * The dashboard's script (served as /dashboard.js by dashboard.ts). It is written
 * here as a typed function and shipped as its source text, so the compiler checks
 * it; it must not use anything from outside itself at run time. Its types are the
 * management API's (api.ts): type imports only, erased from the shipped text.
 */
import type { BackupRecordView, HistoryEntry, ManagementRollbackReply, ManagementStatus } from './api.js';

/* eslint-disable -- browser code: runs in the page, not in Node */
function dashboardMain(): void {
  const SECRET_KEY = 'slipway.managementSecret';
  const byId = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
  let clockOffsetMs = 0;
  let status: ManagementStatus | null = null;
  let timers: number[] = [];

  class AuthError extends Error {}
  class HttpError extends Error {
    constructor(
      message: string,
      readonly status: number,
    ) {
      super(message);
    }
  }

  // ---- signing: WebCrypto where the page is a secure context, a small SHA-256 otherwise ----
  const K = new Uint32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
    0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
  ]);
  function sha256Js(data: Uint8Array): Uint8Array {
    const bitLength = data.length * 8;
    const padded = new Uint8Array(((data.length + 9 + 63) >> 6) << 6);
    padded.set(data);
    padded[data.length] = 0x80;
    const view = new DataView(padded.buffer);
    view.setUint32(padded.length - 8, Math.floor(bitLength / 0x100000000));
    view.setUint32(padded.length - 4, bitLength >>> 0);
    const h = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
    const w = new Uint32Array(64);
    const rotr = (x: number, n: number) => (x >>> n) | (x << (32 - n));
    for (let offset = 0; offset < padded.length; offset += 64) {
      for (let i = 0; i < 16; i++) w[i] = view.getUint32(offset + i * 4);
      for (let i = 16; i < 64; i++) {
        const s0 = rotr(w[i - 15]!, 7) ^ rotr(w[i - 15]!, 18) ^ (w[i - 15]! >>> 3);
        const s1 = rotr(w[i - 2]!, 17) ^ rotr(w[i - 2]!, 19) ^ (w[i - 2]! >>> 10);
        w[i] = (w[i - 16]! + s0 + w[i - 7]! + s1) >>> 0;
      }
      let [a, b, c, d, e, f, g, hh] = [h[0]!, h[1]!, h[2]!, h[3]!, h[4]!, h[5]!, h[6]!, h[7]!];
      for (let i = 0; i < 64; i++) {
        const t1 = (hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i]! + w[i]!) >>> 0;
        const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) >>> 0;
        hh = g; g = f; f = e; e = (d + t1) >>> 0; d = c; c = b; b = a; a = (t1 + t2) >>> 0;
      }
      h[0] = (h[0]! + a) >>> 0; h[1] = (h[1]! + b) >>> 0; h[2] = (h[2]! + c) >>> 0; h[3] = (h[3]! + d) >>> 0;
      h[4] = (h[4]! + e) >>> 0; h[5] = (h[5]! + f) >>> 0; h[6] = (h[6]! + g) >>> 0; h[7] = (h[7]! + hh) >>> 0;
    }
    const out = new Uint8Array(32);
    const outView = new DataView(out.buffer);
    for (let i = 0; i < 8; i++) outView.setUint32(i * 4, h[i]!);
    return out;
  }
  function hmacJs(key: Uint8Array, message: Uint8Array): Uint8Array {
    const block = new Uint8Array(64);
    block.set(key.length > 64 ? sha256Js(key) : key);
    const inner = new Uint8Array(64 + message.length);
    const outer = new Uint8Array(64 + 32);
    for (let i = 0; i < 64; i++) {
      inner[i] = block[i]! ^ 0x36;
      outer[i] = block[i]! ^ 0x5c;
    }
    inner.set(message, 64);
    outer.set(sha256Js(inner), 64);
    return sha256Js(outer);
  }
  const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  const utf8 = (text: string) => new TextEncoder().encode(text);
  const subtle = window.isSecureContext && window.crypto && window.crypto.subtle ? window.crypto.subtle : null;

  async function sha256Hex(text: string, noSubtle = false): Promise<string> {
    if (subtle && !noSubtle) return hex(new Uint8Array(await subtle.digest('SHA-256', utf8(text))));
    return hex(sha256Js(utf8(text)));
  }
  async function hmacHex(secret: string, message: string, noSubtle = false): Promise<string> {
    if (subtle && !noSubtle) {
      const key = await subtle.importKey('raw', utf8(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
      return hex(new Uint8Array(await subtle.sign('HMAC', key, utf8(message))));
    }
    return hex(hmacJs(utf8(secret), utf8(message)));
  }
  // For tests: both implementations must agree with the agent's.
  Object.assign(window, { slipwayDashboard: { sha256Hex, hmacHex } });

  async function signedHeaders(method: string, path: string, body: string): Promise<Record<string, string>> {
    const secret = sessionStorage.getItem(SECRET_KEY) ?? '';
    const timestamp = String(Math.floor((Date.now() + clockOffsetMs) / 1000));
    const nonce = hex(crypto.getRandomValues(new Uint8Array(16)));
    // Signed for this agent only, as management-auth.ts does: the page says whose it is.
    const meta = (name: string) => document.querySelector<HTMLMetaElement>(`meta[name="${name}"]`)?.content ?? '';
    const environment = meta('slipway-environment');
    const host = meta('slipway-host');
    const text = (value: string) => JSON.stringify(value);
    const base = ['slipway management v2', method.toUpperCase(), text(path), text(location.host), text(environment), text(host), timestamp, nonce, await sha256Hex(body)].join('\n');
    return {
      'x-slipway-timestamp': timestamp,
      'x-slipway-nonce': nonce,
      'x-slipway-signature': await hmacHex(secret, base),
      'x-slipway-environment': environment,
      'x-slipway-host': host,
    };
  }

  /** A signed call; its answer has the type the management API declares for it (api.ts). */
  async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
    const text = body === undefined ? '' : JSON.stringify(body);
    for (let attempt = 0; ; attempt++) {
      const headers = await signedHeaders(method, path, text);
      if (text) headers['content-type'] = 'application/json';
      const response = await fetch(path, { method, headers, body: text || undefined, cache: 'no-store' });
      const serverDate = Date.parse(response.headers.get('date') ?? '');
      if (!Number.isNaN(serverDate)) clockOffsetMs = serverDate + 500 - Date.now();
      const json: unknown = await response.json().catch(() => null);
      if (response.status === 401) {
        // This browser's clock is off: the Date header has corrected it; sign again once.
        if (typeof json === 'object' && json !== null && 'reason' in json && json.reason === 'stale-timestamp' && attempt === 0) continue;
        throw new AuthError('the secret was not accepted');
      }
      if (!response.ok) {
        const error = typeof json === 'object' && json !== null && 'error' in json ? json.error : null;
        const message = typeof error === 'object' && error !== null && 'message' in error && typeof error.message === 'string' ? error.message : '';
        throw new HttpError(message || 'HTTP ' + response.status, response.status);
      }
      return json as T;
    }
  }

  // ---- rendering ----
  // Text from the store or a release (who, why, versions) with control characters shown as escapes, as printable() does in the terminal.
  const shown = (text: string) =>
    text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => {
      const code = c.charCodeAt(0);
      return c === '\n' ? '\\n' : code <= 0xff ? '\\x' + code.toString(16).padStart(2, '0') : '\\u' + code.toString(16).padStart(4, '0');
    });
  function el(tag: string, options: { text?: string; className?: string; title?: string } = {}, ...children: Node[]): HTMLElement {
    const node = document.createElement(tag);
    if (options.text !== undefined) node.textContent = shown(options.text);
    if (options.className) node.className = options.className;
    if (options.title) node.title = options.title;
    for (const child of children) node.appendChild(child);
    return node;
  }
  const shortId = (id: unknown) => (typeof id === 'string' ? id.slice(0, 12) : '');
  const bytes = (n: number) => (n < 1024 ? n + ' B' : n < 1024 * 1024 ? (n / 1024).toFixed(1) + ' KiB' : (n / 1024 / 1024).toFixed(1) + ' MiB');
  const seconds = (ms: number | null | undefined) => (ms === null || ms === undefined ? '–' : ms < 1000 ? ms + ' ms' : (ms / 1000).toFixed(1) + ' s');
  const when = (iso: string | null | undefined) => (iso ? new Date(iso).toLocaleString() : '–');

  function showError(message: string): void {
    byId('error').textContent = message;
  }

  function renderStatus(s: ManagementStatus): void {
    status = s;
    byId('current-version').textContent = s.current ? s.current.version || shortId(s.current.id) : 'nothing deployed';
    byId('current-id').textContent = s.current ? shortId(s.current.id) : '';
    byId('previous-version').textContent = s.previous ? s.previous.version || shortId(s.previous.id) : '–';
    byId('previous-id').textContent = s.previous ? shortId(s.previous.id) : '';
    const health = byId('health');
    health.textContent = s.health || 'unknown';
    health.className = 'big ' + (s.health === 'healthy' ? 'ok' : s.health === 'unhealthy' ? 'bad' : 'muted');
    byId('url').textContent = s.url || '';
    byId('lock').textContent = s.lock ? shown((s.lock.stale ? 'STALE ' : '') + 'held by ' + s.lock.holder + ' since ' + when(s.lock.since) + (s.lock.reason ? ': ' + s.lock.reason : '')) : 'free';
    byId('maintenance').textContent = s.maintenance && s.maintenance.mode ? 'on (' + s.maintenance.mode + ')' : 'off';
    // How old the data is: a copy of another environment's backup (staging), else this one's newest backup.
    const age = s.dataAge;
    byId('data-age').textContent = !age
      ? '–'
      : shown(age.source === 'copy'
          ? 'as of ' + when(age.at) + ': a' + (age.scrubbed ? ' scrubbed' : 'n UNSCRUBBED') + ' copy of ' + (age.environment || 'another environment') + "'s backup " + age.backupId + ', copied ' + when(age.copiedAt)
          : 'newest backup ' + age.backupId + ', taken ' + when(age.at));
    const channel = s.channel || (s.pull && s.pull.lastPointer);
    byId('channel-card').hidden = !channel;
    if (channel) byId('channel').textContent = shown(channel.version + ' (' + shortId(channel.releaseId) + ')' + (channel.who ? ' set by ' + channel.who : '') + (channel.why ? ': ' + channel.why : ''));
    // The staging run a promoted release was tested in (promote records it beside the pointer).
    const tested = s.pull && s.pull.tested;
    byId('channel-tested').hidden = !(channel && tested);
    if (channel && tested) {
      byId('channel-tested').textContent = shown('Tested on ' + tested.environment + ': ' + (tested.healthWindowPassed ? 'health window passed' : 'health window NOT passed') + ' ' + when(tested.at)
        + (tested.dataCopy ? ', on ' + (tested.dataCopy.scrubbed ? 'a scrubbed' : 'an UNSCRUBBED') + ' copy of ' + (tested.dataCopy.from || 'another environment') + "'s data taken " + when(tested.dataCopy.backupCreatedAt) : ', data copy unknown'));
    }
    // A release the agent gave up on (it failed here, or an operator rolled back from it) stays aside until the channel moves.
    const failed = s.failedRelease;
    const note = byId('channel-note');
    note.hidden = !(channel && failed);
    if (channel && failed) note.textContent = shown('Not applied on this host: ' + (failed.version || shortId(failed.id)) + ' ' + (/rolled back/.test(failed.error) ? 'was rolled back' : 'failed') + ' at ' + when(failed.at) + ' (' + failed.error + '). Waiting for the channel to move.');
    renderCertificates(s.tls);
    byId('agent-info').textContent = s.environment ? s.environment + (s.agent ? ' · agent pid ' + s.agent.pid + ', up ' + s.agent.uptimeSeconds + ' s' : '') : '';
    const button = byId<HTMLButtonElement>('rollback');
    if (!button.dataset.busy) button.disabled = !s.previous;
  }

  // Each certificate the proxy serves: its state, issuer, expiry and the last failed renewal (its text is the CA's, shown, never parsed as HTML).
  function renderCertificates(tls: ManagementStatus['tls']): void {
    byId('tls-card').hidden = !tls;
    const list = byId('certificates');
    list.replaceChildren();
    if (!tls) return;
    for (const c of tls.certificates) {
      const good = c.state === 'valid';
      const item = el('li', {},
        el('strong', { text: c.domain }), document.createTextNode(' '),
        el('span', { className: 'badge ' + (good ? 'succeeded' : c.state === 'renewal-due' ? '' : 'failed'), text: c.state }));
      item.dataset.domain = c.domain;
      const days = c.notAfter ? Math.floor((Date.parse(c.notAfter) - Date.now()) / 86_400_000) : null;
      item.appendChild(el('p', { className: 'muted cert-issuer', text: c.issuer ? 'issued by ' + c.issuer + (c.notAfter ? ', expires ' + when(c.notAfter) + ' (' + days + ' days)' : '') : c.state === 'missing' ? 'not obtained yet' : 'no readable certificate' }));
      // A failure before the last success is history: shown only when it is the newest news.
      const failed = c.lastError && (c.lastRenewalAt === null || c.lastError.at > c.lastRenewalAt) ? c.lastError : null;
      if (failed) item.appendChild(el('p', { className: 'bad cert-error', text: 'last renewal failed ' + when(failed.at) + ': ' + failed.message }));
      else if (c.lastRenewalAt) item.appendChild(el('p', { className: 'muted', text: 'last renewed ' + when(c.lastRenewalAt) }));
      if (c.nextAttemptAt) item.appendChild(el('p', { className: 'muted', text: 'next attempt ' + when(c.nextAttemptAt) }));
      list.appendChild(item);
    }
  }

  function renderHistory(entries: HistoryEntry[]): void {
    const list = byId('history');
    list.replaceChildren();
    byId('history-empty').hidden = entries.length > 0;
    for (const entry of entries) {
      const outcome = entry.outcome || 'running';
      const total = entry.finishedAt ? Date.parse(entry.finishedAt) - Date.parse(entry.startedAt) : null;
      const head = el('div', { className: 'head' },
        el('span', { className: 'badge ' + outcome, text: outcome }),
        el('strong', { text: (entry.kind && entry.kind !== 'deploy' ? entry.kind + ' ' : '') + (entry.from || '–') + ' → ' + (entry.to || '–') }),
        el('span', { className: 'muted', text: '#' + entry.id + ' · ' + when(entry.startedAt) + ' · ' + seconds(total) }),
      );
      const steps = el('div', { className: 'steps' });
      const longest = Math.max(1, ...(entry.steps || []).map((step) => step.ms || 0));
      for (const step of entry.steps || []) {
        const bar = el('div', { className: 'bar ' + (step.outcome || ''), title: step.name + ': ' + (step.outcome || 'running') });
        bar.style.width = Math.max(0.5, (100 * (step.ms || 0)) / longest) + '%';
        steps.append(el('span', { text: step.name }), el('div', {}, bar), el('span', { className: 'ms', text: seconds(step.ms) }));
      }
      const said = [entry.who ? 'by ' + entry.who : '', entry.reason || ''].filter(Boolean).join(': ');
      const item = el('li', { className: outcome }, head);
      if (said) item.appendChild(el('p', { className: 'meta muted', text: said }));
      if (entry.error) item.appendChild(el('p', { className: 'meta bad', text: entry.error }));
      item.appendChild(steps);
      item.dataset.deployment = String(entry.id);
      list.appendChild(item);
    }
  }

  function renderBackups(backups: BackupRecordView[]): void {
    const body = byId('backups');
    body.replaceChildren();
    for (const b of backups) {
      const row = el('tr');
      // release: { id, version } from the agent (a plain string is shown as it is)
      const release = b.release && typeof b.release === 'object' ? b.release.version || shortId(b.release.id) : b.release;
      for (const cell of [b.id, release, b.reason, when(b.createdAt), typeof b.size === 'number' ? bytes(b.size) : '–', b.verifiedAt ? when(b.verifiedAt) : 'no']) {
        row.appendChild(el('td', { text: String(cell ?? '–') }));
      }
      body.appendChild(row);
    }
  }

  async function refresh(): Promise<void> {
    try {
      const [s, history] = await Promise.all([api<ManagementStatus>('GET', '/v1/status'), api<HistoryEntry[]>('GET', '/v1/history')]);
      renderStatus(s);
      renderHistory(Array.isArray(history) ? history : []);
      showError('');
    } catch (error) {
      handleFailure(error);
    }
  }

  async function refreshBackups(): Promise<void> {
    try {
      const backups = await api<BackupRecordView[]>('GET', '/v1/backups');
      byId('backups-panel').hidden = false;
      renderBackups(Array.isArray(backups) ? backups : []);
    } catch (error) {
      if (error instanceof HttpError && error.status === 404) byId('backups-panel').hidden = true;
      else handleFailure(error);
    }
  }

  async function refreshLog(): Promise<void> {
    if (byId<HTMLInputElement>('log-pause').checked) return;
    try {
      const result = await api<{ lines: string[] }>('GET', '/v1/logs?lines=200');
      const log = byId('log');
      const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
      log.textContent = (result.lines || []).join('\n');
      if (atBottom) log.scrollTop = log.scrollHeight;
    } catch (error) {
      handleFailure(error);
    }
  }

  function handleFailure(error: unknown): void {
    if (error instanceof AuthError) {
      lock('The secret was not accepted (or it changed on the agent).');
      return;
    }
    showError('Cannot reach the agent: ' + (error as Error).message);
  }

  function lock(message: string): void {
    sessionStorage.removeItem(SECRET_KEY);
    for (const timer of timers) clearInterval(timer);
    timers = [];
    byId('app').hidden = true;
    byId('forget').hidden = true;
    byId('login-panel').hidden = false;
    byId('login-error').textContent = message;
  }

  async function unlock(): Promise<void> {
    try {
      renderStatus(await api<ManagementStatus>('GET', '/v1/status'));
    } catch (error) {
      if (error instanceof AuthError) lock('That secret was not accepted.');
      else byId('login-error').textContent = 'Cannot reach the agent: ' + (error as Error).message;
      return;
    }
    byId('login-panel').hidden = true;
    byId('app').hidden = false;
    byId('forget').hidden = false;
    await Promise.all([refresh(), refreshLog(), refreshBackups()]);
    timers.push(window.setInterval(refresh, 5000), window.setInterval(refreshLog, 2000), window.setInterval(refreshBackups, 30000));
  }

  byId('login').addEventListener('submit', (event) => {
    event.preventDefault();
    const input = byId<HTMLInputElement>('secret');
    sessionStorage.setItem(SECRET_KEY, input.value);
    input.value = '';
    byId('login-error').textContent = '';
    void unlock();
  });
  byId('forget').addEventListener('click', () => lock(''));

  const dialog = byId<HTMLDialogElement>('confirm-rollback');
  byId('rollback').addEventListener('click', () => {
    if (!status || !status.previous) return;
    const from = status.current ? status.current.version || shortId(status.current.id) : 'nothing';
    byId('confirm-text').textContent = 'Roll back ' + (status.environment || 'this environment') + ' from ' + from + ' to ' + (status.previous.version || shortId(status.previous.id)) + '? The previous release is started beside the current one and traffic switches once it is healthy.';
    dialog.returnValue = '';
    dialog.showModal();
  });
  dialog.addEventListener('close', () => {
    if (dialog.returnValue !== 'confirm' || !status || !status.previous) return;
    const button = byId<HTMLButtonElement>('rollback');
    const result = byId('rollback-result');
    button.disabled = true;
    button.dataset.busy = '1';
    result.className = 'muted';
    result.textContent = 'Rolling back to ' + (status.previous.version || shortId(status.previous.id)) + '…';
    const reason = byId<HTMLInputElement>('rollback-reason').value || 'rollback from the dashboard';
    api<ManagementRollbackReply | null>('POST', '/v1/rollback', { to: status.previous.id, reason })
      .then((outcome) => {
        const ok = !outcome || outcome.ok !== false;
        result.className = ok ? 'ok' : 'bad';
        result.textContent = ok
          ? 'Rolled back' + (outcome && outcome.version ? ': ' + outcome.version + ' is serving' : '') + '.'
          : 'Rollback failed: ' + ((outcome && outcome.error) || 'unknown error');
      })
      .catch((error: unknown) => {
        result.className = 'bad';
        result.textContent = 'Rollback failed: ' + (error as Error).message;
      })
      .finally(() => {
        delete button.dataset.busy;
        void refresh();
      });
  });

  if (sessionStorage.getItem(SECRET_KEY)) void unlock();
}

export const DASHBOARD_JS = `'use strict';\n(${dashboardMain.toString()})();\n`;
