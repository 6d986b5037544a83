/**
 * A bounded HTTP load generator for tests and benches: N concurrent keep-alive
 * clients on 127.0.0.1, each sending one request after another, until a request
 * count or a time limit is reached (or `stop()` is called). Records every
 * answer's status, connection errors and latencies.
 */
import http from 'node:http';

export interface LoadRequest {
  method: 'GET' | 'POST' | 'PUT' | 'HEAD';
  path: string;
  body?: string;
  headers?: Record<string, string>;
}

/** One finished request: when it started (ms since the run began), how long it took, what came back. */
export interface LoadSample {
  client: number;
  seq: number;
  request: LoadRequest;
  startMs: number;
  ms: number;
  /** HTTP status, or 0 when the connection failed (see `error`) */
  status: number;
  error?: string;
  body?: string;
}

export interface LoadOptions {
  port: number;
  host?: string;
  /** concurrent keep-alive clients (each with its own connection) */
  clients: number;
  /** stop after this many requests in total were sent */
  maxRequests?: number;
  /** stop sending after this long */
  maxDurationMs?: number;
  /** picks each request; `seq` counts from 0 across all clients */
  nextRequest(seq: number, client: number): LoadRequest;
  /** keep answer bodies in the samples for these requests (default: none) */
  keepBody?(request: LoadRequest): boolean;
  /** a request that takes longer counts as an error (default 120 s: maintenance may hold writes a long time) */
  requestTimeoutMs?: number;
}

export interface LoadReport {
  sent: number;
  /** answered with any HTTP status */
  answered: number;
  /** status → count */
  statuses: Record<number, number>;
  /** answers outside 200–299 */
  non2xx: number;
  /** requests that got no HTTP answer: refused, reset, hung up, timed out */
  connectionErrors: number;
  /** the first few error messages, for assertion output */
  errorMessages: string[];
  durationMs: number;
  samples: LoadSample[];
}

export interface LoadRun {
  /** requests finished so far */
  finished(): number;
  /** ms since the run began: to mark moments (e.g. a switch) on the samples' time line */
  now(): number;
  /** stops sending; resolves with the report once in-flight requests have finished */
  stop(): Promise<LoadReport>;
  /** resolves when the run ended by itself or after stop() */
  done: Promise<LoadReport>;
}

export function startLoad(o: LoadOptions): LoadRun {
  const host = o.host ?? '127.0.0.1';
  const maxRequests = o.maxRequests ?? Number.POSITIVE_INFINITY;
  const deadline = performance.now() + (o.maxDurationMs ?? 60_000);
  const timeoutMs = o.requestTimeoutMs ?? 120_000;
  const t0 = performance.now();
  const samples: LoadSample[] = [];
  const agents: http.Agent[] = [];
  let seq = 0;
  let stopped = false;

  const oneRequest = (client: number, agent: http.Agent, request: LoadRequest, mySeq: number): Promise<void> =>
    new Promise((resolve) => {
      const startMs = performance.now() - t0;
      let settled = false;
      const finish = (status: number, error?: string, body?: string) => {
        if (settled) return;
        settled = true;
        samples.push({ client, seq: mySeq, request, startMs, ms: performance.now() - t0 - startMs, status, error, body });
        resolve();
      };
      const headers: Record<string, string> = { ...request.headers };
      if (request.body !== undefined) {
        headers['content-type'] ??= 'application/json';
        headers['content-length'] = String(Buffer.byteLength(request.body));
      }
      const req = http.request({ host, port: o.port, method: request.method, path: request.path, headers, agent }, (res) => {
        // Bodies of failed answers are always kept: they say why.
        const status = res.statusCode ?? 0;
        const keep = (o.keepBody?.(request) ?? false) || status < 200 || status > 299;
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => {
          if (keep) chunks.push(chunk);
        });
        res.on('end', () => finish(res.statusCode ?? 0, undefined, keep ? Buffer.concat(chunks).toString('utf8') : undefined));
        res.on('error', (error) => finish(0, `response: ${error.message}`));
      });
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on('error', (error: NodeJS.ErrnoException) => finish(0, `${request.method} ${request.path}: ${error.code ?? ''} ${error.message}`.trim()));
      req.end(request.body);
    });

  const client = async (index: number) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(agent);
    while (!stopped && seq < maxRequests && performance.now() < deadline) {
      const mySeq = seq++;
      await oneRequest(index, agent, o.nextRequest(mySeq, index), mySeq);
    }
  };

  const done = Promise.all(Array.from({ length: o.clients }, (_, i) => client(i))).then(() => {
    for (const agent of agents) agent.destroy();
    return summarize(samples, seq, performance.now() - t0);
  });

  return {
    finished: () => samples.length,
    now: () => performance.now() - t0,
    stop: () => {
      stopped = true;
      return done;
    },
    done,
  };
}

function summarize(samples: LoadSample[], sent: number, durationMs: number): LoadReport {
  const statuses: Record<number, number> = {};
  let non2xx = 0;
  let connectionErrors = 0;
  const errorMessages: string[] = [];
  const ordered = [...samples].sort((a, b) => a.startMs - b.startMs);
  for (const s of ordered) {
    if (s.status === 0) {
      connectionErrors += 1;
      if (errorMessages.length < 10) errorMessages.push(`${s.error ?? 'unknown error'} at ${Math.round(s.startMs)} ms`);
      continue;
    }
    statuses[s.status] = (statuses[s.status] ?? 0) + 1;
    if (s.status < 200 || s.status > 299) {
      non2xx += 1;
      if (errorMessages.length < 10) errorMessages.push(`${s.request.method} ${s.request.path} → ${s.status} at ${Math.round(s.startMs)} ms: ${(s.body ?? '').slice(0, 80).trim()}`);
    }
  }
  return { sent, answered: samples.length - connectionErrors, statuses, non2xx, connectionErrors, errorMessages, durationMs, samples: ordered };
}

/** The p-th percentile (0–100) of latencies in ms, nearest rank; NaN for none. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** The notes app's mix: pages and note lists read, one in `writeEvery` requests writes a uniquely named note. */
export function notesTraffic(o: { writeEvery: number; tag: string }): (seq: number) => LoadRequest {
  return (seq) => {
    if (seq % o.writeEvery === o.writeEvery - 1) {
      return { method: 'POST', path: '/api/notes', body: JSON.stringify({ text: `${o.tag} note ${seq}` }) };
    }
    return seq % 2 === 0 ? { method: 'GET', path: '/' } : { method: 'GET', path: '/api/notes' };
  };
}
