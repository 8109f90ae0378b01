'use strict';
// Runs SQL through psql. The connection URL is taken apart into libpq's PG* environment
// variables for the child only, so it (and its password) never appears on a command line,
// in `ps` or in a log. One psql run is one server session: safe behind PgBouncer in
// transaction mode (no session state is kept between queries).
const { execFile } = require('node:child_process');

const QUERY_PARAMETERS_TO_ENV = {
  host: 'PGHOST',
  port: 'PGPORT',
  sslmode: 'PGSSLMODE',
  sslrootcert: 'PGSSLROOTCERT',
  connect_timeout: 'PGCONNECT_TIMEOUT',
  application_name: 'PGAPPNAME',
  options: 'PGOPTIONS',
  target_session_attrs: 'PGTARGETSESSIONATTRS',
};

/** libpq environment for a postgres:// or postgresql:// URL; throws without echoing the URL. */
function libpqEnvironment(connectionUrl) {
  let url;
  try {
    url = new URL(connectionUrl);
  } catch {
    throw new Error('connection URL is not a valid URL');
  }
  if (url.protocol !== 'postgresql:' && url.protocol !== 'postgres:') {
    throw new Error(`connection URL must start with postgresql:// or postgres://, not ${url.protocol}//`);
  }
  const env = { PGCONNECT_TIMEOUT: '3' };
  if (url.hostname) env.PGHOST = decodeURIComponent(url.hostname.replace(/^\[|\]$/g, ''));
  if (url.port) env.PGPORT = url.port;
  if (url.username) env.PGUSER = decodeURIComponent(url.username);
  if (url.password) env.PGPASSWORD = decodeURIComponent(url.password);
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (database) env.PGDATABASE = database;
  for (const [parameter, value] of url.searchParams) {
    const name = QUERY_PARAMETERS_TO_ENV[parameter];
    if (name) env[name] = value;
  }
  return env;
}

/**
 * Runs `sql` (one or more statements, one implicit transaction) and resolves with the
 * unaligned, tuples-only output of the last statement. Rejects with an Error whose
 * `connectionFailed` is true when the server could not be reached or refused the login.
 */
function runSql(libpqEnv, sql) {
  return new Promise((resolve, reject) => {
    execFile(
      'psql',
      ['--no-psqlrc', '--quiet', '--tuples-only', '--no-align', '--set', 'ON_ERROR_STOP=1', '--command', sql],
      { env: { PATH: process.env.PATH, LANG: 'C.UTF-8', ...libpqEnv }, timeout: 8000 },
      (error, stdout, stderr) => {
        if (!error) return resolve(stdout.trim());
        const firstLine = String(stderr).trim().split('\n')[0] || error.message;
        const failure = new Error(firstLine);
        // psql exits 2 when the connection is bad, 3 for an error in the SQL.
        failure.connectionFailed = error.code !== 3;
        reject(failure);
      },
    );
  });
}

module.exports = { libpqEnvironment, runSql };
