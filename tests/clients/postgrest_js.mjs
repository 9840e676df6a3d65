// postgrest-js (what supabase-js uses) against a live server: run by tests/test_clients.py
// with API_URL and TOKEN (a JWT for sub user-1) set. Exits non-zero on the first mismatch.
import assert from 'node:assert/strict'
import { PostgrestClient } from '@supabase/postgrest-js'

const db = new PostgrestClient(process.env.API_URL, {
  headers: { Authorization: `Bearer ${process.env.TOKEN}` },
})

const ins = await db.from('posts').insert({ content: 'from postgrest-js' }).select()
assert.equal(ins.error, null)
assert.equal(ins.status, 201)
assert.equal(ins.data.length, 1)
assert.equal(ins.data[0].userId, 'user-1')
const id = ins.data[0].id

const page = await db.from('posts').select('id, content', { count: 'exact' })
  .eq('userId', 'user-1').order('id', { ascending: false }).limit(1)
assert.equal(page.error, null)
assert.ok(page.count >= 1)
assert.deepEqual(page.data, [{ id, content: 'from postgrest-js' }])

const one = await db.from('posts').select('*').eq('id', id).single()
assert.equal(one.error, null)
assert.equal(one.data.id, id)

const none = await db.from('posts').select('*').eq('id', -1).maybeSingle()
assert.equal(none.error, null)
assert.equal(none.data, null)

const upd = await db.from('posts').update({ published: true }).eq('id', id).select('id,published')
assert.equal(upd.error, null)
assert.deepEqual(upd.data, [{ id, published: true }])

const foreign = await db.from('posts').insert({ content: 'x', userId: 'user-2' })
assert.equal(foreign.status, 403)
assert.equal(foreign.error.code, '42501')

const filtered = await db.from('posts').select('id')
  .or(`id.eq.${id},content.ilike.*no such text*`).in('id', [id, -5]).not('content', 'is', null)
assert.equal(filtered.error, null)
assert.deepEqual(filtered.data, [{ id }])

const csv = await db.from('posts').select('id,content').eq('id', id).csv()
assert.equal(csv.error, null)
assert.equal(csv.data, `id,content\n${id},"from postgrest-js"`)

const head = await db.from('posts').select('*', { count: 'exact', head: true }).eq('id', id)
assert.equal(head.error, null)
assert.equal(head.count, 1)

const del = await db.from('posts').delete().eq('id', id)
assert.equal(del.error, null)
assert.equal(del.status, 204)

const gone = await db.from('posts').select('id').eq('id', id)
assert.deepEqual(gone.data, [])

const rpc = await db.rpc('no_such_function', { a: 1 })
assert.equal(rpc.status, 404)
assert.equal(rpc.error.code, 'PGRST202')

console.log('postgrest-js: all checks passed')
