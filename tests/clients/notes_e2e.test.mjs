// The notes demo (examples/notes) end to end in headless Chromium (Debian's chromium, driven by
// playwright-core): user A signs in, creates a note and shares it; user B sees it and can neither
// edit nor delete it (RLS, tried through the app's own client too); A deletes it. Run by
// tests/test_notes_e2e.py with NOTES_URL, CHROMIUM and SCREENSHOTS set; screenshots land there.
import assert from 'node:assert/strict'
import path from 'node:path'
import { after, before, test } from 'node:test'

import { chromium } from 'playwright-core'

const URL = process.env.NOTES_URL
const SHOTS = process.env.SCREENSHOTS
const TITLE = `Team lunch ${process.pid}`
let browser
const pageErrors = []

before(async () => {
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM, args: ['--no-sandbox'] })
})
after(async () => browser?.close())

async function signIn(username, password) {
  const context = await browser.newContext({ viewport: { width: 800, height: 640 } })
  const page = await context.newPage()
  page.on('pageerror', (e) => pageErrors.push(`${username}: ${e.message}`))
  page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(`${username}: ${m.text()}`) })
  await page.goto(URL)
  await page.selectOption('#username', username)
  await page.fill('#password', password)
  await page.click('#sign-in-button')
  await page.locator('#who-name').filter({ hasText: 'Signed in as' }).waitFor()
  return page
}

const note = (page, list) => page.locator(`#${list} li`).filter({ hasText: TITLE })
const shot = (page, name) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true })

test('sharing a note between two users, with RLS deciding who may change it', async () => {
  const alice = await signIn('alice', 'alice-demo')
  assert.equal(await alice.locator('#who-name').textContent(), 'Signed in as Alice')

  await alice.fill('#new-title', TITLE)
  await alice.fill('#new-content', 'Friday 12:30, the usual place.')
  await alice.click('#add-note')
  await note(alice, 'my-notes').waitFor()
  await note(alice, 'my-notes').locator('button.share').click()
  await note(alice, 'my-notes').locator('.badge', { hasText: 'shared' }).waitFor()
  await shot(alice, '1-alice-shared-a-note')

  const bob = await signIn('bob', 'bob-demo')
  const seen = note(bob, 'shared-notes')
  await seen.waitFor()
  assert.match(await seen.textContent(), /by alice/)
  assert.equal(await seen.locator('button').count(), 0, 'no edit/delete controls on a note of another user')
  assert.equal(await note(bob, 'my-notes').count(), 0)
  await shot(bob, '2-bob-sees-the-shared-note')

  // Bob tries anyway, with the app's own client: RLS matches no row.
  const attempt = await bob.evaluate(async (title) => {
    const { db } = window.notesApp
    const { data: [target] } = await db.from('notes').select('id').eq('title', title)
    const upd = await db.from('notes').update({ title: 'hijacked' }).eq('id', target.id).select()
    const del = await db.from('notes').delete().eq('id', target.id).select()
    const forged = await db.from('notes').insert({ title: 'forged', owner_id: 'alice' })
    return { upd: [upd.status, upd.data], del: [del.status, del.data], forged: [forged.status, forged.error?.code] }
  }, TITLE)
  assert.deepEqual(attempt, { upd: [200, []], del: [200, []], forged: [403, '42501'] })
  await bob.reload()
  await seen.waitFor()
  assert.equal(await seen.locator('.title').textContent(), TITLE)

  await alice.reload()
  await note(alice, 'my-notes').locator('button.delete').click()
  await note(alice, 'my-notes').waitFor({ state: 'detached' })
  await shot(alice, '3-alice-deleted-the-note')

  await bob.reload()
  await bob.locator('#shared-notes li').first().waitFor()
  assert.equal(await note(bob, 'shared-notes').count(), 0)
  await shot(bob, '4-bob-no-longer-sees-it')
  // The browser logs the refused insert above (403) as a failed resource load: that one only.
  const refused = pageErrors.filter((e) => /Failed to load resource: .* status of 403/.test(e))
  assert.equal(refused.length, 1, pageErrors.join('\n'))
  assert.deepEqual(pageErrors.filter((e) => !refused.includes(e)), [])
})
