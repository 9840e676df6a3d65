// postgrest-js (npm @supabase/postgrest-js, pinned in package.json) against the server.
import { PostgrestClient } from '@supabase/postgrest-js'

import { API_URL } from './harness.mjs'
import { scenarios } from './scenarios.mjs'

const connect = (token) => new PostgrestClient(API_URL, {
  headers: token ? { Authorization: `Bearer ${token}` } : {},
})

scenarios('postgrest-js', {
  connect,
  anon: connect(null),
  own: { id: 100, iso: ['XA', 'XB', 'XC', 'XD'] },
})
