'use strict';
/* global require, process, console, Buffer, URL, setTimeout, clearTimeout */
/* eslint-disable @typescript-eslint/no-require-imports -- plain CommonJS: one uploaded file, no build step */
// byte-runner-exporter: the Prometheus metrics no upstream exporter gives this stack, read
// fresh on every scrape: container state, health and restarts (cAdvisor is not available on
// the VPS) and PgBouncer's pools and stats. Node's standard library only, so it runs as one
// uploaded file on node:20-bookworm-slim (prod) and on Debian's nodejs 18 (local stand-in),
// neither of which has psql: the PostgreSQL wire protocol is spoken here directly.
//
// Environment (at least one of CONTAINER_PREFIX and PGBOUNCER_URL[_FILE] is required):
//   PORT                default 9469; 0 takes a free port (the log line says which)
//   LISTEN_ADDRESS      default 0.0.0.0 (the monitoring network inside the container)
//   CONTAINER_PREFIX    e.g. byte-runner-prod-: only containers whose name starts with it are
//                       reported, as name="<the rest>"; unset: no container metrics
//   DOCKER_SOCKET       default /var/run/docker.sock; only GET requests are sent to it
//   PGBOUNCER_URL       postgresql://user:password@host:port/pgbouncer (a stats_users role),
//   PGBOUNCER_URL_FILE  or a file holding it (keeps the password out of `docker inspect`);
//                       unset: no byte_runner_pgbouncer_* metric at all
// GET /metrics: Prometheus text format 0.0.4. GET /health: 200 while the process serves.
// The URL and its password are never logged: a failure is logged by its message only.
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');

const NAME = 'byte-runner-exporter';
/** Per source and scrape; below Prometheus' default scrape_timeout (10 s). */
const SCRAPE_TIMEOUT_MS = 3000;
/** PgBouncer's admin console lists itself as a database; it is not a pool worth watching. */
const ADMIN_DATABASE = 'pgbouncer';
const HEALTH_STATUSES = ['healthy', 'unhealthy', 'starting', 'none'];

const FAMILIES = {
  byte_runner_container_running: ['gauge', '1 when the container is running'],
  byte_runner_container_healthy: ['gauge', '1 when running and healthy (or running without a healthcheck)'],
  byte_runner_container_health_status: ['gauge', '1 for the current Docker health status of the container'],
  byte_runner_container_restarts_total: ['counter', 'Restarts by the restart policy (Docker RestartCount)'],
  byte_runner_container_oom_killed: ['gauge', '1 when the last exit of the container was an OOM kill'],
  byte_runner_container_started_timestamp_seconds: ['gauge', 'When the container was last started (Unix time)'],
  byte_runner_pgbouncer_up: ['gauge', '1 when the last scrape logged in to the PgBouncer console and read it'],
  byte_runner_pgbouncer_clients_active: ['gauge', 'Client connections linked to a server or idle (SHOW POOLS cl_active)'],
  byte_runner_pgbouncer_clients_waiting: ['gauge', 'Client connections waiting for a server connection (cl_waiting)'],
  byte_runner_pgbouncer_servers_active: ['gauge', 'Server connections linked to a client (sv_active)'],
  byte_runner_pgbouncer_servers_idle: ['gauge', 'Server connections idle and ready (sv_idle)'],
  byte_runner_pgbouncer_max_wait_seconds: ['gauge', 'How long the oldest waiting client has waited (maxwait + maxwait_us)'],
  byte_runner_pgbouncer_queries_total: ['counter', 'Queries pooled (SHOW STATS total_query_count)'],
  byte_runner_pgbouncer_transactions_total: ['counter', 'Transactions pooled (SHOW STATS total_xact_count)'],
  byte_runner_pgbouncer_wait_seconds_total: ['counter', 'Time clients spent waiting for a server (total_wait_time)'],
  byte_runner_pgbouncer_pool_size: ['gauge', 'Server connections allowed per user and database (SHOW DATABASES pool_size)'],
  byte_runner_pgbouncer_max_client_connections: ['gauge', 'max_client_conn (SHOW CONFIG)'],
  byte_runner_exporter_scrape_errors_total: ['counter', 'Scrapes of a source (docker, pgbouncer) that failed; see the log'],
};

function fail(message) {
  console.error(`${NAME}: ${message}`);
  process.exit(2);
}

/** host, port, user, password, database of a postgresql:// URL; errors never echo it. */
function parsePgbouncerUrl(text) {
  let url;
  try {
    url = new URL(text.trim());
  } catch {
    throw new Error('PGBOUNCER_URL is not a valid URL');
  }
  if (url.protocol !== 'postgresql:' && url.protocol !== 'postgres:') {
    throw new Error(`PGBOUNCER_URL must start with postgresql://, not ${url.protocol}//`);
  }
  return {
    host: url.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
    port: Number(url.port || 6432),
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    database: decodeURIComponent(url.pathname.slice(1)) || ADMIN_DATABASE,
  };
}

function readSettings(env) {
  let pgbouncer;
  try {
    if (env.PGBOUNCER_URL_FILE) pgbouncer = parsePgbouncerUrl(fs.readFileSync(env.PGBOUNCER_URL_FILE, 'utf8'));
    else if (env.PGBOUNCER_URL) pgbouncer = parsePgbouncerUrl(env.PGBOUNCER_URL);
  } catch (error) {
    fail(error.code ? `cannot read PGBOUNCER_URL_FILE: ${error.code}` : error.message);
  }
  const containerPrefix = env.CONTAINER_PREFIX || '';
  if (!containerPrefix && !pgbouncer) fail('nothing to export: set CONTAINER_PREFIX and/or PGBOUNCER_URL (or PGBOUNCER_URL_FILE)');
  const port = Number(env.PORT || 9469);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`PORT: '${env.PORT}' is not a port number`);
  return {
    port,
    listenAddress: env.LISTEN_ADDRESS || '0.0.0.0',
    containerPrefix,
    dockerSocket: env.DOCKER_SOCKET || '/var/run/docker.sock',
    pgbouncer,
  };
}

// ---- Docker: the engine API over its unix socket, GET only -------------------------------

/** The parsed JSON answer, or null for 404 (a container removed since it was listed). */
function dockerGet(socketPath, path) {
  return new Promise((resolve, reject) => {
    const request = http.request({ socketPath, path, method: 'GET', headers: { host: 'docker' }, timeout: SCRAPE_TIMEOUT_MS }, (response) => {
      const chunks = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.on('error', reject);
      response.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        if (response.statusCode === 404) return resolve(null);
        if (response.statusCode !== 200) return reject(new Error(`GET ${path}: HTTP ${response.statusCode} ${body.trim().slice(0, 200)}`));
        try {
          resolve(JSON.parse(body));
        } catch {
          reject(new Error(`GET ${path}: the answer is not JSON`));
        }
      });
    });
    request.on('timeout', () => request.destroy(new Error(`GET ${path}: no answer from ${socketPath}`)));
    request.on('error', reject);
    request.end();
  });
}

/** The label of an app's per-release containers (components/shared/container.ts, SERVICE_LABEL). */
const SERVICE_LABEL = 'org.byte-runner.service';

async function collectContainers({ dockerSocket, containerPrefix }, add) {
  const listed = await dockerGet(dockerSocket, '/containers/json?all=1');
  const byName = new Map();
  // Running first, then newest: while a deploy runs an app has two containers (one per release,
  // labelled SERVICE_LABEL with the service); the newest running one stands for the service, so
  // its series keep one name across releases, and a failed release (stopped by its gate) does
  // not hide the one that serves.
  const running = (entry) => (entry.State === 'running' ? 1 : 0);
  for (const entry of [...listed].sort((a, b) => running(b) - running(a) || (b.Created || 0) - (a.Created || 0))) {
    // Names are "/name"; legacy links add "/other/alias" entries, which are not names.
    const name = (entry.Labels || {})[SERVICE_LABEL] || (entry.Names || []).map((n) => n.slice(1)).find((n) => !n.includes('/'));
    if (name && name.startsWith(containerPrefix) && name.length > containerPrefix.length && !byName.has(name)) {
      byName.set(name, { id: entry.Id, name: name.slice(containerPrefix.length) });
    }
  }
  const ours = [...byName.values()];
  const details = await Promise.all(ours.map(({ id }) => dockerGet(dockerSocket, `/containers/${encodeURIComponent(id)}/json`)));
  ours.forEach(({ name }, index) => {
    const container = details[index];
    if (!container) return;
    const state = container.State || {};
    const reported = state.Health && state.Health.Status;
    const health = HEALTH_STATUSES.includes(reported) ? reported : 'none';
    const running = state.Running === true;
    add('byte_runner_container_running', { name }, running ? 1 : 0);
    add('byte_runner_container_healthy', { name }, running && (health === 'healthy' || health === 'none') ? 1 : 0);
    for (const status of HEALTH_STATUSES) add('byte_runner_container_health_status', { name, status }, status === health ? 1 : 0);
    add('byte_runner_container_restarts_total', { name }, Number(container.RestartCount) || 0);
    add('byte_runner_container_oom_killed', { name }, state.OOMKilled ? 1 : 0);
    // A container never started has StartedAt "0001-01-01T00:00:00Z".
    const startedMs = Date.parse(state.StartedAt);
    if (startedMs > 0) add('byte_runner_container_started_timestamp_seconds', { name }, startedMs / 1000);
  });
}

// ---- PgBouncer: a minimal PostgreSQL client (startup, SCRAM-SHA-256/md5, simple query) ------

const int32 = (value) => {
  const buffer = Buffer.alloc(4);
  buffer.writeInt32BE(value);
  return buffer;
};
const cstring = (text) => Buffer.from(`${text}\0`, 'utf8');
const frontendMessage = (type, body) => Buffer.concat([Buffer.from(type), int32(body.length + 4), body]);
const hmac = (key, text) => crypto.createHmac('sha256', key).update(text).digest();
const md5Hex = (data) => crypto.createHash('md5').update(data).digest('hex');
/** "k=v,k=v" of SCRAM messages (values may contain "=", as base64 does). */
const scramFields = (text) => Object.fromEntries(text.split(',').map((part) => [part[0], part.slice(2)]));

function startupMessage({ user, database }) {
  const parameters = ['user', user, 'database', database, 'application_name', NAME].map(cstring);
  const body = Buffer.concat([int32(196608), ...parameters, Buffer.from([0])]); // protocol 3.0
  return Buffer.concat([int32(body.length + 4), body]);
}

/** "SEVERITY CODE: message" of an ErrorResponse. */
function errorText(body) {
  const fields = {};
  for (let offset = 0; offset < body.length && body[offset] !== 0; ) {
    const end = body.indexOf(0, offset + 1);
    fields[String.fromCharCode(body[offset])] = body.toString('utf8', offset + 1, end);
    offset = end + 1;
  }
  return `${fields.S || 'ERROR'} ${fields.C || ''}: ${fields.M || 'unknown error'}`;
}

/**
 * Logs in and runs each statement with the simple query protocol (one at a time: the admin
 * console takes one command per query); resolves with one array of row objects (column name
 * -> text or null) per statement.
 */
function queryPgbouncer(target, statements) {
  return new Promise((resolve, reject) => {
    const results = [];
    const pending = [...statements];
    let received = Buffer.alloc(0);
    let columns = [];
    let rows = [];
    let scram;
    let finished = false;
    const socket = net.connect({ host: target.host, port: target.port });
    const deadline = setTimeout(() => finish(new Error(`no complete answer from ${target.host}:${target.port} within ${SCRAPE_TIMEOUT_MS / 1000} s`)), SCRAPE_TIMEOUT_MS);
    function finish(error) {
      if (finished) return;
      finished = true;
      clearTimeout(deadline);
      if (error) {
        socket.destroy();
        reject(error);
      } else {
        socket.end(frontendMessage('X', Buffer.alloc(0)));
        resolve(results);
      }
    }

    function authenticate(body) {
      const code = body.readInt32BE(0);
      if (code === 0) return; // AuthenticationOk
      if (code === 10) {
        const mechanisms = body.toString('utf8', 4).split('\0').filter(Boolean);
        if (!mechanisms.includes('SCRAM-SHA-256')) throw new Error(`no supported SASL mechanism offered: ${mechanisms.join(', ')}`);
        const clientNonce = crypto.randomBytes(18).toString('base64');
        // gs2 header "n,,": no channel binding (no TLS inside the monitoring network).
        scram = { clientNonce, clientFirstBare: `n=,r=${clientNonce}` };
        const clientFirst = Buffer.from(`n,,${scram.clientFirstBare}`);
        return socket.write(frontendMessage('p', Buffer.concat([cstring('SCRAM-SHA-256'), int32(clientFirst.length), clientFirst])));
      }
      if (code === 11 && scram) {
        const serverFirst = body.toString('utf8', 4);
        const { r: nonce, s: salt, i: iterations } = scramFields(serverFirst);
        if (!nonce || !nonce.startsWith(scram.clientNonce) || !salt || !(Number(iterations) > 0)) throw new Error('malformed SCRAM server-first message');
        // SASLprep is skipped: it changes nothing for the ASCII passwords this stack generates.
        const salted = crypto.pbkdf2Sync(target.password, Buffer.from(salt, 'base64'), Number(iterations), 32, 'sha256');
        const clientKey = hmac(salted, 'Client Key');
        const clientFinalBare = `c=biws,r=${nonce}`;
        scram.authMessage = `${scram.clientFirstBare},${serverFirst},${clientFinalBare}`;
        scram.serverKey = hmac(salted, 'Server Key');
        const signature = hmac(crypto.createHash('sha256').update(clientKey).digest(), scram.authMessage);
        const proof = Buffer.alloc(clientKey.length);
        for (let i = 0; i < proof.length; i++) proof[i] = clientKey[i] ^ signature[i];
        return socket.write(frontendMessage('p', Buffer.from(`${clientFinalBare},p=${proof.toString('base64')}`)));
      }
      if (code === 12 && scram && scram.serverKey) {
        // The server proves it knows the password too; an impostor cannot.
        const expected = hmac(scram.serverKey, scram.authMessage).toString('base64');
        if (scramFields(body.toString('utf8', 4)).v !== expected) throw new Error('the server failed the SCRAM verification');
        return;
      }
      if (code === 5) {
        const salt = body.subarray(4, 8);
        const hash = md5Hex(Buffer.concat([Buffer.from(md5Hex(target.password + target.user)), salt]));
        return socket.write(frontendMessage('p', cstring(`md5${hash}`)));
      }
      // Cleartext (3) is refused on purpose: it would hand the password to whoever asks.
      throw new Error(`authentication method ${code} is not supported (SCRAM-SHA-256 and md5 are)`);
    }

    function handle(type, body) {
      if (type === 'R') return authenticate(body);
      if (type === 'E') throw new Error(errorText(body));
      if (type === 'T') {
        // RowDescription: per field its name, then 18 bytes of type information.
        columns = [];
        rows = [];
        for (let offset = 2, count = body.readInt16BE(0); columns.length < count; ) {
          const end = body.indexOf(0, offset);
          columns.push(body.toString('utf8', offset, end));
          offset = end + 1 + 18;
        }
      } else if (type === 'D') {
        const row = {};
        for (let index = 0, offset = 2; index < body.readInt16BE(0); index++) {
          const length = body.readInt32BE(offset);
          offset += 4;
          row[columns[index]] = length < 0 ? null : body.toString('utf8', offset, offset + length);
          offset += Math.max(length, 0);
        }
        rows.push(row);
      } else if (type === 'C') {
        results.push(rows);
        rows = [];
      } else if (type === 'Z') {
        // ReadyForQuery: after the login and after each statement.
        if (pending.length > 0) socket.write(frontendMessage('Q', cstring(pending.shift())));
        else finish();
      }
      // ParameterStatus (S), BackendKeyData (K), NoticeResponse (N): nothing to do.
    }

    socket.on('connect', () => socket.write(startupMessage(target)));
    socket.on('error', (error) => finish(new Error(`${target.host}:${target.port}: ${error.message}`)));
    socket.on('close', () => finish(new Error(`${target.host}:${target.port} closed the connection`)));
    socket.on('data', (chunk) => {
      received = Buffer.concat([received, chunk]);
      while (!finished && received.length >= 5) {
        const length = received.readInt32BE(1);
        if (received.length < 1 + length) break;
        const type = String.fromCharCode(received[0]);
        const body = received.subarray(5, 1 + length);
        received = received.subarray(1 + length);
        try {
          handle(type, body);
        } catch (error) {
          finish(error);
        }
      }
    });
  });
}

/** A number from a column read by name: PgBouncer adds and renames columns across versions. */
function column(row, name, statement) {
  if (!(name in row)) throw new Error(`${statement} has no column ${name}`);
  return Number(row[name]);
}

async function collectPgbouncer(target, add) {
  const [pools, stats, databases, config] = await queryPgbouncer(target, ['SHOW POOLS', 'SHOW STATS', 'SHOW DATABASES', 'SHOW CONFIG']);
  for (const pool of pools.filter((row) => row.database !== ADMIN_DATABASE)) {
    const labels = { database: pool.database, user: pool.user };
    add('byte_runner_pgbouncer_clients_active', labels, column(pool, 'cl_active', 'SHOW POOLS'));
    add('byte_runner_pgbouncer_clients_waiting', labels, column(pool, 'cl_waiting', 'SHOW POOLS'));
    add('byte_runner_pgbouncer_servers_active', labels, column(pool, 'sv_active', 'SHOW POOLS'));
    add('byte_runner_pgbouncer_servers_idle', labels, column(pool, 'sv_idle', 'SHOW POOLS'));
    const maxWait = column(pool, 'maxwait', 'SHOW POOLS') + column(pool, 'maxwait_us', 'SHOW POOLS') / 1e6;
    add('byte_runner_pgbouncer_max_wait_seconds', labels, maxWait);
  }
  for (const stat of stats.filter((row) => row.database !== ADMIN_DATABASE)) {
    const labels = { database: stat.database };
    add('byte_runner_pgbouncer_queries_total', labels, column(stat, 'total_query_count', 'SHOW STATS'));
    add('byte_runner_pgbouncer_transactions_total', labels, column(stat, 'total_xact_count', 'SHOW STATS'));
    add('byte_runner_pgbouncer_wait_seconds_total', labels, column(stat, 'total_wait_time', 'SHOW STATS') / 1e6);
  }
  for (const database of databases.filter((row) => row.name !== ADMIN_DATABASE)) {
    add('byte_runner_pgbouncer_pool_size', { database: database.name }, column(database, 'pool_size', 'SHOW DATABASES'));
  }
  const maxClientConn = config.find((row) => row.key === 'max_client_conn');
  if (!maxClientConn) throw new Error('SHOW CONFIG has no max_client_conn');
  add('byte_runner_pgbouncer_max_client_connections', {}, column(maxClientConn, 'value', 'SHOW CONFIG'));
}

// ---- Exposition ------------------------------------------------------------------------

const escapeLabel = (value) => String(value).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const formatValue = (value) => (Number.isNaN(value) ? 'NaN' : value === Infinity ? '+Inf' : value === -Infinity ? '-Inf' : String(value));

function render(samples) {
  const lines = [];
  for (const [name, [type, help]] of Object.entries(FAMILIES)) {
    const ofFamily = samples.filter((sample) => sample.name === name);
    if (ofFamily.length === 0) continue;
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const { labels, value } of ofFamily) {
      const pairs = Object.entries(labels).map(([label, labelValue]) => `${label}="${escapeLabel(labelValue)}"`);
      lines.push(`${name}${pairs.length ? `{${pairs.join(',')}}` : ''} ${formatValue(value)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** Failed scrapes per configured source (docker, pgbouncer), since the start. */
const scrapeErrors = {};

/** Runs one source's collector; only a complete read is exported, never half of one. */
async function scrapeSource(source, collect, samples) {
  scrapeErrors[source] = scrapeErrors[source] || 0;
  const collected = [];
  let timer;
  try {
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${SCRAPE_TIMEOUT_MS / 1000} s`)), SCRAPE_TIMEOUT_MS + 500);
    });
    await Promise.race([collect((name, labels, value) => collected.push({ name, labels, value })), timeout]);
    samples.push(...collected);
    return true;
  } catch (error) {
    scrapeErrors[source] += 1;
    console.error(`${NAME}: ${source} scrape failed: ${error.message}`);
    return false;
  } finally {
    clearTimeout(timer);
  }
}

async function scrape(settings) {
  const samples = [];
  const jobs = [];
  if (settings.containerPrefix) jobs.push(scrapeSource('docker', (add) => collectContainers(settings, add), samples));
  if (settings.pgbouncer) {
    jobs.push(
      scrapeSource('pgbouncer', (add) => collectPgbouncer(settings.pgbouncer, add), samples).then((up) => {
        samples.push({ name: 'byte_runner_pgbouncer_up', labels: {}, value: up ? 1 : 0 });
      }),
    );
  }
  await Promise.all(jobs);
  for (const [source, count] of Object.entries(scrapeErrors)) {
    samples.push({ name: 'byte_runner_exporter_scrape_errors_total', labels: { source }, value: count });
  }
  return render(samples);
}

function main() {
  const settings = readSettings(process.env);
  const server = http.createServer((request, response) => {
    const path = request.url.split('?')[0]; // not new URL(): a malformed target would throw
    if (request.method !== 'GET') {
      response.writeHead(405, { allow: 'GET' }).end();
    } else if (path === '/health') {
      response.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/metrics') {
      scrape(settings).then(
        (body) => response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(body),
        (error) => {
          console.error(`${NAME}: scrape failed: ${error.message}`);
          response.writeHead(500).end();
        },
      );
    } else {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  });
  server.listen(settings.port, settings.listenAddress, () => {
    const sources = [settings.containerPrefix && `containers ${settings.containerPrefix}*`, settings.pgbouncer && `pgbouncer at ${settings.pgbouncer.host}:${settings.pgbouncer.port}`];
    console.log(`${NAME}: listening on ${settings.listenAddress}:${server.address().port}; ${sources.filter(Boolean).join(', ')}`);
  });
  // As PID 1 in a container node would ignore these signals without handlers; nothing is
  // left to flush, and waiting for Prometheus' keep-alive connections would only delay a stop.
  for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
}

main();
