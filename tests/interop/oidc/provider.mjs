// A real, maintained OpenID Connect provider (panva/node-oidc-provider) for the interop tests
// (tests/interop/test_oidc_provider.py): one confidential client with a secret (HTTP Basic),
// PKCE required, the refresh_token grant with rotation, RS256 JWT access tokens that carry
// the claims a ScaiKey token carries (`tenant_id`, `scope`, `aud` = the client id).
//
// The provider is mounted under /oidc, so its issuer has a path and its discovery document
// lives under it (SPEC §18.2), not at the root.
//
// Sign-in is the provider's own authorization endpoint; only the login and consent pages are
// replaced by /interaction/{uid}, which signs the configured user in and grants what was asked
// (a test has no person to type a password). Everything else (codes, PKCE checks, client
// authentication, token issuance, refresh rotation) is oidc-provider's.
//
// Usage: node provider.mjs CONFIG_JSON
//   {"client_id", "client_secret", "redirect_uri", "sub", "tenant_id", "email", "name"}
// Prints one JSON line {"issuer": ...} on stdout once it listens (on a free loopback port).

import { generateKeyPairSync, randomUUID } from 'node:crypto';
import http from 'node:http';

import Provider from 'oidc-provider';

const config = JSON.parse(process.argv[2]);
const MOUNT = '/oidc';
const SCOPES = 'scaicore:view scaicore:manage';

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'interop-1', alg: 'RS256', use: 'sig' };

const server = http.createServer();
await new Promise((resolve) => { server.listen(0, '127.0.0.1', resolve); });
const issuer = `http://127.0.0.1:${server.address().port}${MOUNT}`;

const account = {
  accountId: config.sub,
  async claims() {
    return { sub: config.sub, email: config.email, name: config.name };
  },
};

const provider = new Provider(issuer, {
  clients: [{
    client_id: config.client_id,
    client_secret: config.client_secret,
    redirect_uris: [config.redirect_uri],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomUUID()] },
  pkce: { required: () => true },
  scopes: ['openid', 'email', 'profile', 'offline_access'],
  claims: { openid: ['sub'], email: ['email'], profile: ['name'] },
  findAccount: async (_ctx, id) => (id === config.sub ? account : undefined),
  features: {
    devInteractions: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'urn:scaiflow',
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: SCOPES,
        audience: config.client_id,
        accessTokenFormat: 'jwt',
        accessTokenTTL: 300,
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
  extraTokenClaims: (_ctx, token) => (token.kind === 'AccessToken'
    ? { tenant_id: config.tenant_id, email: config.email, name: config.name }
    : undefined),
  issueRefreshToken: (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: () => true,
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  ttl: { AuthorizationCode: 60, AccessToken: 300, IdToken: 300, RefreshToken: 3600, Grant: 3600, Interaction: 600, Session: 3600 },
});
// Requests to the issuer arrive without the mount path; oidc-provider learns it from
// originalUrl (as under Express's app.use(MOUNT, ...)).
const oidc = provider.callback();

// The login and consent "pages": sign the configured user in, grant what was asked.
async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  let result;
  if (details.prompt.name === 'login') {
    result = { login: { accountId: config.sub } };
  } else {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
    const missing = details.prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes || {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    result = { consent: { grantId: await grant.save() } };
  }
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
}

server.on('request', (req, res) => {
  if (req.url.startsWith(`${MOUNT}/`)) {
    req.originalUrl = req.url;
    req.url = req.url.slice(MOUNT.length);
    oidc(req, res);
  } else if (req.url.startsWith('/interaction/')) {
    interaction(req, res).catch((err) => {
      res.statusCode = 500;
      res.end(String(err));
    });
  } else {
    res.statusCode = 404;
    res.end();
  }
});

process.on('SIGTERM', () => server.close(() => process.exit(0)));
process.stdout.write(`${JSON.stringify({ issuer })}\n`);
