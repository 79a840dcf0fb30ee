// Self-test for server.mjs: `node smoke.mjs` (exit 0 = every check passed).
// Spawns the server, drives the full authorization-code + PKCE flow with
// fetch (manual redirects, a small cookie jar) and checks the token endpoint's
// behaviour that Switchyard's end-to-end tests rely on.

import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';

const SERVER = fileURLToPath(new URL('./server.mjs', import.meta.url));
const CLIENT_ID = 'smoke-client';
const CLIENT_SECRET = 'smoke-secret with spaces & symbols';
const REDIRECT_URI = 'http://127.0.0.1:38211/oauth/generic-oauth2/callback';
const ACCESS_TOKEN_TTL = 45;

let failures = 0;
let passes = 0;
const secrets = new Set(); // every token/code seen, to scan the server's logs

function check(ok, what, detail) {
  if (ok) {
    passes += 1;
    console.log(`ok   ${what}`);
  } else {
    failures += 1;
    console.log(`FAIL ${what}${detail === undefined ? '' : `: ${typeof detail === 'string' ? detail : JSON.stringify(detail)}`}`);
  }
  return ok;
}

// ---------------------------------------------------------------- server ----

function startServer() {
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, [SERVER], {
    env: {
      ...process.env,
      PORT: '0',
      CLIENT_ID,
      CLIENT_SECRET,
      REDIRECT_URIS: `http://127.0.0.1:1/unused,${REDIRECT_URI}`,
      ACCESS_TOKEN_TTL: String(ACCESS_TOKEN_TTL),
      DEBUG_SERVER: '1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no READY line within 10s; stderr:\n${stderr}`)), 10_000);
    child.stdout.setEncoding('utf8').on('data', (d) => {
      stdout += d;
      const m = /^READY (http:\/\/127\.0\.0\.1:\d+)\n/.exec(stdout);
      if (m) {
        clearTimeout(timer);
        resolve({ issuer: m[1], ms: Number(process.hrtime.bigint() - started) / 1e6 });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code}) before READY; stderr:\n${stderr}`));
    });
  });
  return {
    child,
    ready,
    stdout: () => stdout,
    stderr: () => stderr,
  };
}

// ------------------------------------------------------------ cookie jar ----

class CookieJar {
  #cookies = new Map(); // `${name}\0${path}` -> { name, value, path }

  store(res, url) {
    for (const raw of res.headers.getSetCookie()) {
      const [pair, ...attrs] = raw.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let path = '/';
      let expired = value === '';
      for (const attr of attrs) {
        const [k, v = ''] = attr.split('=');
        const key = k.trim().toLowerCase();
        if (key === 'path') path = v.trim() || '/';
        if (key === 'max-age' && Number(v) <= 0) expired = true;
        if (key === 'expires' && Date.parse(v) <= Date.now()) expired = true;
      }
      if (!attrs.some((a) => a.trim().toLowerCase().startsWith('path='))) {
        const dir = new URL(url).pathname.replace(/\/[^/]*$/, '');
        path = dir || '/';
      }
      const id = `${name}\0${path}`;
      if (expired) this.#cookies.delete(id);
      else this.#cookies.set(id, { name, value, path });
    }
  }

  header(url) {
    const { pathname } = new URL(url);
    const matching = [...this.#cookies.values()].filter(({ path }) => pathname === path
      || pathname.startsWith(path.endsWith('/') ? path : `${path}/`));
    matching.sort((a, b) => b.path.length - a.path.length);
    return matching.map(({ name, value }) => `${name}=${value}`).join('; ');
  }
}

// --------------------------------------------------------------- helpers ----

const b64url = (buf) => Buffer.from(buf).toString('base64url');

function pkce() {
  const verifier = b64url(crypto.randomBytes(32));
  const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}

// Follow the authorization redirects until the browser would land on the
// client's redirect_uri (which is not fetched); returns that URL.
async function authorize(issuer, jar, { state, challenge, scope = 'openid email profile read write', loginHint, method = 'S256' }) {
  const url = new URL('/auth', issuer);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('client_id', CLIENT_ID);
  url.searchParams.set('redirect_uri', REDIRECT_URI);
  url.searchParams.set('scope', scope);
  url.searchParams.set('state', state);
  if (challenge !== undefined) {
    url.searchParams.set('code_challenge', challenge);
    url.searchParams.set('code_challenge_method', method);
  }
  if (loginHint !== undefined) url.searchParams.set('login_hint', loginHint);

  let next = url.toString();
  const hops = [];
  for (let i = 0; i < 10; i += 1) {
    if (next.startsWith(REDIRECT_URI)) return { landed: new URL(next), hops };
    const cookie = jar.header(next);
    const res = await fetch(next, {
      redirect: 'manual',
      headers: cookie ? { cookie } : {},
    });
    jar.store(res, next);
    hops.push(`${res.status} ${new URL(next).pathname}`);
    const location = res.headers.get('location');
    if (res.status < 300 || res.status >= 400 || !location) {
      const body = await res.text();
      throw new Error(`authorization stopped at ${new URL(next).pathname} with ${res.status}: ${body.slice(0, 300)}`);
    }
    next = new URL(location, next).toString();
  }
  throw new Error(`too many redirects: ${hops.join(' -> ')}`);
}

async function post(issuer, path, form, { basic = false } = {}) {
  const headers = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  const body = new URLSearchParams(form);
  if (basic) {
    const enc = (s) => encodeURIComponent(s).replace(/%20/g, '+');
    headers.authorization = `Basic ${Buffer.from(`${enc(CLIENT_ID)}:${enc(CLIENT_SECRET)}`).toString('base64')}`;
  } else {
    if (!body.has('client_id')) body.set('client_id', CLIENT_ID);
    if (!body.has('client_secret')) body.set('client_secret', CLIENT_SECRET);
  }
  const res = await fetch(new URL(path, issuer), { method: 'POST', headers, body });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = { _raw: text };
  }
  for (const k of ['access_token', 'refresh_token', 'id_token']) if (json[k]) secrets.add(json[k]);
  return { status: res.status, json, headers: res.headers };
}

const token = (issuer, form, opts) => post(issuer, '/token', form, opts);
const exchange = (issuer, code, verifier, opts) => token(issuer, {
  grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier,
}, opts);
const refresh = (issuer, rt, opts) => token(issuer, { grant_type: 'refresh_token', refresh_token: rt }, opts);

const isInvalidGrant = (r) => r.status === 400 && r.json.error === 'invalid_grant';

function jwtPayload(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));
}

// One full authorization; returns the code and verifier.
async function codeFor(issuer, jar, label) {
  const state = b64url(crypto.randomBytes(12));
  const { verifier, challenge } = pkce();
  const { landed, hops } = await authorize(issuer, jar, { state, challenge });
  const code = landed.searchParams.get('code');
  if (code) secrets.add(code);
  check(Boolean(code) && landed.searchParams.get('state') === state,
    `${label}: /auth redirects to the redirect_uri with code and the same state (${hops.join(' -> ')})`,
    landed.search);
  return { code, verifier, landed };
}

// ------------------------------------------------------------------ main ----

async function main() {
  const server = startServer();
  let issuer;
  try {
    const ready = await server.ready;
    issuer = ready.issuer;
    console.log(`server READY at ${issuer} after ${ready.ms.toFixed(0)} ms`);
  } catch (err) {
    check(false, 'server starts and prints READY', err.message);
    server.child.kill('SIGKILL');
    return;
  }

  try {
    await run(issuer);
  } catch (err) {
    check(false, 'smoke run finished without an exception', err.stack);
  }

  check(server.stdout() === `READY ${issuer}\n`, 'stdout holds exactly the READY line', server.stdout());

  const exited = new Promise((resolve) => server.child.on('exit', (code, signal) => resolve({ code, signal })));
  server.child.kill('SIGTERM');
  const { code, signal } = await exited;
  check(code === 0, 'SIGTERM -> exit 0', { code, signal });

  const log = server.stderr();
  const leaked = [...secrets].filter((s) => log.includes(s));
  check(leaked.length === 0 && secrets.size > 0, `server log (DEBUG_SERVER=1, ${log.split('\n').length - 1} lines) contains none of the ${secrets.size} tokens/codes issued`);
  check(!log.includes(CLIENT_SECRET), 'server log does not contain the client secret');
  if (process.env.SMOKE_SHOW_LOG === '1') process.stdout.write(`--- server stderr ---\n${log}`);
}

async function run(issuer) {
  const disco = await (await fetch(new URL('/.well-known/openid-configuration', issuer))).json();
  check(disco.issuer === issuer, 'discovery issuer equals the READY URL', disco.issuer);
  check(
    disco.authorization_endpoint === `${issuer}/auth`
      && disco.token_endpoint === `${issuer}/token`
      && disco.revocation_endpoint === `${issuer}/token/revocation`
      && disco.introspection_endpoint === `${issuer}/token/introspection`
      && disco.userinfo_endpoint === `${issuer}/me`
      && disco.jwks_uri === `${issuer}/jwks`,
    'discovery lists /auth, /token, /token/revocation, /token/introspection, /me, /jwks',
    disco,
  );
  check(JSON.stringify(disco.code_challenge_methods_supported) === '["S256"]', 'only S256 PKCE advertised');

  let r = await fetch(new URL('/__reset_stats', issuer), { method: 'POST' });
  check(r.status === 200, 'POST /__reset_stats -> 200');

  // --- PKCE is mandatory, S256 only -------------------------------------
  {
    const jar = new CookieJar();
    const state = 'no-pkce-state';
    const { landed } = await authorize(issuer, jar, { state });
    check(landed.searchParams.get('error') === 'invalid_request' && landed.searchParams.get('state') === state,
      'authorization without code_challenge -> redirect_uri?error=invalid_request', landed.search);
    const { landed: plain } = await authorize(issuer, jar, { state, challenge: 'x'.repeat(43), method: 'plain' });
    check(plain.searchParams.get('error') === 'invalid_request',
      'code_challenge_method=plain -> redirect_uri?error=invalid_request', plain.search);
  }

  const jar = new CookieJar();

  // --- Flow A: exchange, PKCE mismatch, refresh rotation, reuse ---------
  const a = await codeFor(issuer, jar, 'flow A');
  check(a.landed.searchParams.get('iss') === issuer, 'flow A: authorization response carries iss (RFC 9207)', a.landed.search);

  r = await exchange(issuer, a.code, pkce().verifier);
  check(isInvalidGrant(r), 'PKCE mismatch at exchange -> 400 invalid_grant', r);

  r = await exchange(issuer, a.code, a.verifier);
  const t = r.json;
  check(r.status === 200, 'code exchange (client_secret_post + code_verifier) -> 200', r);
  check(typeof t.access_token === 'string' && t.token_type === 'Bearer' && t.expires_in === ACCESS_TOKEN_TTL,
    `token response has access_token, token_type Bearer, expires_in ${ACCESS_TOKEN_TTL}`, { token_type: t.token_type, expires_in: t.expires_in });
  check(typeof t.refresh_token === 'string' && t.refresh_token.length > 0, 'token response has refresh_token (no offline_access requested)');
  check(typeof t.id_token === 'string', 'token response has id_token');
  check(typeof t.scope === 'string' && ['openid', 'email', 'profile', 'read', 'write'].every((s) => t.scope.split(' ').includes(s)),
    'token response scope covers the requested scopes', t.scope);
  check(r.headers.get('cache-control') === 'no-store', 'token response is Cache-Control: no-store', r.headers.get('cache-control'));
  if (t.id_token) {
    const idt = jwtPayload(t.id_token);
    check(idt.iss === issuer && idt.aud === CLIENT_ID && idt.sub === 'alice'
      && idt.email === 'alice@example.com' && idt.email_verified === true,
    'id_token: iss, aud, sub=alice, email, email_verified', idt);
  }

  r = await fetch(new URL('/me', issuer), { headers: { authorization: `Bearer ${t.access_token}` } });
  const me = await r.json();
  check(r.status === 200 && me.sub === 'alice' && me.email === 'alice@example.com', 'userinfo with the access token', me);

  r = await post(issuer, '/token/introspection', { token: t.access_token });
  check(r.status === 200 && r.json.active === true && r.json.sub === 'alice' && r.json.client_id === CLIENT_ID,
    'introspection: access token active', r.json);

  const rt1 = t.refresh_token;
  r = await refresh(issuer, rt1);
  const rt2 = r.json.refresh_token;
  check(r.status === 200 && typeof r.json.access_token === 'string' && r.json.access_token !== t.access_token,
    'refresh -> 200 with a new access token', r);
  check(typeof rt2 === 'string' && rt2 !== rt1, 'refresh rotates the refresh token');
  check(typeof r.json.scope === 'string' && r.json.scope.includes('read'), 'refresh response keeps the scope', r.json.scope);

  r = await refresh(issuer, rt1);
  check(isInvalidGrant(r), 'reuse of the rotated refresh token -> 400 invalid_grant', r);
  r = await refresh(issuer, rt2);
  check(isInvalidGrant(r), 'after reuse, the whole family is revoked: the newest refresh token -> invalid_grant', r);

  // --- Flow B: a code can be exchanged once ------------------------------
  const b = await codeFor(issuer, jar, 'flow B (same cookie jar, existing session)');
  r = await exchange(issuer, b.code, b.verifier);
  check(r.status === 200 && r.json.refresh_token, 'flow B: code exchange -> 200', r.status);
  const rtB = r.json.refresh_token;
  r = await exchange(issuer, b.code, b.verifier);
  check(isInvalidGrant(r), 'second exchange of the same code -> 400 invalid_grant', r);
  r = await refresh(issuer, rtB);
  check(isInvalidGrant(r), 'code replay revokes the tokens issued for that code (refresh -> invalid_grant)', r);

  // --- Flow C: client_secret_basic, revocation ---------------------------
  const c = await codeFor(issuer, jar, 'flow C');
  r = await exchange(issuer, c.code, c.verifier, { basic: true });
  check(r.status === 200 && r.json.refresh_token, 'code exchange with client_secret_basic -> 200', r);
  r = await refresh(issuer, r.json.refresh_token, { basic: true });
  check(r.status === 200 && r.json.refresh_token, 'refresh with client_secret_basic -> 200', r);
  const rtC = r.json.refresh_token;

  r = await post(issuer, '/token', {
    grant_type: 'refresh_token', refresh_token: rtC, client_secret: 'wrong',
  });
  check(r.status === 401 && r.json.error === 'invalid_client', 'wrong client secret -> 401 invalid_client', r);

  r = await post(issuer, '/token/revocation', { token: rtC, token_type_hint: 'refresh_token' });
  check(r.status === 200, 'revoke the current refresh token -> 200', r);
  r = await post(issuer, '/token/revocation', { token: rtC });
  check(r.status === 200, 'revoking it again (unknown token) -> 200 (RFC 7009)', r);
  r = await refresh(issuer, rtC);
  check(isInvalidGrant(r), 'refresh with the revoked refresh token -> 400 invalid_grant', r);

  // --- Flow D: the user says no -------------------------------------------
  for (const [label, j] of [['existing session', jar], ['fresh cookie jar', new CookieJar()]]) {
    const state = b64url(crypto.randomBytes(12));
    const { landed } = await authorize(issuer, j, { state, challenge: pkce().challenge, loginHint: 'deny' });
    check(landed.searchParams.get('error') === 'access_denied' && landed.searchParams.get('state') === state
      && landed.searchParams.get('error_description') === 'The user denied access'
      && !landed.searchParams.has('code'),
    `login_hint=deny (${label}) -> redirect_uri?error=access_denied&state=...`, landed.search);
  }

  // --- Counters --------------------------------------------------------------
  const stats = await (await fetch(new URL('/__stats', issuer))).json();
  const expected = {
    token_requests: { authorization_code: 5, refresh_token: 7 },
    revocations: 2,
    refresh_failures: 4,
  };
  check(JSON.stringify(stats) === JSON.stringify(expected), 'GET /__stats counts', { got: stats, expected });

  r = await fetch(new URL('/__reset_stats', issuer), { method: 'POST' });
  const zero = await (await fetch(new URL('/__stats', issuer))).json();
  check(r.status === 200 && JSON.stringify(zero) === JSON.stringify({
    token_requests: { authorization_code: 0, refresh_token: 0 }, revocations: 0, refresh_failures: 0,
  }), 'POST /__reset_stats zeroes the counters', zero);
}

await main();
console.log(`${passes} passed, ${failures} failed`);
process.exit(failures === 0 ? 0 : 1);
