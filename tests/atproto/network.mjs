// A real local AT Protocol network for the Bluesky tests: PLC, PDS and AppView (with the
// bsync and Ozone services they expect), from the reference implementations in @atproto/dev-env.
//
//   node --require ./loopback.cjs network.mjs --postgres postgresql://postgres@127.0.0.1:5432/postgres
//
// It makes a throwaway database on that server (`praisewall_atproto_<letters>`), starts the
// services on free loopback ports, and prints one JSON line on stdout when they answer:
//   {"plc": url, "pds": url, "appview": url, "appview_did": did, "control": url, "database": name}
// The control server (loopback only) answers:
//   POST /process-all  index everything written so far (the AppView is asynchronous otherwise)
//   GET  /refusals     what the loopback guard refused, as a JSON list (empty when all is well)
// It stops, drops its database and removes its files on SIGTERM, SIGINT, or when stdin closes.
// REDIS_HOST defaults to 127.0.0.1:6379 (dev-env insists on it; nothing here uses Redis).
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import http from 'node:http'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'

import pg from 'pg'

const { values: args } = parseArgs({
  options: {
    postgres: { type: 'string', default: process.env.ATPROTO_POSTGRES_URL },
  },
})
if (!args.postgres) {
  fail('give the PostgreSQL server: --postgres postgresql://user@127.0.0.1:5432/postgres')
}

// Schema names take letters and underscores only (a digit breaks bsync's).
const LETTERS = 'abcdefghijklmnopqrstuvwxyz'
const suffix = Array.from(randomBytes(12), (b) => LETTERS[b % LETTERS.length]).join('')
const database = `praisewall_atproto_${suffix}`
const databaseUrl = new URL(args.postgres)
databaseUrl.pathname = `/${database}`

// The PDS keeps its SQLite files and blobs under the temporary folder and never removes them.
const scratch = mkdtempSync(path.join(tmpdir(), 'praisewall-atproto-'))
process.env.TMPDIR = scratch
process.env.REDIS_HOST ??= '127.0.0.1:6379'

let network
let control
let stopping

function fail(message) {
  process.stderr.write(`network.mjs: ${message}\n`)
  process.exit(2)
}

/** Run one statement on the server's maintenance database. */
async function admin(sql) {
  const client = new pg.Client({ connectionString: args.postgres })
  await client.connect()
  try {
    await client.query(sql)
  } finally {
    await client.end()
  }
}

/** Stop the services, drop the database and the files, then exit. */
async function stop(code = 0) {
  stopping ??= (async () => {
    try {
      control?.close()
      await network?.close()
    } catch (err) {
      process.stderr.write(`network.mjs: closing: ${err?.stack ?? err}\n`)
      code ||= 1
    }
    try {
      await admin(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
    } catch (err) {
      process.stderr.write(`network.mjs: dropping ${database}: ${err?.message ?? err}\n`)
    }
    rmSync(scratch, { recursive: true, force: true })
    process.exit(code)
  })()
  return stopping
}

/** Answer the test process: index on demand, and report what the guard refused. */
function serveControl(req, res) {
  const reply = (status, body) => {
    res.writeHead(status, { 'content-type': 'application/json' })
    res.end(JSON.stringify(body))
  }
  if (req.method === 'POST' && req.url === '/process-all') {
    network.processAll().then(
      () => reply(200, { ok: true }),
      (err) => reply(500, { error: String(err?.stack ?? err) }),
    )
  } else if (req.method === 'GET' && req.url === '/refusals') {
    reply(200, globalThis.loopbackRefusals ?? null)
  } else {
    reply(404, { error: `no ${req.method} ${req.url}` })
  }
}

for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => stop(0))
// The test process holds our stdin: when it goes, however it went, so do we.
process.stdin.on('end', () => stop(0))
process.stdin.on('error', () => stop(0))
process.stdin.resume()

try {
  await admin(`CREATE DATABASE ${database}`)
  // Imported only now: it reads TMPDIR when it loads.
  const { TestNetwork } = await import('@atproto/dev-env')
  network = await TestNetwork.create({
    dbPostgresUrl: databaseUrl.toString(),
    dbPostgresSchema: 'praisewall',
  })
  control = http.createServer(serveControl)
  await new Promise((resolve) => control.listen(0, '127.0.0.1', resolve))
  const ready = {
    plc: network.plc.url,
    pds: network.pds.url,
    appview: network.bsky.url,
    appview_did: network.bsky.ctx.cfg.serverDid,
    control: `http://127.0.0.1:${control.address().port}`,
    database,
  }
  if (!stopping) process.stdout.write(`${JSON.stringify(ready)}\n`)
} catch (err) {
  process.stderr.write(`network.mjs: starting: ${err?.stack ?? err}\n`)
  await stop(1)
}
