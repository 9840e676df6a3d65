// The notes demo's only process: serves the static app, postgrest-js (from node_modules, no CDN),
// a dev-only identity provider, and proxies /api/* to the Data API (same origin: no CORS needed).
//
// The identity provider signs ES256 tokens and publishes its key at /.well-known/jwks.json,
// the way SerenDB Auth does: point serendb_data_api.jwks_url at it. NOTES_JWT_SECRET switches
// it to HS256 tokens signed with the API's serendb_data_api.jwt_secret instead (for servers
// without jwks_url). Dev only: two demo users, passwords in the clear.
//
// Environment: NOTES_PORT (8080), API_URL (http://127.0.0.1:3000), NOTES_HOME (where the
// signing key is kept, default ./.state), NOTES_JWT_SECRET (HS256 mode).
import crypto from 'node:crypto'
import fs from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const PORT = Number(process.env.NOTES_PORT || 8080)
const API_URL = (process.env.API_URL || 'http://127.0.0.1:3000').replace(/\/$/, '')
const HOME = process.env.NOTES_HOME || path.join(HERE, '.state')
const HS256_SECRET = process.env.NOTES_JWT_SECRET || ''
const ISSUER = `http://127.0.0.1:${PORT}`
const TOKEN_TTL = 3600

export const USERS = {
  alice: { password: 'alice-demo', name: 'Alice', email: 'alice@example.com' },
  bob: { password: 'bob-demo', name: 'Bob', email: 'bob@example.com' },
}

// ---- keys ---------------------------------------------------------------------------------

/** The ES256 key, kept across restarts so tokens and the API's cached JWKS stay valid. */
function signingKey() {
  const file = path.join(HOME, 'idp-es256.pem')
  fs.mkdirSync(HOME, { recursive: true })
  if (!fs.existsSync(file)) {
    const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })
    fs.writeFileSync(file, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 })
  }
  const privateKey = crypto.createPrivateKey(fs.readFileSync(file))
  const jwk = crypto.createPublicKey(privateKey).export({ format: 'jwk' })
  // RFC 7638 thumbprint as the key id.
  const kid = crypto.createHash('sha256')
    .update(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y })).digest('base64url')
  return { privateKey, publicJwk: { ...jwk, kid, alg: 'ES256', use: 'sig' } }
}

const KEY = HS256_SECRET ? null : signingKey()
const b64url = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url')

export function issueToken(userId) {
  const now = Math.floor(Date.now() / 1000)
  const user = USERS[userId]
  const claims = {
    iss: ISSUER, sub: userId, aud: 'authenticated', role: 'authenticated',
    name: user.name, email: user.email, iat: now, exp: now + TOKEN_TTL,
  }
  const header = KEY ? { alg: 'ES256', typ: 'JWT', kid: KEY.publicJwk.kid } : { alg: 'HS256', typ: 'JWT' }
  const input = `${b64url(header)}.${b64url(claims)}`
  const sig = KEY
    ? crypto.sign('sha256', Buffer.from(input), { key: KEY.privateKey, dsaEncoding: 'ieee-p1363' })
    : crypto.createHmac('sha256', HS256_SECRET).update(input).digest()
  return `${input}.${sig.toString('base64url')}`
}

// ---- http ---------------------------------------------------------------------------------

const STATIC = {
  '/': ['public/index.html', 'text/html; charset=utf-8'],
  '/app.js': ['public/app.js', 'text/javascript; charset=utf-8'],
  '/style.css': ['public/style.css', 'text/css; charset=utf-8'],
  '/vendor/postgrest-js.mjs': ['node_modules/@supabase/postgrest-js/dist/index.mjs', 'text/javascript; charset=utf-8'],
}

function send(res, status, type, body, extra = {}) {
  res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store', ...extra })
  res.end(body)
}

const json = (res, status, value) => send(res, status, 'application/json', JSON.stringify(value))

async function readBody(req) {
  const chunks = []
  for await (const c of req) chunks.push(c)
  return Buffer.concat(chunks)
}

async function signIn(req, res) {
  let body
  try {
    body = JSON.parse((await readBody(req)).toString() || '{}')
  } catch {
    return json(res, 400, { error: 'invalid_request' })
  }
  const user = USERS[body.username]
  if (!user || user.password !== body.password) return json(res, 401, { error: 'invalid_grant' })
  json(res, 200, {
    access_token: issueToken(body.username),
    token_type: 'bearer',
    expires_in: TOKEN_TTL,
    user: { id: body.username, name: user.name, email: user.email },
  })
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'host', 'content-length'])

/** /api/<path> -> API_URL/<path>, method, headers and body as they came. */
async function proxy(req, res) {
  const target = API_URL + req.url.slice('/api'.length)
  const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => !HOP_BY_HOP.has(k)))
  const body = ['GET', 'HEAD'].includes(req.method) ? undefined : await readBody(req)
  let upstream
  try {
    upstream = await fetch(target, { method: req.method, headers, body })
  } catch (e) {
    return json(res, 502, { message: `the Data API at ${API_URL} is not reachable: ${e.message}` })
  }
  const out = {}
  upstream.headers.forEach((v, k) => { if (!HOP_BY_HOP.has(k) && k !== 'content-encoding') out[k] = v })
  res.writeHead(upstream.status, upstream.statusText, out)
  res.end(Buffer.from(await upstream.arrayBuffer()))
}

const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, 'http://x')
    if (url.pathname === '/api' || url.pathname.startsWith('/api/')) return await proxy(req, res)
    if (url.pathname === '/.well-known/jwks.json' && req.method === 'GET') {
      return json(res, 200, { keys: KEY ? [KEY.publicJwk] : [] })
    }
    if (url.pathname === '/auth/sign-in' && req.method === 'POST') return await signIn(req, res)
    const file = STATIC[url.pathname]
    if (file && req.method === 'GET') return send(res, 200, file[1], fs.readFileSync(path.join(HERE, file[0])))
    send(res, 404, 'text/plain', 'not found')
  } catch (e) {
    send(res, 500, 'text/plain', String(e.stack || e))
  }
})

server.listen(PORT, '127.0.0.1', () => {
  console.log(`notes demo: http://127.0.0.1:${PORT}/ (API ${API_URL}, ` +
    `${KEY ? `ES256 tokens, JWKS ${ISSUER}/.well-known/jwks.json` : 'HS256 tokens'})`)
})
