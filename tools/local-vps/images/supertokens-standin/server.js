'use strict';
// EXPLICIT STAND-IN for SuperTokens Core (the real image cannot be fetched here). It
// implements only what the stack's wiring needs, not authentication:
// - refuses to start unless POSTGRESQL_CONNECTION_URI starts with postgresql:// (like the core);
// - validates API_KEYS the way the core does (comma-separated, >= 20 chars of [a-zA-Z0-9=-]);
// - GET /hello answers 200 "Hello" only when the database accepts a connection, else 500;
// - every other route needs a valid api-key header when API_KEYS is set (401), then 404.
const { libpqEnvironment, runSql } = require('./pg-query');
const { reply, serve } = require('./serve');

const NAME = 'supertokens-standin';
const PORT = Number(process.env.SUPERTOKENS_PORT || 3567);

function fail(message) {
  console.error(`${NAME}: ${message}`);
  process.exit(1);
}

const connectionUri = process.env.POSTGRESQL_CONNECTION_URI || '';
if (!connectionUri.startsWith('postgresql://')) {
  fail('POSTGRESQL_CONNECTION_URI must be set and start with postgresql://');
}
let databaseEnv;
try {
  databaseEnv = libpqEnvironment(connectionUri);
} catch (error) {
  fail(`POSTGRESQL_CONNECTION_URI: ${error.message}`);
}

const apiKeys = (process.env.API_KEYS || '').split(',').map((key) => key.trim()).filter(Boolean);
for (const key of apiKeys) {
  if (key.length < 20) fail('API_KEYS: each API key must be at least 20 characters long');
  if (!/^[a-zA-Z0-9=-]+$/.test(key)) fail("API_KEYS: API keys may contain only '=', '-' and alphanumeric characters");
}
console.log(`${NAME}: NOT the real SuperTokens Core; ${apiKeys.length} API key(s) configured`);

serve(NAME, PORT, async (request, response) => {
  const path = new URL(request.url, 'http://localhost').pathname;
  if (path === '/hello' && (request.method === 'GET' || request.method === 'HEAD')) {
    try {
      await runSql(databaseEnv, 'SELECT 1');
      return reply(response, 200, 'Hello', 'text/plain');
    } catch (error) {
      console.error(`${NAME}: database unreachable: ${error.message}`);
      return reply(response, 500, 'Internal Error', 'text/plain');
    }
  }
  if (apiKeys.length > 0 && !apiKeys.includes(request.headers['api-key'])) {
    return reply(response, 401, 'Invalid API key', 'text/plain');
  }
  return reply(response, 404, `Not found (${NAME} implements only /hello)`, 'text/plain');
});
