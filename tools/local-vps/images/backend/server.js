'use strict';
// Stand-in for the NestJS backend: GET /health answers 200 with a value read from Postgres
// through DATABASE_URL (normally PgBouncer in transaction mode), 503 when the database is
// unreachable; GET /status/<code> answers with that status (200-599), a fault on demand for
// the monitoring tests. DATABASE_URL is never logged.
const { libpqEnvironment, runSql } = require('./pg-query');
const { reply, serve } = require('./serve');

const NAME = 'backend stand-in';
const PORT = Number(process.env.PORT || 4000);

let databaseEnv = null;
let configurationError = null;
try {
  if (!process.env.DATABASE_URL) throw new Error('DATABASE_URL is not set');
  databaseEnv = libpqEnvironment(process.env.DATABASE_URL);
} catch (error) {
  configurationError = error.message;
  console.error(`${NAME}: ${configurationError}`);
}

// A small table the stand-in owns, created if missing; all in one statement batch
// (one implicit transaction), so it works through a transaction-mode pooler.
const HEALTH_SQL = `
  CREATE TABLE IF NOT EXISTS standin_health (
    id integer PRIMARY KEY,
    note text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
  );
  INSERT INTO standin_health (id, note) VALUES (1, 'hello from postgres') ON CONFLICT (id) DO NOTHING;
  SELECT json_build_object('now', now(), 'note', note, 'createdAt', created_at,
                           'database', current_database(), 'user', current_user)
    FROM standin_health WHERE id = 1;`;
// When the user may not create tables, the health check still proves the database answers.
const FALLBACK_SQL = `SELECT json_build_object('now', now(), 'note', NULL, 'database', current_database(), 'user', current_user);`;

async function readFromDatabase() {
  try {
    return JSON.parse(await runSql(databaseEnv, HEALTH_SQL));
  } catch (error) {
    if (error.connectionFailed) throw error;
    console.error(`${NAME}: health table unavailable (${error.message}); using SELECT now()`);
    return JSON.parse(await runSql(databaseEnv, FALLBACK_SQL));
  }
}

serve(NAME, PORT, async (request, response) => {
  const path = new URL(request.url, 'http://localhost').pathname;
  if (request.method === 'GET' && path === '/health') {
    if (configurationError) return reply(response, 503, { status: 'error', error: configurationError });
    try {
      const database = await readFromDatabase();
      return reply(response, 200, { status: 'ok', database });
    } catch (error) {
      console.error(`${NAME}: database unreachable: ${error.message}`);
      return reply(response, 503, { status: 'error', error: 'database unreachable' });
    }
  }
  if (request.method === 'GET' && path === '/') return reply(response, 200, { service: NAME });
  // A fault on demand for the monitoring tests: GET /status/500 answers 500 (any 200-599).
  const statusRequest = request.method === 'GET' && /^\/status\/(\d{3})$/.exec(path);
  if (statusRequest) {
    const status = Number(statusRequest[1]);
    if (status >= 200 && status <= 599) return reply(response, status, { status });
    return reply(response, 400, { status: 'error', error: 'status must be 200-599' });
  }
  return reply(response, 404, { status: 'not found' });
});
