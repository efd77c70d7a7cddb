// A real OpenID provider (the certified npm `oidc-provider`) on loopback, for the console's single sign-on tests.
// Usage: node provider.mjs PORT CONFIG_JSON, CONFIG_JSON = {"clients": [...], "accounts": {"id": {claims}}}.
// The login page is a one-field form (the account id): the tests play the user.
import http from 'node:http';
import Provider from 'oidc-provider';

const port = Number(process.argv[2]);
const setup = JSON.parse(process.argv[3]);
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: setup.clients,
  claims: { openid: ['sub'], profile: ['preferred_username'], esat: ['esat_role', 'esat_perimetre'] },
  scopes: ['openid', 'profile', 'esat'],
  conformIdTokenClaims: false, // the requested claims go into the ID token
  pkce: { required: () => true },
  cookies: { keys: ['cle-de-test-du-fournisseur'] },
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: { enabled: true },
  },
  async findAccount(ctx, id) {
    const claims = setup.accounts[id];
    if (!claims) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...claims }; } };
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async loadExistingGrant(ctx) { // first-party console: no consent page
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid profile esat');
    grant.addOIDCClaims(['preferred_username', 'esat_role', 'esat_perimetre']);
    await grant.save();
    return grant;
  },
});

function body(req) {
  return new Promise((resolve) => {
    let data = '';
    req.on('data', (chunk) => { data += chunk; });
    req.on('end', () => resolve(new URLSearchParams(data)));
  });
}

const callback = provider.callback();
const server = http.createServer(async (req, res) => {
  const match = req.url.match(/^\/interaction\/([^/?]+)(\/login)?/);
  try {
    if (match && !match[2] && req.method === 'GET') {
      await provider.interactionDetails(req, res);
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(`<form method="post" action="/interaction/${match[1]}/login"><input name="login"><button>OK</button></form>`);
      return;
    }
    if (match && match[2] && req.method === 'POST') {
      const login = (await body(req)).get('login');
      if (!setup.accounts[login]) {
        res.writeHead(400, { 'content-type': 'text/plain' });
        res.end('unknown account');
        return;
      }
      await provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
      return;
    }
  } catch (err) {
    res.writeHead(400, { 'content-type': 'text/plain' });
    res.end(String(err));
    return;
  }
  callback(req, res);
});
server.listen(port, '127.0.0.1', () => { console.log(`ready ${issuer}`); });
