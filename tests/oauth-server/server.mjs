// Real OAuth 2.0 / OpenID Connect authorization server (oidc-provider) for
// Switchyard's end-to-end tests. See README.md next to this file.
//
// stdout carries exactly one line, `READY http://127.0.0.1:<port>`; everything
// else goes to stderr, and nothing that is logged ever contains a token, code or
// secret (the Rust tests scan logs for token values).

import * as crypto from 'node:crypto';
import * as http from 'node:http';

// oidc-provider prints notices with console.info (i.e. on stdout). Keep stdout
// for the READY line only, and drop two start-up warnings that are expected
// here (in-memory storage is the point of a test server; Node 20 is what the
// project's machines have).
const QUIET = [
  'Unsupported runtime',
  'quick start development-only in-memory adapter',
];
const toStderr = (...args) => {
  const line = args.map(String).join(' ');
  if (!QUIET.some((q) => line.includes(q))) process.stderr.write(`${line}\n`);
};
console.log = toStderr;
console.info = toStderr;
console.warn = toStderr;

// RSA key generation runs on the libuv thread pool while oidc-provider loads
// (each takes a few hundred ms; together they are most of the start-up time).
const rsaKey = new Promise((resolve, reject) => {
  crypto.generateKeyPair('rsa', { modulusLength: 2048 }, (err, _pub, privateKey) => (
    err ? reject(err) : resolve(privateKey)));
});

const { default: Provider, errors, interactionPolicy } = await import('oidc-provider');
const JWKS = {
  keys: [{
    ...(await rsaKey).export({ format: 'jwk' }), kid: 'switchyard-test-rs256', alg: 'RS256', use: 'sig',
  }],
};

// ---------------------------------------------------------------- config ----

function intEnv(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) {
    process.stderr.write(`oauth-server: ${name} must be a non-negative integer, got ${JSON.stringify(raw)}\n`);
    process.exit(2);
  }
  return n;
}

const PORT = intEnv('PORT', 0);
const CLIENT_ID = process.env.CLIENT_ID || 'switchyard-test';
const CLIENT_SECRET = process.env.CLIENT_SECRET || 'switchyard-test-secret';
const REDIRECT_URIS = (process.env.REDIRECT_URIS || '')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
const ACCESS_TOKEN_TTL = intEnv('ACCESS_TOKEN_TTL', 60) || 60;
const REFRESH_TOKEN_TTL = intEnv('REFRESH_TOKEN_TTL', 86400) || 86400;
const DEBUG = process.env.DEBUG_SERVER === '1';
// The MCP endpoint as a resource server (RFC 8707): access tokens requested with
// resource=<MCP_RESOURCE> are JWTs (RFC 9068) whose audience is that URL. A headless
// client_credentials client (MCP_CLIENT_ID / MCP_CLIENT_SECRET) gets them for MCP tests.
const MCP_RESOURCE = process.env.MCP_RESOURCE || '';
const MCP_CLIENT_ID = process.env.MCP_CLIENT_ID || 'switchyard-mcp';
const MCP_CLIENT_SECRET = process.env.MCP_CLIENT_SECRET || 'switchyard-mcp-secret';
const MCP_SCOPE = 'mcp:tools';

if (REDIRECT_URIS.length === 0) {
  process.stderr.write('oauth-server: REDIRECT_URIS is required (comma-separated list)\n');
  process.exit(2);
}

const ACCOUNT = {
  sub: 'alice',
  email: 'alice@example.com',
  email_verified: true,
  name: 'Alice',
  preferred_username: 'alice',
};

// --------------------------------------------------------------- storage ----

// Unbounded in-memory adapter (oidc-provider's bundled one is an LRU capped at
// 1000 entries, which a long test run could overflow and silently evict live
// refresh tokens from).
const store = new Map(); // key -> { payload, exp (ms epoch) | undefined }
const grantIndex = new Map(); // grantId -> Set<key>
const sessionUids = new Map(); // uid -> session id

function live(key) {
  const hit = store.get(key);
  if (!hit) return undefined;
  if (hit.exp !== undefined && hit.exp <= Date.now()) {
    store.delete(key);
    return undefined;
  }
  return hit.payload;
}

class MemoryAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    const exp = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : undefined;
    store.set(key, { payload, exp });
    if (payload.grantId) {
      if (!grantIndex.has(payload.grantId)) grantIndex.set(payload.grantId, new Set());
      grantIndex.get(payload.grantId).add(key);
    }
    if (this.model === 'Session' && payload.uid) sessionUids.set(payload.uid, id);
  }

  async find(id) {
    return live(this.key(id));
  }

  async findByUid(uid) {
    const id = sessionUids.get(uid);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode() {
    return undefined; // device flow is not enabled
  }

  async consume(id) {
    const payload = live(this.key(id));
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    const key = this.key(id);
    const payload = live(key);
    store.delete(key);
    if (payload?.grantId) grantIndex.get(payload.grantId)?.delete(key);
    if (this.model === 'Session' && payload?.uid) sessionUids.delete(payload.uid);
  }

  async revokeByGrantId(grantId) {
    const keys = grantIndex.get(grantId);
    if (!keys) return;
    const prefix = `${this.model}:`;
    for (const key of [...keys]) {
      if (key.startsWith(prefix)) {
        store.delete(key);
        keys.delete(key);
      }
    }
    if (keys.size === 0) grantIndex.delete(grantId);
  }
}

// Drop expired entries now and then so a long run does not grow without bound.
setInterval(() => {
  const now = Date.now();
  for (const [key, { exp }] of store) if (exp !== undefined && exp <= now) store.delete(key);
}, 60_000).unref();

// ----------------------------------------------------------------- stats ----

const stats = {
  token_requests: { authorization_code: 0, refresh_token: 0 },
  revocations: 0,
  refresh_failures: 0,
};

function resetStats() {
  stats.token_requests = {};
  stats.token_requests.authorization_code = 0;
  stats.token_requests.refresh_token = 0;
  stats.revocations = 0;
  stats.refresh_failures = 0;
}

// -------------------------------------------------------------- provider ----

function buildProvider(issuer) {
  // Every authorization request goes through /interaction/<uid> (so that
  // login_hint=deny is honoured even when the client's cookie jar already holds
  // a session), and every one gets a grant of its own (so that revoking one
  // token family never touches another flow's tokens).
  const policy = interactionPolicy.base();
  policy.get('consent').checks.add(new interactionPolicy.Check(
    'switchyard_test_always_interact',
    'the test server resolves every authorization request through its interaction endpoint',
    'consent_required',
    (ctx) => !ctx.oidc.result?.consent,
  ));

  const provider = new Provider(issuer, {
    adapter: MemoryAdapter,
    jwks: JWKS,
    cookies: {
      keys: [crypto.randomBytes(32).toString('base64url')],
    },
    clients: [{
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      redirect_uris: REDIRECT_URIS,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      // oidc-provider registers one method per client, but a client registered
      // with client_secret_post is also accepted with client_secret_basic (and
      // vice versa): both are "secret" methods. Sending both at once is
      // rejected with invalid_request.
      token_endpoint_auth_method: 'client_secret_post',
    }, ...(MCP_RESOURCE ? [{
      client_id: MCP_CLIENT_ID,
      client_secret: MCP_CLIENT_SECRET,
      redirect_uris: [],
      grant_types: ['client_credentials'],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
    }] : [])],
    clientAuthMethods: ['client_secret_post', 'client_secret_basic'],
    responseTypes: ['code'],
    scopes: ['openid', 'offline_access', 'email', 'profile', 'read', 'write'],
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
    },
    // Put scope claims (email, ...) in the ID token too: Switchyard's
    // generic-oauth2 provider reads the account e-mail from id_token#email.
    conformIdTokenClaims: false,
    async findAccount(_ctx, sub) {
      if (sub !== ACCOUNT.sub) return undefined;
      return {
        accountId: ACCOUNT.sub,
        async claims() {
          return { ...ACCOUNT };
        },
      };
    },
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: false },
      // Explicit policies (same outcome as the defaults for a confidential
      // client, without their start-of-use notices).
      revocation: {
        enabled: true,
        async allowedPolicy(_ctx, client, token) {
          if (token.clientId !== client.clientId) {
            throw new errors.InvalidRequest('client is not authorized to revoke the presented token');
          }
          return true;
        },
      },
      introspection: {
        enabled: true,
        allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId,
      },
      userinfo: { enabled: true },
      clientCredentials: { enabled: Boolean(MCP_RESOURCE) },
      resourceIndicators: {
        enabled: Boolean(MCP_RESOURCE),
        // No resource asked for: opaque tokens, as before this feature was on.
        defaultResource: async () => undefined,
        useGrantedResource: async () => true,
        async getResourceServerInfo(_ctx, resourceIndicator) {
          if (resourceIndicator !== MCP_RESOURCE) throw new errors.InvalidTarget();
          return {
            scope: MCP_SCOPE,
            audience: MCP_RESOURCE,
            accessTokenTTL: ACCESS_TOKEN_TTL,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    interactions: {
      policy,
      url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    // Only the grant made by the current interaction counts, never one
    // remembered in the browser session (see the policy comment above).
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId;
      return grantId ? ctx.oidc.provider.Grant.find(grantId) : undefined;
    },
    // A refresh token with every code exchange (no offline_access scope or
    // prompt=consent needed), rotated on every use, independent of the
    // browser session.
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: () => true,
    expiresWithSession: async () => false,
    ttl: {
      AccessToken: ACCESS_TOKEN_TTL,
      AuthorizationCode: 60,
      IdToken: 3600,
      Interaction: 600,
      RefreshToken: REFRESH_TOKEN_TTL,
      ClientCredentials: ACCESS_TOKEN_TTL,
      Grant: Math.max(REFRESH_TOKEN_TTL, 3600),
      Session: Math.max(REFRESH_TOKEN_TTL, 3600),
    },
    async renderError(ctx, out) {
      ctx.type = 'json';
      ctx.body = out;
    },
  });

  provider.on('server_error', (_ctx, err) => {
    process.stderr.write(`oauth-server: server_error: ${err?.message ?? err}\n`);
  });

  provider.use(requestLog);
  provider.use(testHooks);
  provider.use(countTokenEndpoint);
  provider.use(interactionHandler(provider));
  return provider;
}

// ------------------------------------------------------------ middleware ----

async function requestLog(ctx, next) {
  if (!DEBUG) return next();
  const started = Date.now();
  try {
    await next();
  } finally {
    // Path only: query strings carry codes and states.
    process.stderr.write(`${ctx.method} ${ctx.path} ${ctx.status} ${Date.now() - started}ms\n`);
  }
}

async function testHooks(ctx, next) {
  if (ctx.path === '/__stats') {
    if (ctx.method !== 'GET') {
      ctx.status = 405;
      ctx.set('Allow', 'GET');
      ctx.body = { error: 'method_not_allowed' };
      return;
    }
    ctx.set('Cache-Control', 'no-store');
    ctx.body = stats;
    return;
  }
  if (ctx.path === '/__reset_stats') {
    if (ctx.method !== 'POST') {
      ctx.status = 405;
      ctx.set('Allow', 'POST');
      ctx.body = { error: 'method_not_allowed' };
      return;
    }
    resetStats();
    ctx.set('Cache-Control', 'no-store');
    ctx.body = stats;
    return;
  }
  await next();
}

async function countTokenEndpoint(ctx, next) {
  const isToken = ctx.method === 'POST' && ctx.path === '/token';
  const isRevocation = ctx.method === 'POST' && ctx.path === '/token/revocation';
  if (isRevocation) stats.revocations += 1;
  if (!isToken) return next();

  try {
    await next();
  } finally {
    // The body has been parsed by oidc-provider by now (it reads the raw
    // stream itself, so nothing may parse it before it does).
    let grantType;
    try {
      grantType = ctx.oidc?.body?.grant_type;
    } catch {
      grantType = undefined;
    }
    if (typeof grantType !== 'string' || grantType === '') grantType = 'unknown';
    stats.token_requests[grantType] = (stats.token_requests[grantType] ?? 0) + 1;
    if (grantType === 'refresh_token' && ctx.status === 400 && ctx.body?.error === 'invalid_grant') {
      stats.refresh_failures += 1;
    }
  }
}

function interactionHandler(provider) {
  const pattern = /^\/interaction\/([^/]+)\/?$/;

  return async function interaction(ctx, next) {
    const match = pattern.exec(ctx.path);
    if (!match || ctx.method !== 'GET') return next();

    ctx.set('Cache-Control', 'no-store');
    let details;
    try {
      details = await provider.interactionDetails(ctx.req, ctx.res);
    } catch (err) {
      ctx.status = 400;
      ctx.body = {
        error: 'invalid_request',
        error_description: `interaction not found (${err?.error_description ?? err?.message}); the client must keep cookies`,
      };
      return;
    }
    if (details.uid !== match[1]) {
      ctx.status = 400;
      ctx.body = { error: 'invalid_request', error_description: 'interaction cookie does not match the URL' };
      return;
    }

    const { params, prompt } = details;
    let result;
    if (params.login_hint === 'deny') {
      result = { error: 'access_denied', error_description: 'The user denied access' };
    } else {
      let grant;
      if (details.grantId) grant = await provider.Grant.find(details.grantId);
      grant ||= new provider.Grant({ accountId: ACCOUNT.sub, clientId: params.client_id });

      // Consent to everything that was asked for.
      if (typeof params.scope === 'string' && params.scope.trim()) {
        grant.addOIDCScope(params.scope.trim().split(/\s+/).join(' '));
      }
      const claims = new Set(prompt?.details?.missingOIDCClaims ?? []);
      if (typeof params.claims === 'string') {
        try {
          const parsed = JSON.parse(params.claims);
          for (const part of [parsed.id_token, parsed.userinfo]) {
            for (const name of Object.keys(part ?? {})) claims.add(name);
          }
        } catch {
          // oidc-provider has already validated the claims parameter.
        }
      }
      if (claims.size) grant.addOIDCClaims([...claims]);
      for (const [indicator, scopes] of Object.entries(prompt?.details?.missingResourceScopes ?? {})) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
      const grantId = await grant.save();

      result = {
        login: { accountId: ACCOUNT.sub },
        consent: { grantId },
      };
    }

    const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, {
      mergeWithLastSubmission: true,
    });
    ctx.status = 303;
    ctx.set('Location', returnTo);
    ctx.body = '';
  };
}

// ---------------------------------------------------------------- server ----

const server = http.createServer();
server.keepAliveTimeout = 5_000;

server.listen(PORT, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  let provider;
  try {
    provider = buildProvider(issuer);
  } catch (err) {
    process.stderr.write(`oauth-server: failed to configure the provider: ${err?.stack ?? err}\n`);
    process.exit(1);
  }
  server.on('request', provider.callback());
  process.stdout.write(`READY ${issuer}\n`);
});

server.on('error', (err) => {
  process.stderr.write(`oauth-server: ${err?.message ?? err}\n`);
  process.exit(1);
});

function shutdown() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2_000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
