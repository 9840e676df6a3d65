// Shared by the client suites (run by tests/test_clients.py with `node --test`): the server's URL
// and the users' JWTs come from the environment; `xfail` marks a test whose feature has not
// landed yet, strictly: it fails loudly once the feature works, so the mark gets removed.
import assert from 'node:assert/strict'

export const API_URL = need('API_URL')
export const TOKENS = {
  alice: need('TOKEN_ALICE'),
  bob: need('TOKEN_BOB'),
  // What Supabase calls the anon key: a JWT whose role is the anonymous role.
  anonKey: need('TOKEN_ANON'),
  badSignature: need('TOKEN_BAD_SIGNATURE'),
}

function need(name) {
  const v = process.env[name]
  if (!v) throw new Error(`${name} is not set: run this suite through tests/test_clients.py`)
  return v
}

export function xfail(reason, fn) {
  return async (t) => {
    try {
      await fn(t)
    } catch (e) {
      t.diagnostic(`xfail (${reason}): ${String(e.message).split('\n')[0]}`)
      return
    }
    throw new Error(`XPASS: ${reason} works now: remove the xfail mark`)
  }
}

/** `res` succeeded (no error) with `status`; returns its data. */
export function ok(res, status = 200) {
  assert.equal(res.error, null, JSON.stringify(res.error))
  assert.equal(res.status, status)
  return res.data
}

/** The ids of the rows in `res.data`, in order. */
export function ids(res) {
  return ok(res).map((r) => r.id)
}

/** `res` failed with `status` / `statusText` and exactly this PostgREST error object. */
export function failed(res, status, statusText, error) {
  assert.equal(res.data, null)
  assert.equal(res.status, status)
  assert.equal(res.statusText, statusText)
  assert.deepEqual(res.error, error)
}
