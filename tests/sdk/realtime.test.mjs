// The Realtime transcription WebSocket of `glmasr serve` (CPU, tiny checkpoint) through the `ws`
// client: manual turns at 16 kHz, server-VAD turns at 24 kHz, interim hypotheses, and every bad
// input. Each completed turn must equal `glmasr transcribe` on exactly that turn's samples
// (written to a WAV here). Run by ctest (label e2e): GLMASR_BINARY, GLMASR_MODEL_DIR, and
// GLMASR_AUDIO_16K / GLMASR_AUDIO_24K (16-bit mono WAVs of speech).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { binary, maxNewTokens, modelDir, startServer, stopServer } from './glmasr_server.mjs';

const kMaxSessionSeconds = 40;

// The samples of a 16-bit PCM mono WAV.
function readWav(file) {
  const bytes = fs.readFileSync(file);
  let at = 12;
  let rate = 0;
  while (at + 8 <= bytes.length) {
    const id = bytes.toString('ascii', at, at + 4);
    const size = bytes.readUInt32LE(at + 4);
    if (id === 'fmt ') rate = bytes.readUInt32LE(at + 12);
    if (id === 'data') {
      const data = bytes.subarray(at + 8, at + 8 + size);
      return { rate, samples: new Int16Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.length)) };
    }
    at += 8 + size + (size % 2);
  }
  throw new Error(`${file}: no data chunk`);
}

function writeWav(file, samples, rate) {
  const header = Buffer.alloc(44);
  header.write('RIFF', 0); header.writeUInt32LE(36 + samples.length * 2, 4); header.write('WAVE', 8);
  header.write('fmt ', 12); header.writeUInt32LE(16, 16); header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22); header.writeUInt32LE(rate, 24); header.writeUInt32LE(rate * 2, 28);
  header.writeUInt16LE(2, 32); header.writeUInt16LE(16, 34); header.write('data', 36);
  header.writeUInt32LE(samples.length * 2, 40);
  fs.writeFileSync(file, Buffer.concat([header, Buffer.from(samples.buffer, samples.byteOffset, samples.length * 2)]));
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'glmasr-realtime-'));
let wavCount = 0;

// `glmasr transcribe` of exactly these samples: its text and generated token count.
function offline(samples, rate) {
  const file = path.join(tmp, `turn${wavCount++}.wav`);
  writeWav(file, samples, rate);
  const out = execFileSync(binary, ['transcribe', '--device', 'cpu', '--model', modelDir, '--quiet',
                                    '--max-new-tokens', maxNewTokens, '--format', 'verbose_json', file]);
  const result = JSON.parse(out.toString());
  const tokens = result.segments.reduce((n, segment) => n + segment.tokens.length, 0);
  return { text: result.text, tokens };
}

const base64 = (samples) => Buffer.from(samples.buffer, samples.byteOffset, samples.length * 2).toString('base64');

// A connected socket that records every server event; next(type) waits for the next of a type.
async function connect(port, query = '?intent=transcription') {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/realtime${query}`);
  const events = [];
  const waiters = [];
  let read = 0;
  ws.on('message', (data) => {
    events.push(JSON.parse(data.toString()));
    for (const waiter of [...waiters]) waiter();
  });
  const closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  await new Promise((resolve, reject) => { ws.on('open', resolve); ws.on('error', reject); });
  // Resolves with the first event of `type` after the last one returned.
  const next = (type, timeoutMs = 60000) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${type} within ${timeoutMs} ms; got ${JSON.stringify(events.slice(read).map((e) => e.type))}`)), timeoutMs);
    const check = () => {
      for (let i = read; i < events.length; ++i) {
        if (events[i].type === type) {
          read = i + 1;
          clearTimeout(timer);
          waiters.splice(waiters.indexOf(check), 1);
          return resolve(events[i]);
        }
      }
    };
    waiters.push(check);
    check();
  });
  const send = (event) => ws.send(JSON.stringify(event));
  return { ws, events, next, send, closed };
}

function update(input) {
  return { type: 'session.update', session: { type: 'transcription', audio: { input } } };
}

// Appends in 100 ms pieces, pausing `pauseMs` between them.
async function feed(client, samples, rate, pauseMs = 0) {
  const piece = rate / 10;
  for (let at = 0; at < samples.length; at += piece) {
    client.send({ type: 'input_audio_buffer.append', audio: base64(samples.subarray(at, at + piece)) });
    if (pauseMs) await new Promise((resolve) => setTimeout(resolve, pauseMs));
  }
}

// Collects the deltas and the completion of `item`.
async function completion(client, item) {
  const completed = await client.next('conversation.item.input_audio_transcription.completed');
  assert.equal(completed.item_id, item);
  const deltas = client.events.filter((e) => e.type === 'conversation.item.input_audio_transcription.delta' && e.item_id === item);
  assert.equal(deltas.map((d) => d.delta).join(''), completed.transcript);
  return completed;
}

function assertMatchesOffline(completed, samples, rate) {
  const reference = offline(samples, rate);
  assert.equal(completed.transcript, reference.text);
  assert.equal(completed.usage.output_tokens, reference.tokens);
  assert.ok(completed.usage.input_tokens > 0);
  assert.equal(completed.usage.total_tokens, completed.usage.input_tokens + completed.usage.output_tokens);
}

describe('glmasr serve /v1/realtime through ws', () => {
  let server;
  let port;
  const speech16 = readWav(process.env.GLMASR_AUDIO_16K);
  const speech24 = readWav(process.env.GLMASR_AUDIO_24K);

  before(async () => {
    assert.ok(binary && modelDir, 'GLMASR_BINARY and GLMASR_MODEL_DIR must be set');
    assert.equal(speech16.rate, 16000);
    assert.equal(speech24.rate, 24000);
    server = startServer(['--max-session-seconds', String(kMaxSessionSeconds)]);
    port = await server.port;
  });

  after(async () => {
    fs.rmSync(tmp, { recursive: true, force: true });
    if (!server) return;
    assert.equal(await stopServer(server), 0, `glmasr serve did not exit cleanly:\n${server.log()}`);
  });

  test('manual turns at 16 kHz: committed, deltas, completed = glmasr transcribe of the turn', async () => {
    const client = await connect(port);
    const created = await client.next('session.created');
    assert.equal(created.session.type, 'transcription');
    client.send(update({ format: { type: 'audio/pcm', rate: 16000 }, turn_detection: null }));
    const updated = await client.next('session.updated');
    assert.equal(updated.session.audio.input.turn_detection, null);

    const turns = [speech16.samples.subarray(0, 5 * 16000), speech16.samples.subarray(5 * 16000)];
    let previous = null;
    for (const turn of turns) {
      await feed(client, turn, 16000);
      client.send({ type: 'input_audio_buffer.commit' });
      const committed = await client.next('input_audio_buffer.committed');
      assert.equal(committed.previous_item_id, previous);
      const completed = await completion(client, committed.item_id);
      assertMatchesOffline(completed, turn, 16000);
      previous = committed.item_id;
    }
    client.ws.close();
  });

  test('server VAD turns at 24 kHz: each turn is the audio between its boundaries', async () => {
    const client = await connect(port);
    await client.next('session.created');
    client.send(update({ format: { type: 'audio/pcm', rate: 24000 },
                         turn_detection: { type: 'server_vad', threshold: 0.5, prefix_padding_ms: 300, silence_duration_ms: 500 } }));
    await client.next('session.updated');
    // silence, speech, a long pause, the speech again, silence
    const rate = 24000;
    const gap = new Int16Array(rate * 1.5);
    const parts = [new Int16Array(rate / 2), speech24.samples, gap, speech24.samples, gap];
    const all = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const part of parts) { all.set(part, at); at += part.length; }
    await feed(client, all, rate);

    const stopped = [];
    for (;;) {
      const started = await client.next('input_audio_buffer.speech_started');
      const stop = await client.next('input_audio_buffer.speech_stopped');
      assert.equal(stop.item_id, started.item_id);
      stopped.push({ item: started.item_id, start: started.audio_start_ms, end: stop.audio_end_ms });
      if (stop.audio_end_ms > (rate / 2 + 2 * speech24.samples.length + gap.length) / rate * 1000) break;
    }
    assert.ok(stopped.length >= 2, `turns: ${JSON.stringify(stopped)}`);
    for (const turn of stopped) {
      const completed = await completion(client, turn.item);
      assertMatchesOffline(completed, all.subarray(turn.start * rate / 1000, turn.end * rate / 1000), rate);
    }
    client.ws.close();
  });

  test('interim hypotheses of the open turn, with their agreed prefix', async () => {
    const client = await connect(port);
    await client.next('session.created');
    client.send(update({ format: { type: 'audio/pcm', rate: 16000 }, turn_detection: null,
                         interim: { enabled: true, interval_ms: 500 } }));
    const updated = await client.next('session.updated');
    assert.deepEqual(updated.session.audio.input.interim, { enabled: true, interval_ms: 500 });
    await feed(client, speech16.samples, 16000, 20);  // five times real time
    const interim = await client.next('conversation.item.input_audio_transcription.interim');
    assert.equal(typeof interim.transcript, 'string');
    assert.ok(interim.transcript.startsWith(interim.agreed));
    client.send({ type: 'input_audio_buffer.commit' });
    const committed = await client.next('input_audio_buffer.committed');
    assert.equal(committed.item_id, interim.item_id);
    await completion(client, committed.item_id);
    client.ws.close();
  });

  test('bad input: an error event each, and the session goes on', async () => {
    const client = await connect(port);
    await client.next('session.created');
    const expectError = async (code) => {
      const error = await client.next('error');
      assert.equal(error.error.code, code, JSON.stringify(error));
      assert.equal(error.error.type, 'invalid_request_error');
      return error;
    };
    client.ws.send('{not json');
    await expectError('invalid_json');
    client.send({ type: 'conversation.item.create', event_id: 'evt_1' });
    assert.equal((await expectError('unknown_event_type')).error.event_id, 'evt_1');
    client.send({ type: 'input_audio_buffer.append', audio: '***' });
    await expectError('invalid_base64');
    client.send({ type: 'input_audio_buffer.append', audio: Buffer.from([1, 2, 3]).toString('base64') });
    await expectError('invalid_audio_length');
    client.send({ type: 'input_audio_buffer.append', audio: 'A'.repeat(15 * 1024 * 1024 + 4) });
    await expectError('audio_too_large');
    client.send(update({ format: { type: 'audio/pcm', rate: 44100 } }));
    assert.equal((await expectError('unsupported_sample_rate')).error.param, 'session.audio.input.format.rate');
    client.send({ type: 'input_audio_buffer.commit' });
    await expectError('input_audio_buffer_commit_empty');

    client.send(update({ format: { type: 'audio/pcm', rate: 16000 }, turn_detection: null }));
    await client.next('session.updated');
    await feed(client, speech16.samples.subarray(0, 16000), 16000);
    client.send({ type: 'input_audio_buffer.commit' });
    const committed = await client.next('input_audio_buffer.committed');
    await completion(client, committed.item_id);
    client.ws.close();
  });

  test('a session past --max-session-seconds gets an error and close 1008; others go on', async () => {
    const long = await connect(port);
    await long.next('session.created');
    long.send(update({ format: { type: 'audio/pcm', rate: 16000 }, turn_detection: null }));
    await long.next('session.updated');
    const second = new Int16Array(16000);
    for (let s = 0; s <= kMaxSessionSeconds; ++s) {
      long.send({ type: 'input_audio_buffer.append', audio: base64(second) });
      if (s % 9 === 8) long.send({ type: 'input_audio_buffer.clear' });  // the buffer limit is not the point
    }
    assert.equal((await long.next('error')).error.code, 'session_too_long');
    const { code } = await long.closed;
    assert.equal(code, 1008);

    const other = await connect(port);
    await other.next('session.created');
    other.send(update({ format: { type: 'audio/pcm', rate: 16000 }, turn_detection: null }));
    await other.next('session.updated');
    await feed(other, speech16.samples.subarray(0, 16000), 16000);
    other.send({ type: 'input_audio_buffer.commit' });
    await completion(other, (await other.next('input_audio_buffer.committed')).item_id);
    other.ws.close();
  });

  test('a client that stops reading is closed with 1008; another client never notices', async () => {
    const metric = async (name) => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith(name + ' '));
      assert.ok(line, `no ${name} in /metrics`);
      return Number(line.split(' ').pop());
    };
    const slowReaderCloses = () => metric('glmasr:realtime_slow_reader_closes_total');
    const closesBefore = await slowReaderCloses();
    const stuck = await connect(port);
    await stuck.next('session.created');
    assert.ok(await metric('glmasr:realtime_sessions') >= 1);  // earlier tests' may still be closing
    stuck.ws._socket.pause();  // read nothing more
    // Every event is answered by an error event of ~300 bytes. How much of that the kernel
    // buffers before the server's 4 MB send queue fills depends on the machine (Debian's
    // tcp_rmem allows a 32 MB receive buffer), so the client sends until the server reports the
    // close on /metrics, then reads again: the close frame waits behind what is buffered.
    const event = JSON.stringify({ type: 'nope', event_id: 'x'.repeat(120) });
    const sendBatch = () => { for (let i = 0; i < 20000; ++i) stuck.ws.send(event); };
    sendBatch();

    const other = await connect(port);  // served while the stuck session's output piles up
    await other.next('session.created');
    other.send(update({ format: { type: 'audio/pcm', rate: 16000 }, turn_detection: null }));
    await other.next('session.updated');
    await feed(other, speech16.samples.subarray(0, 16000), 16000);
    other.send({ type: 'input_audio_buffer.commit' });
    await completion(other, (await other.next('input_audio_buffer.committed')).item_id);
    other.ws.close();

    const deadline = Date.now() + 240000;
    while (await slowReaderCloses() === closesBefore) {
      assert.ok(Date.now() < deadline, 'the server never closed the client that stopped reading');
      if (stuck.ws.bufferedAmount < (8 << 20)) sendBatch();  // a slow (sanitized) server: wait
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    stuck.ws._socket.resume();  // within the server's 5 s close timeout
    const { code } = await stuck.closed;
    assert.equal(code, 1008);
  });

  test('a wrong intent is refused before the upgrade', async () => {
    await assert.rejects(connect(port, '?intent=conversation'), /400/);
  });
});
