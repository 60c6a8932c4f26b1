// CRS's whole-hash rewrite, in Node as CRS runs it: HGETALL, set lastUsedAt, HSET every field,
// EXPIRE; all commands of all requests on one connection, pipelined, as ioredis sends them.
// Run by bench/crs_rewrite_window.py (no packages needed: a minimal RESP client is below).
//
//   node bench/crs_rewrite_window.js PORT SAMPLES CONCURRENT RATE_PER_SECOND(0 = flat out)
//
// Prints one JSON line: the read-to-write windows in milliseconds (HGETALL sent -> HSET's reply).
"use strict";
const net = require("net");

class Resp {
  constructor(port) {
    this.socket = net.connect(port, "127.0.0.1");
    this.socket.setNoDelay(true);
    this.buffer = Buffer.alloc(0);
    this.waiting = [];
    this.socket.on("data", (data) => {
      this.buffer = this.buffer.length ? Buffer.concat([this.buffer, data]) : data;
      for (;;) {
        const parsed = this.waiting.length ? parse(this.buffer, 0) : null;
        if (!parsed) return;
        this.buffer = this.buffer.subarray(parsed[1]);
        this.waiting.shift()(parsed[0]);
      }
    });
  }

  call(...args) {
    const parts = [`*${args.length}\r\n`];
    for (const arg of args) {
      const bytes = Buffer.from(String(arg));
      parts.push(`$${bytes.length}\r\n`, bytes, "\r\n");
    }
    this.socket.write(Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p)))));
    return new Promise((resolve) => this.waiting.push(resolve));
  }
}

// One RESP2 reply from `buffer` at `at`: [value, end] or null when incomplete.
function parse(buffer, at) {
  const line = buffer.indexOf("\r\n", at);
  if (line < 0) return null;
  const kind = String.fromCharCode(buffer[at]);
  const head = buffer.toString("utf8", at + 1, line);
  if (kind === "+" || kind === "-" || kind === ":") return [head, line + 2];
  if (kind === "$") {
    const size = Number(head);
    if (size < 0) return [null, line + 2];
    if (buffer.length < line + 2 + size + 2) return null;
    return [buffer.toString("utf8", line + 2, line + 2 + size), line + 2 + size + 2];
  }
  if (kind === "*") {
    const items = [];
    let next = line + 2;
    for (let i = 0; i < Number(head); i++) {
      const item = parse(buffer, next);
      if (!item) return null;
      items.push(item[0]);
      next = item[1];
    }
    return [items, next];
  }
  throw new Error(`unexpected reply type ${kind}`);
}

async function main() {
  const [port, samples, concurrent, rate] = process.argv.slice(2).map(Number);
  const redis = new Resp(port);
  const ids = await redis.call("SMEMBERS", "apikey:idx:all");
  const windows = [];
  const perWorker = Math.max(1, Math.floor(samples / concurrent));
  const interval = rate ? (concurrent / rate) * 1000 : 0;
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

  async function worker(offset) {
    let nextAt = performance.now() + Math.random() * interval;
    for (let step = 0; step < perWorker; step++) {
      if (interval) {
        await sleep(nextAt - performance.now());
        nextAt += interval;
      }
      const key = `apikey:${ids[(offset * perWorker + step) % ids.length]}`;
      const started = performance.now();
      const flat = await redis.call("HGETALL", key);
      const fields = {};
      for (let i = 0; i < flat.length; i += 2) fields[flat[i]] = flat[i + 1];
      fields.lastUsedAt = new Date().toISOString();
      const args = ["HSET", key];
      for (const [name, value] of Object.entries(fields)) args.push(name, value);
      await redis.call(...args);
      windows.push(performance.now() - started);
      await redis.call("EXPIRE", key, 31536000);
    }
  }

  await Promise.all(Array.from({ length: concurrent }, (_, n) => worker(n)));
  redis.socket.end();
  process.stdout.write(JSON.stringify(windows) + "\n");
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
