// Keeps a Node process on this machine's loopback: loaded with `node --require ./loopback.cjs`.
//
// Every server binds 127.0.0.1, whatever host it asked for: the AT Protocol services call
// `listen(port)`, which would otherwise answer on every interface. Outgoing TCP, UDP and DNS
// may only name loopback; anything else throws and is written to stderr, so a test that
// would reach beyond this machine fails where it happens instead of hanging on a timeout.
'use strict'

const dgram = require('node:dgram')
const dns = require('node:dns')
const net = require('node:net')
const { syncBuiltinESMExports } = require('node:module')

const HOST = '127.0.0.1'
const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost', '::ffff:127.0.0.1'])
const refused = []

// Read by network.mjs, which reports them: a refusal caught and swallowed by a library
// still shows up in the tests.
globalThis.loopbackRefusals = refused

function isLoopback(host) {
  return typeof host === 'string' && LOOPBACK.has(host.toLowerCase().replace(/^\[|\]$/g, ''))
}

function refuse(what, host) {
  const message = `loopback guard: refused ${what} to ${JSON.stringify(host)}; this process stays on loopback`
  refused.push(`${what} ${host}`)
  process.stderr.write(`${message}\n`)
  const error = new Error(message)
  error.code = 'ELOOPBACKONLY'
  return error
}

// -- servers: always 127.0.0.1 --------------------------------------------------------------
const realListen = net.Server.prototype.listen
net.Server.prototype.listen = function listen(...args) {
  const first = args[0]
  if (first !== null && typeof first === 'object' && !Array.isArray(first)) {
    // listen(options[, callback]); a handle or a unix socket path is left alone.
    if (first.path === undefined && first.handle === undefined && first._handle === undefined && first.fd === undefined) {
      args[0] = { ...first, host: HOST }
    }
  } else if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    // listen(port[, host][, backlog][, callback])
    if (typeof args[1] === 'string') args[1] = HOST
    else args.splice(1, 0, HOST)
  } else if (first === undefined || typeof first === 'function') {
    // listen([callback]): a random port
    args.splice(0, 0, 0, HOST)
  }
  return realListen.apply(this, args)
}

// -- outgoing TCP (http, https, undici's fetch, WebSockets, PostgreSQL, Redis) ---------------
const realConnect = net.Socket.prototype.connect
net.Socket.prototype.connect = function connect(...args) {
  // net.connect() hands over its already normalized [options, callback] as one array.
  const normalized = Array.isArray(args[0]) ? args[0] : net._normalizeArgs(args)
  const options = normalized[0] || {}
  if (options.path === undefined) {
    const host = options.host === undefined ? 'localhost' : options.host
    if (!isLoopback(host)) throw refuse('a connection', host)
    // Servers bind 127.0.0.1 only; `localhost` may resolve to ::1 first.
    if (host === 'localhost') options.host = HOST
  }
  if (Array.isArray(args[0])) return realConnect.apply(this, args)
  return typeof normalized[1] === 'function'
    ? realConnect.call(this, options, normalized[1])
    : realConnect.call(this, options)
}

// -- DNS: only loopback names ------------------------------------------------------------------
const realLookup = dns.lookup
dns.lookup = function lookup(hostname, options, callback) {
  if (!isLoopback(hostname)) {
    const cb = typeof options === 'function' ? options : callback
    const error = refuse('a DNS lookup', hostname)
    process.nextTick(() => cb(error))
    return {}
  }
  return realLookup.call(this, hostname, options, callback)
}
const realPromisesLookup = dns.promises.lookup
dns.promises.lookup = async function lookup(hostname, options) {
  if (!isLoopback(hostname)) throw refuse('a DNS lookup', hostname)
  return realPromisesLookup.call(this, hostname, options)
}

// Record queries (TXT for handles, and the rest) never leave: there is no loopback DNS server.
const RESOLVE = [
  'resolve', 'resolve4', 'resolve6', 'resolveAny', 'resolveCaa', 'resolveCname', 'resolveMx',
  'resolveNaptr', 'resolveNs', 'resolvePtr', 'resolveSoa', 'resolveSrv', 'resolveTlsa',
  'resolveTxt', 'reverse',
]
for (const name of RESOLVE) {
  const callbackStyle = function refusedQuery(hostname, ...rest) {
    const cb = rest[rest.length - 1]
    const error = refuse(`a DNS query (${name})`, hostname)
    if (typeof cb === 'function') process.nextTick(() => cb(error))
    return {}
  }
  const promiseStyle = async function refusedQuery(hostname) {
    throw refuse(`a DNS query (${name})`, hostname)
  }
  if (name in dns) dns[name] = callbackStyle
  if (name in dns.Resolver.prototype) dns.Resolver.prototype[name] = callbackStyle
  if (name in dns.promises) dns.promises[name] = promiseStyle
  if (name in dns.promises.Resolver.prototype) dns.promises.Resolver.prototype[name] = promiseStyle
}

// -- outgoing UDP ------------------------------------------------------------------------------
const realSend = dgram.Socket.prototype.send
dgram.Socket.prototype.send = function send(...args) {
  // send(msg[, offset, length], port[, address][, callback])
  const address = args.find((arg, i) => i > 0 && typeof arg === 'string')
  if (address !== undefined && !isLoopback(address)) throw refuse('a UDP datagram', address)
  return realSend.apply(this, args)
}
const realUdpConnect = dgram.Socket.prototype.connect
dgram.Socket.prototype.connect = function connect(port, address, callback) {
  if (typeof address === 'string' && !isLoopback(address)) throw refuse('a UDP connection', address)
  return realUdpConnect.call(this, port, address, callback)
}

// `import { lookup } from 'node:dns'` in ES modules sees the guarded functions too.
syncBuiltinESMExports()
