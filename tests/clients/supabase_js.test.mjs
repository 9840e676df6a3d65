// supabase-js (npm @supabase/supabase-js, pinned in package.json): createClient() pointed at the
// server's URL, as an app does; .from() and .rpc() go to <url>/rest/v1/.
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { createClient } from '@supabase/supabase-js'

import { API_URL, TOKENS } from './harness.mjs'
import { scenarios } from './scenarios.mjs'

const options = { auth: { persistSession: false, autoRefreshToken: false } }
// A signed-in user: the app hands the user's JWT to the client (third-party auth).
const connect = (token) => createClient(API_URL, TOKENS.anonKey, { accessToken: async () => token })

scenarios('supabase-js', {
  connect,
  // Before sign-in supabase-js sends the anon key (a JWT for the anonymous role).
  anon: createClient(API_URL, TOKENS.anonKey, options),
  own: { id: 200, iso: ['YA', 'YB', 'YC', 'YD'] },
})

test('supabase-js: schema() picks the schema (Accept-Profile), sent with the apikey header', async () => {
  const db = connect(TOKENS.alice)
  const res = await db.schema('public').from('countries').select('name').eq('id', 2)
  assert.equal(res.error, null)
  assert.deepEqual(res.data, [{ name: 'France' }])
  const other = await db.schema('nope').from('countries').select('name')
  assert.equal(other.status, 406)
  assert.equal(other.error.code, 'PGRST106')
})
