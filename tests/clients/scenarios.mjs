// What apps do with a PostgREST client, against tests/fixtures/clients_schema.sql. The same
// scenarios run through postgrest-js and through supabase-js (postgrest_js.test.mjs,
// supabase_js.test.mjs): `connect(token)` gives a client with .from() / .rpc() for that user.
// Writes use ids and ISO codes of their own per client (`own`), so the suites never collide.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'

import { TOKENS, failed, ids, ok } from './harness.mjs'


/**
 * connect(token) -> client; anon: the client apps use before sign-in (no JWT, or the anon key:
 * a JWT for the anonymous role; both count as not signed in: 401 on permission errors);
 * own: { id, iso: [4 codes] } for this client's writes.
 */
export function scenarios(label, { connect, anon, own }) {
  const alice = connect(TOKENS.alice)
  const bob = connect(TOKENS.bob)
  const db = alice

  describe(`${label}: select`, () => {
    test('column types come back as PostgREST renders them', async () => {
      const country = ok(await db.from('countries').select('*').eq('id', 1).single())
      assert.deepEqual(country, { id: 1, name: 'Algeria', iso: 'DZ', flags: '1010', continent: 'Africa' })
      const city = ok(await db.from('cities')
        .select('tags, meta, info, mood, open_hours, founded, location').eq('id', 1).single())
      assert.deepEqual(city, {
        tags: ['coast', 'capital'],
        meta: { metro: true, lines: 1 },
        info: { zone: 'CET' },
        mood: 'happy',
        open_hours: '[8,18)',
        founded: '0944-01-01',
        // PostGIS's geometry -> json cast: GeoJSON with the SRID as a named crs
        location: {
          type: 'Point',
          crs: { type: 'name', properties: { name: 'EPSG:4326' } },
          coordinates: [3.0588, 36.7538],
        },
      })
    })

    test('json paths, aliases and casts in select', async () => {
      const rows = ok(await db.from('cities').select('name, lines:meta->lines, zone:info->>zone, id::text')
        .eq('id', 3))
      assert.deepEqual(rows, [{ name: 'Paris', lines: 16, zone: 'CET', id: '3' }])
    })

    test('embeds: one-to-many with order and limit on the embedded table', async () => {
      const rows = ok(await db.from('countries').select('name, cities(name)').in('id', [1, 2])
        .order('id').order('name', { referencedTable: 'cities', ascending: false })
        .limit(1, { referencedTable: 'cities' }))
      assert.deepEqual(rows, [
        { name: 'Algeria', cities: [{ name: 'Oran' }] },
        { name: 'France', cities: [{ name: 'Paris' }] },
      ])
    })

    test('embeds: many-to-one, ordered by the embedded column', async () => {
      const rows = ok(await db.from('cities').select('id, countries(name)')
        .order('countries(name)').order('id'))
      assert.deepEqual(rows.map((r) => [r.id, r.countries.name]), [
        [1, 'Algeria'], [2, 'Algeria'], [6, 'Brazil'], [3, 'France'], [4, 'France'], [5, 'Japan'],
      ])
    })

    test('embeds: hints by constraint and by column name', async () => {
      const users = ok(await db.from('users')
        .select('username, sent:messages!messages_sender_fkey(id), received:messages!messages_recipient_fkey(id)')
        .eq('username', 'supabot').order('id', { referencedTable: 'sent' }))
      assert.deepEqual(users, [{ username: 'supabot', sent: [{ id: 1 }, { id: 2 }], received: [{ id: 3 }] }])
      const msgs = ok(await db.from('messages').select('id, sender:users!sender(username, status)').eq('id', 3))
      assert.deepEqual(msgs, [{ id: 3, sender: { username: 'kiwicopple', status: 'ok' } }])
    })

    test('embeds: an ambiguous embed is 300 PGRST201 with a hint', async () => {
      const res = await db.from('users').select('username, messages(id)')
      assert.equal(res.status, 300)
      assert.equal(res.error.code, 'PGRST201')
      assert.equal(res.error.message,
        "Could not embed because more than one relationship was found for 'users' and 'messages'")
      assert.match(res.error.hint, /^Try changing 'messages' to one of the following: /)
      assert.equal(res.error.details.length, 2)
    })

    test('embeds: !inner filters the parent rows', async () => {
      const rows = ok(await db.from('countries').select('name, cities!inner(name)').eq('cities.name', 'Paris'))
      assert.deepEqual(rows, [{ name: 'France', cities: [{ name: 'Paris' }] }])
    })

    test('embeds: spread of a to-one embed', async () => {
      const rows = ok(await db.from('messages').select('id, ...channels(slug)').order('id'))
      assert.deepEqual(rows, [{ id: 1, slug: 'public' }, { id: 2, slug: 'random' }, { id: 3, slug: 'public' }])
    })

    test('aggregates: grouped sums and counts, and counts of an embed', async () => {
      const rows = ok(await db.from('cities').select('country_id, population.sum(), count()').order('country_id'))
      assert.deepEqual(rows, [
        { country_id: 1, sum: 4976140, count: 2 },
        { country_id: 2, sum: 2674275, count: 2 },
        { country_id: 3, sum: 13960000, count: 1 },
        { country_id: 4, sum: 2219580, count: 1 },
      ])
      const counts = ok(await db.from('countries').select('name, cities(count)').lt('id', 100).order('id'))
      assert.deepEqual(counts.map((c) => [c.name, c.cities[0].count]),
        [['Algeria', 2], ['France', 2], ['Japan', 1], ['Brazil', 1]])
      const total = ok(await db.from('cities').select('total:population.sum()'))
      assert.deepEqual(total, [{ total: 23829995 }])
    })

    test('aggregates: spread with * next to an aggregate in a nested embed', async () => {
      const rows = ok(await db.from('users')
        .select('username, messages!messages_sender_fkey(channels(count(), ...channel_details(*)))')
        .eq('username', 'kiwicopple'))
      assert.deepEqual(rows, [{
        username: 'kiwicopple',
        messages: [{ channels: { count: 1, id: 1, details: 'Public channel' } }],
      }])
    })
  })

  describe(`${label}: filters`, () => {
    const cities = () => db.from('cities').select('id').order('id')
    const cases = [
      ['eq (enum)', (q) => q.eq('mood', 'happy'), [1, 3, 5]],
      ['neq', (q) => q.neq('country_id', 1), [3, 4, 5, 6]],
      ['gt', (q) => q.gt('population', 2219580), [1, 5]],
      ['gte', (q) => q.gte('population', 2219580), [1, 5, 6]],
      ['lt', (q) => q.lt('population', 1560329), [4]],
      ['lte', (q) => q.lte('population', 1560329), [2, 4]],
      ['like', (q) => q.like('name', '%ar%'), [3]],
      ['ilike', (q) => q.ilike('name', '%O%'), [2, 4, 5]],
      ['is null', (q) => q.is('description', null), [6]],
      ['in (numbers)', (q) => q.in('id', [1, 3, 99]), [1, 3]],
      ['in (text with a comma)', (q) => q.in('name', ['Paris', 'Lyon', 'a,b']), [3, 4]],
      ['contains (array)', (q) => q.contains('tags', ['coast', 'capital']), [1, 5]],
      ['contains (jsonb)', (q) => q.contains('meta', { metro: true }), [1, 3, 4, 5]],
      ['containedBy (array)', (q) => q.containedBy('tags', ['coast', 'capital']), [1, 2, 5]],
      ['overlaps (array)', (q) => q.overlaps('tags', ['river', 'nope']), [3, 4, 6]],
      ['overlaps (range)', (q) => q.overlaps('open_hours', '[20,22)'), [3, 5]],
      ['rangeGt', (q) => q.rangeGt('open_hours', '[0,6)'), [1, 2, 3, 4]],
      ['rangeLt', (q) => q.rangeLt('open_hours', '[20,30)'), [1, 2, 4]],
      ['rangeGte', (q) => q.rangeGte('open_hours', '[8,9)'), [1, 2, 4]],
      ['rangeLte', (q) => q.rangeLte('open_hours', '[0,18)'), [1, 2]],
      ['rangeAdjacent', (q) => q.rangeAdjacent('open_hours', '[18,20)'), [1]],
      ['textSearch (tsquery)', (q) => q.textSearch('fts', 'city & river', { config: 'english' }), [3, 4]],
      ['textSearch plain', (q) => q.textSearch('fts', 'light river', { type: 'plain', config: 'english' }), [3]],
      ['textSearch phrase', (q) => q.textSearch('fts', 'city of light', { type: 'phrase', config: 'english' }), [3]],
      ['textSearch websearch', (q) => q.textSearch('fts', 'river -food', { type: 'websearch', config: 'english' }), [3]],
      ['match', (q) => q.match({ country_id: 1, mood: 'happy' }), [1]],
      ['not eq', (q) => q.not('mood', 'eq', 'happy'), [2, 4, 6]],
      ['not is null', (q) => q.not('description', 'is', null), [1, 2, 3, 4, 5]],
      ['not in', (q) => q.not('id', 'in', '(1,2,3)'), [4, 5, 6]],
      ['or', (q) => q.or('population.gt.10000000,name.eq.Lyon'), [4, 5]],
      ['or with and', (q) => q.or('and(country_id.eq.2,population.lt.1000000),id.eq.6'), [4, 6]],
      ['filter cs', (q) => q.filter('tags', 'cs', '{river}'), [3, 4, 6]],
      ['filter in', (q) => q.filter('name', 'in', '("Paris","Lyon")'), [3, 4]],
      ['json path ->>', (q) => q.eq('meta->>lines', '16'), [3]],
      ['json path ->', (q) => q.gt('meta->lines', 10), [3, 5]],
    ]
    for (const [name, apply, want] of cases) {
      test(name, async () => assert.deepEqual(ids(await apply(cities())), want))
    }

    test('or on an embedded table', async () => {
      const rows = ok(await db.from('countries').select('name, cities(name)').eq('id', 2)
        .or('name.eq.Lyon,name.eq.Tokyo', { referencedTable: 'cities' }))
      assert.deepEqual(rows, [{ name: 'France', cities: [{ name: 'Lyon' }] }])
    })

    test('eq and in on character(n)', async () => {
      assert.deepEqual(ids(await db.from('countries').select('id').eq('iso', 'DZ')), [1])
      assert.deepEqual(ids(await db.from('countries').select('id').in('iso', ['FR', 'JP']).order('id')), [2, 3])
    })

    test('eq on bit(n)', async () => {
      assert.deepEqual(ids(await db.from('countries').select('id').eq('flags', '1010')), [1])
    })
  })

  describe(`${label}: modifiers and formats`, () => {
    test('order, nullsFirst, limit, range', async () => {
      assert.deepEqual(ids(await db.from('cities').select('id').order('population', { ascending: false }).limit(2)), [5, 1])
      assert.deepEqual(ids(await db.from('cities').select('id')
        .order('description', { nullsFirst: true }).limit(1)), [6])
      const page = await db.from('cities').select('id', { count: 'exact' }).order('id').range(1, 2)
      assert.deepEqual(ids({ ...page, status: 200 }), [2, 3])
      assert.equal(page.status, 206)
      assert.equal(page.count, 6)
    })

    test('single() and maybeSingle()', async () => {
      assert.deepEqual(ok(await db.from('cities').select('id, name').eq('id', 3).single()), { id: 3, name: 'Paris' })
      failed(await db.from('cities').select('id').single(), 406, 'Not Acceptable', {
        code: 'PGRST116',
        message: 'Cannot coerce the result to a single JSON object',
        details: 'The result contains 6 rows',
        hint: null,
      })
      assert.equal(ok(await db.from('cities').select('id').eq('id', -1).maybeSingle()), null)
      assert.deepEqual(ok(await db.from('cities').select('id').eq('id', 4).maybeSingle()), { id: 4 })
      const many = await db.from('cities').select('id').lt('id', 3).maybeSingle()
      assert.equal(many.status, 406)
      assert.equal(many.error.code, 'PGRST116')
    })

    test('csv()', async () => {
      const csv = ok(await db.from('cities').select('id, name, population').in('id', [1, 2]).order('id').csv())
      assert.equal(csv, 'id,name,population\n1,Algiers,3415811\n2,Oran,1560329')
    })

    test('geojson()', async () => {
      const fc = ok(await db.from('cities').select('name, location').eq('id', 3).geojson())
      assert.deepEqual(fc, {
        type: 'FeatureCollection',
        features: [{
          type: 'Feature',
          geometry: { type: 'Point', coordinates: [2.3522, 48.8566] },
          properties: { name: 'Paris' },
        }],
      })
    })

    test('explain() as text and as json', async () => {
      const text = ok(await db.from('cities').select('name').eq('id', 3).explain())
      assert.equal(typeof text, 'string')
      assert.match(text, /on cities/)
      const json = ok(await db.from('cities').select('name').explain({ format: 'json', analyze: true }))
      assert.ok(Array.isArray(json) && json[0].Plan, JSON.stringify(json))
      assert.equal(typeof json[0]['Execution Time'], 'number')
    })

    test('count exact, planned, estimated and head', async () => {
      const exact = await db.from('cities').select('*', { count: 'exact', head: true })
      assert.equal(exact.error, null)
      assert.equal(exact.data, null)
      assert.equal(exact.count, 6)
      const planned = await db.from('cities').select('id', { count: 'planned' }).limit(1)
      assert.equal(planned.error, null)
      assert.equal(planned.data.length, 1)
      assert.equal(planned.count, 6) // the fixture is ANALYZEd: the estimate is exact
      // Without db_max_rows, PostgREST's estimated count is the larger of the exact count (4)
      // and the planner's estimate.
      const plannedOver2 = await db.from('cities').select('id', { count: 'planned', head: true }).gt('id', 2)
      const estimated = await db.from('cities').select('id', { count: 'estimated', head: true }).gt('id', 2)
      assert.equal(estimated.error, null)
      assert.equal(estimated.count, Math.max(4, plannedOver2.count))
    })
  })

  describe(`${label}: writes`, () => {
    const [a, b, c, never] = [own.id, own.id + 1, own.id + 2, own.id + 9]
    const [isoA, isoB, isoC, isoD] = own.iso
    const cleanUp = () => db.from('countries').delete().gte('id', own.id).lt('id', own.id + 10)

    test('insert, upsert (onConflict, ignoreDuplicates), update and delete with select()', async (t) => {
      t.after(cleanUp)
      const inserted = ok(await db.from('countries').insert({ id: a, name: 'Atlantis', iso: isoA, flags: '0011' }).select(), 201)
      assert.deepEqual(inserted, [{ id: a, name: 'Atlantis', iso: isoA, flags: '0011', continent: null }])

      const bulk = ok(await db.from('countries').insert([
        { id: b, name: 'Lemuria', iso: isoB },
        { id: c, name: 'Mu', iso: isoC, continent: 'Pacific' },
      ]).select('id, continent').order('id'), 201)
      assert.deepEqual(bulk, [{ id: b, continent: null }, { id: c, continent: 'Pacific' }])

      // PostgREST >= 12: 200 when the upsert only updated rows, 201 when it inserted one
      const merged = ok(await db.from('countries').upsert({ id: a, name: 'Atlantis II', iso: isoA }, { onConflict: 'iso' })
        .select('id, name'), 200)
      assert.deepEqual(merged, [{ id: a, name: 'Atlantis II' }])

      const ignored = await db.from('countries')
        .upsert({ id: a, name: 'ignored', iso: isoA }, { onConflict: 'iso', ignoreDuplicates: true }).select()
      assert.equal(ignored.error, null)
      assert.deepEqual(ignored.data, [])
      assert.deepEqual(ok(await db.from('countries').select('name').eq('id', a)), [{ name: 'Atlantis II' }])

      const updated = ok(await db.from('countries').update({ continent: 'Atlantic' }).eq('id', a).select('id, continent'))
      assert.deepEqual(updated, [{ id: a, continent: 'Atlantic' }])

      const plain = await db.from('countries').update({ continent: 'Atlantic' }).eq('id', b)
      assert.equal(plain.error, null)
      assert.equal(plain.status, 204)
      assert.equal(plain.data, null)

      const counted = await db.from('countries').update({ flags: '1111' }, { count: 'exact' }).in('id', [a, b])
      assert.equal(counted.count, 2)

      const deleted = ok(await db.from('countries').delete().in('id', [a, b, c]).select('id').order('id'))
      assert.deepEqual(deleted, [{ id: a }, { id: b }, { id: c }])
      assert.deepEqual(ok(await db.from('countries').select('id').in('id', [a, b, c])), [])
    })

    test('constraint errors as the client surfaces them', async (t) => {
      t.after(cleanUp)
      failed(await db.from('countries').insert({ id: never, name: 'dup', iso: 'DZ' }), 409, 'Conflict', {
        code: '23505',
        message: 'duplicate key value violates unique constraint "countries_iso_key"',
        details: 'Key (iso)=(DZ) already exists.',
        hint: null,
      })
      failed(await db.from('cities').insert({ id: never, name: 'x', country_id: 999 }), 409, 'Conflict', {
        code: '23503',
        message: 'insert or update on table "cities" violates foreign key constraint "cities_country_id_fkey"',
        details: 'Key (country_id)=(999) is not present in table "countries".',
        hint: null,
      })
      failed(await db.from('countries').insert({ id: never, iso: isoD }), 400, 'Bad Request', {
        code: '23502',
        message: 'null value in column "name" of relation "countries" violates not-null constraint',
        details: `Failing row contains (${never}, null, ${isoD}, null, null).`,
        hint: null,
      })
      failed(await db.from('cities').insert({ id: never, name: 'x', country_id: 1, mood: 'angry' }), 400, 'Bad Request', {
        code: '22P02',
        message: 'invalid input value for enum mood: "angry"',
        details: null,
        hint: null,
      })
      failed(await db.from('cities').insert({ id: never, nope: 1 }), 400, 'Bad Request', {
        code: 'PGRST204',
        message: "Could not find the 'nope' column of 'cities' in the schema cache",
        details: null,
        hint: null,
      })
      failed(await db.from('cities').select('nope'), 400, 'Bad Request', {
        code: '42703',
        message: 'column cities.nope does not exist',
        details: null,
        hint: 'Perhaps you meant to reference the column "cities.name".', // Postgres's own hint
      })
      assert.deepEqual(ok(await db.from('countries').select('id').eq('id', never)), [])
    })
  })

  describe(`${label}: RLS with a JWT per user`, () => {
    test('each user sees their own and the shared rows', async () => {
      assert.deepEqual(ok(await alice.from('todos').select('task, owner_id').order('id')), [
        { task: 'alice private', owner_id: 'alice' }, { task: 'alice shared', owner_id: 'alice' },
      ])
      assert.deepEqual(ok(await bob.from('todos').select('task').order('id')), [
        { task: 'alice shared' }, { task: 'bob private' },
      ])
    })

    test("another user's rows cannot be changed", async () => {
      assert.deepEqual(ok(await bob.from('todos').update({ done: true }).eq('task', 'alice shared').select()), [])
      assert.deepEqual(ok(await bob.from('todos').delete().eq('task', 'alice shared').select()), [])
      failed(await bob.from('todos').insert({ task: 'forged', owner_id: 'alice' }), 403, 'Forbidden', {
        code: '42501',
        message: 'new row violates row-level security policy for table "todos"',
        details: null,
        hint: null,
      })
      assert.deepEqual(ok(await alice.from('todos').select('task, done').eq('task', 'alice shared')),
        [{ task: 'alice shared', done: false }])
    })

    test('owner_id defaults to auth.user_id()', async () => {
      const [row] = ok(await bob.from('todos').insert({ task: `${label} note` }).select('id, owner_id'), 201)
      assert.equal(row.owner_id, 'bob')
      assert.deepEqual(ok(await alice.from('todos').select('id').eq('id', row.id)), [])
      assert.deepEqual(ok(await bob.from('todos').delete().eq('id', row.id).select('id')), [{ id: row.id }])
    })

    test('without a user: permission denied; with a bad signature: 401', async () => {
      const res = await anon.from('todos').select('*')
      assert.equal(res.status, 401)
      assert.equal(res.error.code, '42501')
      assert.equal(res.error.message, 'permission denied for table todos')
      const bad = await connect(TOKENS.badSignature).from('todos').select('*')
      assert.equal(bad.status, 401)
      assert.equal(bad.error.code, 'PGRST301')
    })
  })

  describe(`${label}: rpc`, () => {
    test('POST and GET', async () => {
      assert.equal(ok(await db.rpc('add', { a: 1, b: 2 })), 3)
      assert.equal(ok(await db.rpc('add', { a: 40, b: 2 }, { get: true })), 42)
    })

    test('filters, order and select on a set-returning function', async () => {
      for (const get of [false, true]) {
        const rows = ok(await db.rpc('cities_over', { min_population: 2000000 }, { get })
          .select('name').gt('population', 3000000).order('name'))
        assert.deepEqual(rows, [{ name: 'Algiers' }, { name: 'Tokyo' }])
      }
      const head = await db.rpc('cities_over', { min_population: 0 }, { head: true, count: 'exact' })
      assert.equal(head.error, null)
      assert.equal(head.count, 6)
      const one = ok(await db.rpc('cities_over', { min_population: 0 }).eq('id', 5).select('name').single())
      assert.deepEqual(one, { name: 'Tokyo' })
    })

    test('a volatile function writes over POST and is refused over GET', async () => {
      const iso = own.iso[3]
      const made = ok(await db.rpc('add_country', { name: 'Rpcland', iso }))
      assert.equal(made.name, 'Rpcland')
      assert.equal(made.iso, iso)
      ok(await db.from('countries').delete().eq('id', made.id), 204)
      failed(await db.rpc('add_country', { name: 'Getland', iso }, { get: true }), 405, 'Method Not Allowed', {
        code: '25006',
        message: 'cannot execute INSERT in a read-only transaction',
        details: null,
        hint: null,
      })
    })

    test('errors: RAISE with detail and hint, unknown function', async () => {
      failed(await db.rpc('fail_with_hint'), 400, 'Bad Request', {
        code: 'P0001', message: 'the bill is unpaid', details: 'invoice 42', hint: 'pay it',
      })
      const res = await db.rpc('nope', { a: 1 })
      assert.equal(res.status, 404)
      assert.equal(res.error.code, 'PGRST202')
      assert.equal(res.error.message, 'Could not find the function public.nope(a) in the schema cache')
      assert.match(res.error.details, /^Searched for the function public\.nope with parameter a/)
    })
  })

  describe(`${label}: request control`, () => {
    test('abortSignal cancels a request in flight', async () => {
      const ctl = new AbortController()
      const started = Date.now()
      setTimeout(() => ctl.abort(), 200)
      const res = await db.rpc('sleep', { seconds: 3 }).abortSignal(ctl.signal)
      assert.equal(res.data, null)
      assert.equal(res.status, 0)
      assert.match(res.error.message, /^AbortError: /)
      assert.ok(Date.now() - started < 2500, 'the abort did not cut the request short')
      assert.equal(ok(await db.rpc('add', { a: 2, b: 2 })), 4) // the server is still fine
    })

    test('throwOnError rejects with a PostgrestError', async () => {
      await assert.rejects(async () => { await db.from('nope').select().throwOnError() }, (e) => {
        assert.ok(e instanceof Error)
        assert.equal(e.code, 'PGRST205')
        assert.equal(e.message, "Could not find the table 'public.nope' in the schema cache")
        return true
      })
      const fine = await db.from('cities').select('id').eq('id', 1).throwOnError()
      assert.deepEqual(fine.data, [{ id: 1 }])
    })
  })
}
