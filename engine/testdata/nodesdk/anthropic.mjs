// The Anthropic Node SDK's checks of the gateway's Anthropic surface
// (/v1/messages, streamed and not, its errors, and /v1/models as the
// Anthropic SDK calls it), for the mock and every provider's fake; lib.mjs
// says how engine/nodesdk_test.go runs them.
import Anthropic from '@anthropic-ai/sdk';
import { url, key, anthropic, providers, check, assert, sameJSON, show, done } from './lib.mjs';

// The tool in Anthropic's format
// (https://docs.anthropic.com/en/docs/agents-and-tools/tool-use/implement-tool-use).
const weatherTool = {
  name: 'get_weather',
  description: 'The forecast for a city.',
  input_schema: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } }, required: ['city'] },
};
const question = { role: 'user', content: 'Weather in Paris for 3 days?' };

// checkMessage checks the members every Message carries
// (https://docs.anthropic.com/en/api/messages, the response).
function checkMessage(m, model) {
  assert(typeof m.id === 'string' && m.id && m.type === 'message' && m.role === 'assistant', 'message head ' + show(m));
  assert(typeof m.model === 'string' && m.model, 'model ' + show(m.model) + ' for ' + model);
  assert(Array.isArray(m.content), 'content ' + show(m.content));
  const u = m.usage || {};
  assert(Number.isInteger(u.input_tokens) && Number.isInteger(u.output_tokens) && u.output_tokens >= 0, 'usage ' + show(u));
  for (const k of ['cache_creation_input_tokens', 'cache_read_input_tokens']) {
    assert(u[k] == null || Number.isInteger(u[k]), `usage.${k} ` + show(u));
  }
  assert('stop_sequence' in m, 'no stop_sequence member ' + show(m));
}

const textOf = (m) => m.content.filter((b) => b.type === 'text').map((b) => b.text).join('');

// streamed runs messages.stream and checks the event sequence
// (https://docs.anthropic.com/en/docs/build-with-claude/streaming):
// message_start first, then for each block content_block_start, its
// deltas and content_block_stop, then message_delta and message_stop; the
// text and input_json deltas must add up to finalMessage()'s blocks.
async function streamed(params) {
  const s = anthropic.messages.stream(params);
  const types = [];
  const blocks = [];
  let open = -1;
  let delta;
  for await (const ev of s) {
    types.push(ev.type);
    switch (ev.type) {
      case 'content_block_start':
        assert(open === -1 && ev.index === blocks.length, `content_block_start ${ev.index} with ${open} open, ${blocks.length} seen`);
        open = ev.index;
        blocks.push({ type: ev.content_block.type, text: '', json: '', start: ev.content_block });
        break;
      case 'content_block_delta':
        assert(ev.index === open, `delta for ${ev.index} while ${open} is open`);
        if (ev.delta.type === 'text_delta') blocks[open].text += ev.delta.text;
        else if (ev.delta.type === 'input_json_delta') blocks[open].json += ev.delta.partial_json;
        break;
      case 'content_block_stop':
        assert(ev.index === open, `content_block_stop ${ev.index} while ${open} is open`);
        open = -1;
        break;
      case 'message_delta':
        delta = ev;
        break;
    }
  }
  const final = await s.finalMessage();
  const seq = types.join(',');
  assert(types[0] === 'message_start' && types.at(-1) === 'message_stop' && types.at(-2) === 'message_delta', 'event sequence ' + seq);
  assert(open === -1, 'a block never stopped: ' + seq);
  assert(delta && Number.isInteger(delta.usage?.output_tokens), 'message_delta ' + show(delta));
  assert(final.content.length === blocks.length, `final has ${final.content.length} blocks, events ${blocks.length}: ${show(final.content)}`);
  blocks.forEach((b, i) => {
    const f = final.content[i];
    assert(f.type === b.type, `block ${i}: final ${f.type}, events ${b.type}`);
    if (b.type === 'text') assert(f.text === b.text, `block ${i}: text deltas ${show(b.text)}, final ${show(f.text)}`);
    if (b.type === 'tool_use') {
      assert(b.start.id === f.id && b.start.name === f.name, `block ${i}: start ${show(b.start)}, final ${show(f)}`);
      assert(sameJSON(b.json || '{}', JSON.stringify(f.input)), `block ${i}: input_json deltas ${show(b.json)}, final input ${show(f.input)}`);
      assert(b.json !== '' || Object.keys(f.input).length === 0, `block ${i}: no input_json_delta for ${show(f.input)}`);
    }
  });
  assert(s.request_id, 'stream request_id ' + s.request_id);
  return final;
}

const create = (params, stream) => (stream ? streamed(params) : anthropic.messages.create(params));

for (const stream of [false, true]) {
  const sfx = stream ? ' stream' : '';
  await check('messages.create mock/echo' + sfx, async () => {
    const m = await create({ model: 'mock/echo', max_tokens: 64, messages: [{ role: 'user', content: 'hello there' }] }, stream);
    checkMessage(m, 'mock/echo');
    assert(textOf(m) === 'hello there' && m.stop_reason === 'end_turn', 'answer ' + show(m));
    if (!stream) assert(m._request_id, '_request_id ' + m._request_id);
  });

  for (const p of providers) {
    await check('messages tool round trip ' + p.model + sfx, async () => {
      const params = { model: p.model, max_tokens: 1024, system: 'You are a weather bot.', tools: [weatherTool], messages: [question] };
      const first = await create(params, stream);
      checkMessage(first, p.model);
      if (!stream) assert(first._request_id, '_request_id ' + first._request_id);
      assert(first.stop_reason === 'tool_use', 'first stop_reason ' + show(first));
      const use = first.content.find((b) => b.type === 'tool_use');
      assert(use && use.name === 'get_weather' && use.id && sameJSON(JSON.stringify(use.input), p.args), 'tool_use in ' + show(first.content));
      const second = await create(
        {
          ...params,
          messages: [
            question,
            { role: 'assistant', content: first.content },
            { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: '{"forecast":"sunny"}' }] },
          ],
        },
        stream,
      );
      checkMessage(second, p.model);
      assert(second.stop_reason === 'end_turn', 'second stop_reason ' + show(second));
      assert(textOf(second) === p.reply, `final answer ${show(textOf(second))}, want ${show(p.reply)}`);
    });
  }
}

// Each error status's SDK class, with Anthropic's envelope
// (https://docs.anthropic.com/en/api/errors: {"type":"error","error":
// {"type","message"},"request_id"}) and the request-id header.
await check('messages errors', async () => {
  const bad = new Anthropic({ baseURL: url, apiKey: 'sk-wrong', maxRetries: 0, timeout: 30_000 });
  const cases = [
    ['bad key', bad, { model: 'mock/echo', max_tokens: 10, messages: [question] }, Anthropic.AuthenticationError, 'authentication_error'],
    ['unknown model', anthropic, { model: 'nope-model-x', max_tokens: 10, messages: [question] }, Anthropic.NotFoundError, 'not_found_error'],
    ['no max_tokens', anthropic, { model: 'mock/echo', messages: [question] }, Anthropic.BadRequestError, 'invalid_request_error'],
    ['messages not an array', anthropic, { model: 'mock/echo', max_tokens: 10, messages: 'hi' }, Anthropic.BadRequestError, 'invalid_request_error'],
    ['bad role', anthropic, { model: 'mock/echo', max_tokens: 10, messages: [{ role: 'robot', content: 'hi' }] }, Anthropic.BadRequestError, 'invalid_request_error'],
    ['temperature a string', anthropic, { model: 'mock/echo', max_tokens: 10, temperature: 'hot', messages: [question] }, Anthropic.BadRequestError, 'invalid_request_error'],
    ['max_tokens 0', anthropic, { model: 'mock/echo', max_tokens: 0, messages: [question] }, Anthropic.BadRequestError, 'invalid_request_error'],
  ];
  for (const [name, client, params, cls, type] of cases) {
    for (const stream of [false, true]) {
      try {
        if (stream) await client.messages.stream(params).finalMessage();
        else await client.messages.create(params);
        throw new Error(`${name}: no error for ` + show(params));
      } catch (e) {
        assert(e instanceof cls, `${name}${stream ? ' stream' : ''}: want ${cls.name}, got ${e.constructor.name}: ${e.message}`);
        assert(e.error?.type === 'error' && e.error?.error?.type === type && e.type === type, `${name}: envelope ${show(e.error)}`);
        assert(typeof e.error.error.message === 'string' && e.error.error.message, `${name}: message ${show(e.error)}`);
        assert(e.requestID, `${name}: requestID ${e.requestID}`);
        assert(!e.message.includes(key) || key.length < 4, `${name}: the key in the message`);
      }
    }
  }
});

// GET /v1/models as the Anthropic SDK calls it (anthropic-version header):
// Anthropic's list shape and cursor pagination
// (https://docs.anthropic.com/en/api/models-list), and models.retrieve
// (https://docs.anthropic.com/en/api/models).
await check('models.list and retrieve', async () => {
  const rfc3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;
  const all = [];
  for await (const m of anthropic.models.list({ limit: 1000 })) all.push(m);
  assert(all.length >= 5, 'models ' + show(all));
  for (const m of all) {
    assert(m.type === 'model' && typeof m.id === 'string' && typeof m.display_name === 'string' && m.display_name, 'model ' + show(m));
    assert(rfc3339.test(m.created_at) && !Number.isNaN(Date.parse(m.created_at)), 'created_at ' + show(m));
  }
  const ids = all.map((m) => m.id);
  assert(new Set(ids).size === ids.length, 'duplicate ids ' + show(ids));
  // The catalog's models are listed (Ollama's are what its /api/tags
  // reports: none, from the fake here).
  const catalogued = ['mock/echo', ...providers.map((p) => p.model).filter((m) => !m.startsWith('ollama/'))];
  for (const p of catalogued) assert(ids.includes(p), p + ' not listed: ' + show(ids));

  // One page of 2, then the next by after_id, then back by before_id.
  const page = await anthropic.models.list({ limit: 2 });
  assert(page.data.length === 2 && page.has_more === true, 'first page ' + show(page.data) + ' has_more ' + page.has_more);
  assert(page.first_id === ids[0] && page.last_id === ids[1] && page.data[0].id === ids[0], `first page ids ${page.first_id}..${page.last_id}, want ${ids[0]}..${ids[1]}`);
  const next = await page.getNextPage();
  assert(next.data.map((m) => m.id).join() === ids.slice(2, 4).join(), 'next page ' + show(next.data.map((m) => m.id)));
  let walked = 0;
  for await (const _ of anthropic.models.list({ limit: 2 })) walked++;
  assert(walked === ids.length, `auto-pagination walked ${walked} of ${ids.length}`);
  const back = await anthropic.models.list({ before_id: ids[3], limit: 2 });
  assert(back.data.map((m) => m.id).join() === ids.slice(1, 3).join() && back.has_more === true, 'before_id page ' + show(back.data.map((m) => m.id)));
  const last = await anthropic.models.list({ after_id: ids.at(-2) });
  assert(last.data.length === 1 && last.data[0].id === ids.at(-1) && last.has_more === false, 'last page ' + show(last));
  const empty = await anthropic.models.list({ after_id: ids.at(-1) });
  assert(empty.data.length === 0 && empty.has_more === false && empty.first_id === null && empty.last_id === null, 'past the end ' + show(empty));

  for (const id of ['mock/echo', 'anthropic/claude-sonnet-4-0']) {
    const m = await anthropic.models.retrieve(id);
    assert(m.type === 'model' && m.id === id && m.display_name && rfc3339.test(m.created_at), 'retrieve ' + show(m));
    assert(m._request_id, 'retrieve _request_id ' + m._request_id);
  }
  try {
    await anthropic.models.retrieve('nope-model-x');
    throw new Error('no error for an unknown model');
  } catch (e) {
    assert(e instanceof Anthropic.NotFoundError && e.error?.error?.type === 'not_found_error', 'retrieve unknown: ' + e.constructor.name + ' ' + show(e.error));
  }
  try {
    await anthropic.models.list({ limit: 0 });
    throw new Error('no error for limit 0');
  } catch (e) {
    assert(e instanceof Anthropic.BadRequestError && e.error?.error?.type === 'invalid_request_error', 'limit 0: ' + e.constructor.name + ' ' + show(e.error));
  }
});

done();
