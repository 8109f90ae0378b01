'use strict';
// Tiny HTTP server helpers shared by the node stand-ins: JSON/text replies, a listen
// that logs, and a clean exit on SIGTERM/SIGINT (node as PID 1 would ignore them otherwise).
const http = require('node:http');

function reply(response, status, body, contentType = 'application/json') {
  const payload = contentType === 'application/json' ? JSON.stringify(body) : String(body);
  response.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' });
  response.end(payload);
}

function serve(name, port, handler) {
  const server = http.createServer((request, response) => {
    Promise.resolve(handler(request, response)).catch((error) => {
      console.error(`${name}: ${request.method} ${request.url} failed: ${error.message}`);
      if (!response.headersSent) reply(response, 500, { status: 'error' });
    });
  });
  server.listen(port, '0.0.0.0', () => console.log(`${name} listening on 0.0.0.0:${port}`));
  for (const signal of ['SIGTERM', 'SIGINT']) {
    process.on(signal, () => {
      console.log(`${name}: ${signal}, shutting down`);
      server.close(() => process.exit(0));
      setTimeout(() => process.exit(0), 5000).unref();
    });
  }
  return server;
}

module.exports = { reply, serve };
