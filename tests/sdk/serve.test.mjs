// The official OpenAI Node SDK against `glmasr serve` on the CPU with the tiny checkpoint:
// every response_format, streaming (stream: true, the SDK's event iterator), models.list /
// retrieve, and client mistakes arriving as the SDK's typed exceptions. Run by ctest (label e2e): GLMASR_BINARY, GLMASR_MODEL_DIR and GLMASR_AUDIO
// name the binary, the checkpoint and a speech file.
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI, { toFile } from 'openai';
import { binary, modelDir, startServer, stopServer } from './glmasr_server.mjs';

const audioPath = process.env.GLMASR_AUDIO;

describe('glmasr serve through the OpenAI SDK', () => {
  let server;
  let client;

  before(async () => {
    assert.ok(binary && modelDir && audioPath, 'GLMASR_BINARY, GLMASR_MODEL_DIR and GLMASR_AUDIO must be set');
    server = startServer();
    const port = await server.port;
    client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'not-checked', maxRetries: 0 });
  });

  after(async () => {
    if (!server) return;
    assert.equal(await stopServer(server), 0, `glmasr serve did not exit cleanly:\n${server.log()}`);
  });

  const transcribe = (extra) => client.audio.transcriptions.create({
    file: fs.createReadStream(audioPath), model: 'GLM-ASR-Nano-2512', ...extra });

  test('json (the default) returns an object with text', async () => {
    const result = await transcribe({});
    assert.equal(typeof result.text, 'string');
  });

  test('text, srt and vtt return strings in their formats', async () => {
    const text = await transcribe({ response_format: 'text' });
    assert.equal(typeof text, 'string');
    const srt = await transcribe({ response_format: 'srt' });
    assert.match(srt, /^1\n\d\d:\d\d:\d\d,\d\d\d --> \d\d:\d\d:\d\d,\d\d\d\n/);
    const vtt = await transcribe({ response_format: 'vtt' });
    assert.match(vtt, /^WEBVTT/);
  });

  test('verbose_json has duration and segments', async () => {
    const result = await transcribe({ response_format: 'verbose_json' });
    assert.ok(result.duration > 10 && result.duration < 12, `duration ${result.duration}`);
    assert.ok(Array.isArray(result.segments) && result.segments.length >= 1);
    assert.equal(typeof result.segments[0].text, 'string');
  });

  test('stream: true yields deltas, then done with usage; joined deltas = done.text = the non-streamed text', async () => {
    const plain = await transcribe({});
    const stream = await transcribe({ stream: true });
    const deltas = [];
    let done;
    for await (const event of stream) {
      if (event.type === 'transcript.text.delta') {
        assert.equal(done, undefined, 'a delta after done');
        deltas.push(event.delta);
      } else {
        assert.equal(event.type, 'transcript.text.done');
        done = event;
      }
    }
    assert.ok(done, 'no transcript.text.done event');
    assert.ok(plain.text.length > 0, 'the tiny checkpoint transcribes to something');
    assert.ok(deltas.length >= 1, 'no transcript.text.delta event');
    assert.equal(deltas.join(''), done.text);
    assert.equal(done.text, plain.text);
    assert.equal(done.usage.type, 'tokens');
    assert.ok(done.usage.input_tokens > 0 && done.usage.output_tokens > 0, JSON.stringify(done.usage));
    assert.equal(done.usage.total_tokens, done.usage.input_tokens + done.usage.output_tokens);
  });

  test('stream: true with response_format srt is a BadRequestError', async () => {
    await assert.rejects(transcribe({ stream: true, response_format: 'srt' }),
                         (error) => error instanceof OpenAI.BadRequestError && /srt/.test(error.message));
  });

  test('models.list and models.retrieve name the served model', async () => {
    const models = [];
    for await (const model of client.models.list()) models.push(model.id);
    assert.deepEqual(models, ['GLM-ASR-Nano-2512']);
    const model = await client.models.retrieve('GLM-ASR-Nano-2512');
    assert.equal(model.id, 'GLM-ASR-Nano-2512');
    assert.equal(model.object, 'model');
  });

  test('an unknown model is a NotFoundError', async () => {
    await assert.rejects(client.models.retrieve('whisper-1'), (error) => {
      assert.ok(error instanceof OpenAI.NotFoundError, `got ${error?.constructor?.name}`);
      assert.equal(error.status, 404);
      assert.match(error.message, /whisper-1/);
      return true;
    });
  });

  test('client mistakes are BadRequestErrors naming the problem', async () => {
    await assert.rejects(transcribe({ response_format: 'xml' }), (error) => {
      assert.ok(error instanceof OpenAI.BadRequestError, `got ${error?.constructor?.name}`);
      assert.match(error.message, /response_format 'xml'/);
      assert.equal(error.type, 'invalid_request_error');
      return true;
    });
    const notAudio = await toFile(Buffer.from('this is not audio'), 'notes.txt');
    await assert.rejects(
      client.audio.transcriptions.create({ file: notAudio, model: 'GLM-ASR-Nano-2512' }),
      (error) => {
        assert.ok(error instanceof OpenAI.BadRequestError, `got ${error?.constructor?.name}`);
        assert.match(error.message, /notes\.txt/);
        return true;
      });
  });

  test('a wrong route through the SDK is a NotFoundError', async () => {
    await assert.rejects(client.audio.translations.create({ file: fs.createReadStream(audioPath), model: 'x' }),
                         (error) => error instanceof OpenAI.NotFoundError);
  });
});
