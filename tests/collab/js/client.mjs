// The real Yjs client (yjs + y-websocket, on the `ws` package) for the live-editing tests.
//
// The Python tests start this script and drive it: one JSON command per line on stdin, one
// JSON event per line on stdout. A process holds any number of named clients, each a Y.Doc
// with its own WebsocketProvider, as the canvas holds one per open flow.
//
// y-websocket opens `serverUrl + '/' + roomname + '?' + params`: with serverUrl
// `ws://host/api/v1/flows/<flow id>` and roomname `sync` that is the appliance's /sync route.
//
// The box pushes presence as JSON text frames; y-websocket only understands binary messages
// (in a browser a text frame makes it log an error; on `ws` the exception would end the
// process), so the WebSocket class handed to y-websocket takes text frames aside, as the
// canvas must, and reports them as `text` events.
//
// Commands (`name` picks the client):
//   {cmd: "connect", name, url, token, auth: "params"|"protocol"|"header"|"none", origin?,
//    clientId?, presenceFrames?, reconnect?: false}
//   {cmd: "edit", name, count, prefix, delayMs?, size?}   count separate transactions, each
//        setting map key `${prefix}-${i}` (to i, or to a string of `size` characters) and
//        inserting into the text
//   {cmd: "barrier", name}   a sync step 1 on the socket; `barrier` once its step 2 is back
//        (the box handles one socket's messages in order: everything sent before is applied)
//   {cmd: "waitFor", name, mapSize, timeoutMs}
//   {cmd: "dump", name} / {cmd: "order", name} / {cmd: "close", name} / {cmd: "exit"}
// Events: ready, open, synced, text, close, error, edited, barrier, reached, timeout, dump,
//   order, closed.

import readline from 'node:readline'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'

const clients = new Map()

function emit (event) {
  process.stdout.write(JSON.stringify(event) + '\n')
}

function socketClass (client) {
  return class LiveSocket extends WebSocket {
    constructor (url, protocols) {
      const options = {}
      if (client.auth === 'header') options.headers = { Authorization: 'Bearer ' + client.token }
      if (client.origin) options.origin = client.origin
      super(url, protocols, options)
      client.socket = this
      this.on('unexpected-response', (request, response) => {
        emit({ event: 'error', name: client.name, status: response.statusCode })
      })
    }

    set onmessage (handler) {
      if (this._handler) this.removeEventListener('message', this._handler)
      this._handler = (event) => {
        if (typeof event.data === 'string') {
          let data
          try { data = JSON.parse(event.data) } catch { data = event.data }
          emit({ event: 'text', name: client.name, data })
          return
        }
        client.received(new Uint8Array(event.data))
        handler(event)
      }
      this.addEventListener('message', this._handler)
    }

    get onmessage () {
      return this._handler
    }
  }
}

class Client {
  constructor (spec) {
    this.name = spec.name
    this.token = spec.token
    this.auth = spec.auth || 'params'
    this.origin = spec.origin
    this.doc = new Y.Doc()
    this.map = this.doc.getMap('flow')
    this.text = this.doc.getText('notes')
    this.expected = null // per sender client id: the clock after the last struct received
    this.gaps = []
    this.checked = 0
    this.barriers = []
    this.socket = null
    const params = {}
    if (this.auth === 'params') params.token = this.token
    if (spec.clientId) params.client_id = spec.clientId
    if (spec.presenceFrames === false) params.presence_frames = 'false'
    const protocols = this.auth === 'protocol' ? ['bearer', this.token] : []
    this.provider = new WebsocketProvider(spec.url, 'sync', this.doc, {
      params, protocols, WebSocketPolyfill: socketClass(this), disableBc: true,
      maxBackoffTime: 500
    })
    this.provider.awareness.setLocalStateField('user', { name: this.name })
    this.provider.on('status', ({ status }) => {
      if (status === 'connected') {
        emit({ event: 'open', name: this.name, protocol: this.socket && this.socket.protocol })
      }
    })
    this.provider.on('sync', (synced) => {
      if (synced && this.expected === null) {
        this.expected = new Map(Y.decodeStateVector(Y.encodeStateVector(this.doc)))
      }
      if (synced) emit({ event: 'synced', name: this.name })
    })
    this.provider.on('connection-close', (event) => {
      emit({ event: 'close', name: this.name, code: event ? event.code : null,
             reason: event ? String(event.reason) : null })
      if (!spec.reconnect) this.provider.shouldConnect = false
    })
  }

  // Every update the box sends after the first sync must continue, for each sender, where
  // the previous one ended: a gap would mean a frame overtook an earlier one.
  received (buf) {
    const decoder = decoding.createDecoder(buf)
    if (decoding.readVarUint(decoder) !== 0) return
    const step = decoding.readVarUint(decoder)
    if (step === 1 && this.barriers.length > 0) this.barriers.shift()()
    if ((step !== 1 && step !== 2) || this.expected === null) return
    const { structs } = Y.decodeUpdate(decoding.readVarUint8Array(decoder))
    for (const struct of structs) {
      const { client, clock } = struct.id
      const have = this.expected.get(client) || 0
      if (clock > have) this.gaps.push({ client, clock, have })
      this.expected.set(client, Math.max(have, clock + struct.length))
    }
    this.checked += 1
  }

  async edit (count, prefix, delayMs, size) {
    for (let i = 0; i < count; i++) {
      this.doc.transact(() => {
        this.map.set(`${prefix}-${i}`, size ? String(i).padEnd(size, 'x') : i)
        this.text.insert(Math.floor(Math.random() * (this.text.length + 1)), prefix[0])
      })
      if (delayMs) await new Promise((resolve) => setTimeout(resolve, delayMs))
    }
  }

  barrier () {
    return new Promise((resolve) => {
      this.barriers.push(resolve)
      const encoder = encoding.createEncoder()
      encoding.writeVarUint(encoder, 0)
      encoding.writeVarUint(encoder, 0)
      encoding.writeVarUint8Array(encoder, Y.encodeStateVector(this.doc))
      this.provider.ws.send(encoding.toUint8Array(encoder))
    })
  }

  waitFor (size, timeoutMs) {
    return new Promise((resolve) => {
      const deadline = setTimeout(() => { this.map.unobserve(check); resolve(false) }, timeoutMs)
      const check = () => {
        if (this.map.size >= size) {
          clearTimeout(deadline)
          this.map.unobserve(check)
          resolve(true)
        }
      }
      this.map.observe(check)
      check()
    })
  }
}

const rl = readline.createInterface({ input: process.stdin })
rl.on('line', async (line) => {
  const command = JSON.parse(line)
  const client = clients.get(command.name)
  switch (command.cmd) {
    case 'connect':
      clients.set(command.name, new Client(command))
      break
    case 'edit':
      await client.edit(command.count, command.prefix, command.delayMs || 0, command.size || 0)
      emit({ event: 'edited', name: client.name })
      break
    case 'barrier':
      await client.barrier()
      emit({ event: 'barrier', name: client.name })
      break
    case 'waitFor': {
      const ok = await client.waitFor(command.mapSize, command.timeoutMs || 20000)
      emit({ event: ok ? 'reached' : 'timeout', name: client.name, mapSize: client.map.size })
      break
    }
    case 'dump':
      emit({ event: 'dump', name: client.name, map: client.map.toJSON(),
             text: client.text.toString(), synced: client.provider.synced })
      break
    case 'order':
      emit({ event: 'order', name: client.name, checked: client.checked, gaps: client.gaps })
      break
    case 'close':
      client.provider.destroy()
      clients.delete(command.name)
      emit({ event: 'closed', name: command.name })
      break
    case 'exit':
      for (const each of clients.values()) each.provider.destroy()
      emit({ event: 'bye' })
      setTimeout(() => process.exit(0), 50)
      break
    default:
      emit({ event: 'error', message: `unknown command ${command.cmd}` })
  }
})
emit({ event: 'ready' })
