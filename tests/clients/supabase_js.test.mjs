// supabase-js (npm @supabase/supabase-js, pinned in package.json): createClient() pointed at the
// server's URL, as an app does; .from() and .rpc() go to <url>/rest/v1/.
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
  anonStatus: 403, // a JWT was sent: PostgREST answers permission errors with 403
  own: { id: 200, iso: ['YA', 'YB', 'YC'] },
})
