// The notes app: postgrest-js against the Data API (proxied at /api by server.mjs), signed in
// through the demo identity provider. RLS decides what each user sees and may change.
import { PostgrestClient } from '/vendor/postgrest-js.mjs'

const $ = (id) => document.getElementById(id)
const API = `${location.origin}/api`
let session = JSON.parse(sessionStorage.getItem('notes-session') || 'null')
let db = null

function connect() {
  db = new PostgrestClient(API, { headers: { Authorization: `Bearer ${session.access_token}` } })
  window.notesApp = { db, user: session.user } // for the end-to-end test's direct RLS checks
}

function status(message) {
  $('status').textContent = message || ''
}

async function signIn(event) {
  event.preventDefault()
  const res = await fetch('/auth/sign-in', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username: $('username').value, password: $('password').value }),
  })
  if (!res.ok) return status('Wrong user name or password')
  session = await res.json()
  sessionStorage.setItem('notes-session', JSON.stringify(session))
  $('password').value = ''
  await show()
}

function signOut() {
  session = null
  db = null
  window.notesApp = null
  sessionStorage.removeItem('notes-session')
  show()
}

async function load() {
  const user = session.user
  const mine = await db.from('notes').select('id, title, content, created_at, owner_id, shared')
    .eq('owner_id', user.id).order('created_at', { ascending: false })
  const shared = await db.from('notes').select('id, title, content, created_at, owner_id, shared')
    .eq('shared', true).neq('owner_id', user.id).order('created_at', { ascending: false })
  const error = mine.error || shared.error
  if (error) return status(`Could not load notes: ${error.message}`)
  render($('my-notes'), mine.data, true)
  render($('shared-notes'), shared.data, false)
  document.body.dataset.loaded = String(Date.now())
}

function render(list, notes, own) {
  list.replaceChildren()
  if (notes.length === 0) {
    const li = document.createElement('li')
    li.className = 'empty'
    li.textContent = own ? 'No notes yet.' : 'Nothing shared with you.'
    list.append(li)
  }
  for (const note of notes) {
    const li = document.createElement('li')
    li.dataset.id = note.id
    const h3 = document.createElement('h3')
    h3.className = 'title'
    h3.textContent = note.title
    const p = document.createElement('p')
    p.className = 'content'
    p.textContent = note.content
    const meta = document.createElement('div')
    meta.className = 'meta'
    meta.textContent = `${own ? '' : `by ${note.owner_id} · `}${new Date(note.created_at).toLocaleString()}`
    if (note.shared) {
      const badge = document.createElement('span')
      badge.className = 'badge'
      badge.textContent = 'shared'
      meta.append(badge)
    }
    li.append(h3, p, meta)
    if (own) li.append(actions(note, li))
    list.append(li)
  }
}

function button(label, cls, onClick) {
  const b = document.createElement('button')
  b.type = 'button'
  b.textContent = label
  b.className = cls
  b.addEventListener('click', onClick)
  return b
}

function actions(note, li) {
  const div = document.createElement('div')
  div.className = 'actions'
  div.append(
    button(note.shared ? 'Unshare' : 'Share', 'secondary share', () => change(note.id, { shared: !note.shared })),
    button('Edit', 'secondary edit', () => edit(note, li)),
    button('Delete', 'danger delete', () => remove(note.id)),
  )
  return div
}

function edit(note, li) {
  const title = document.createElement('input')
  title.className = 'edit-title'
  title.value = note.title
  const content = document.createElement('textarea')
  content.className = 'edit-content'
  content.value = note.content
  const save = button('Save', 'save', () => change(note.id, { title: title.value, content: content.value }))
  li.replaceChildren(title, content, save)
}

async function change(id, values) {
  const { data, error } = await db.from('notes').update(values).eq('id', id).select('id')
  if (error) return status(`Could not save: ${error.message}`)
  status(data.length === 0 ? 'You can only change your own notes' : '')
  await load()
}

async function remove(id) {
  const { data, error } = await db.from('notes').delete().eq('id', id).select('id')
  if (error) return status(`Could not delete: ${error.message}`)
  status(data.length === 0 ? 'You can only delete your own notes' : '')
  await load()
}

async function create(event) {
  event.preventDefault()
  const { error } = await db.from('notes').insert({ title: $('new-title').value, content: $('new-content').value })
  if (error) return status(`Could not add the note: ${error.message}`)
  $('new-title').value = ''
  $('new-content').value = ''
  status('')
  await load()
}

async function show() {
  const signedIn = session !== null
  $('sign-in').hidden = signedIn
  $('notes').hidden = !signedIn
  $('who').hidden = !signedIn
  status('')
  if (!signedIn) return
  $('who-name').textContent = `Signed in as ${session.user.name}`
  connect()
  await load()
}

$('sign-in-form').addEventListener('submit', signIn)
$('new-note').addEventListener('submit', create)
$('sign-out').addEventListener('click', signOut)
show()
