'use strict';
// Stand-in for the frontend: serves public/index.html on 0.0.0.0:3000.
const fs = require('node:fs');
const path = require('node:path');
const { reply, serve } = require('./serve');

const NAME = 'frontend stand-in';
const PORT = Number(process.env.PORT || 3000);
const INDEX_HTML = fs.readFileSync(path.join(__dirname, 'public', 'index.html'));

serve(NAME, PORT, (request, response) => {
  const urlPath = new URL(request.url, 'http://localhost').pathname;
  if ((request.method === 'GET' || request.method === 'HEAD') && (urlPath === '/' || urlPath === '/index.html')) {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': INDEX_HTML.length });
    return response.end(request.method === 'HEAD' ? undefined : INDEX_HTML);
  }
  return reply(response, 404, 'Not found', 'text/plain');
});
