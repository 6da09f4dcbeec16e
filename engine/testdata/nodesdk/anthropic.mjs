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

// A request shaped as Claude Code sends one
// (https://docs.anthropic.com/en/api/messages): system as text blocks with
// cache_control, metadata.user_id, stop_sequences, a base64 image, a tool
// with cache_control, and a history whose assistant turn holds a thinking
// block (with its signature) before its tool_use; then count_tokens on the
// same body. Every provider must accept it.
const png1x1 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
for (const p of providers) {
  await check('claude code shaped request ' + p.model, async () => {
    const base = {
      model: p.model,
      max_tokens: 32000,
      system: [
        { type: 'text', text: 'You are a weather bot.' },
        { type: 'text', text: 'Answer briefly.', cache_control: { type: 'ephemeral' } },
      ],
      metadata: { user_id: 'user_2f1a_account_9c_session_77' },
      stop_sequences: ['\n\nHuman:'],
      temperature: 1,
      tools: [{ ...weatherTool, cache_control: { type: 'ephemeral' } }],
    };
    const ask = {
      role: 'user',
      content: [
        { type: 'image', source: { type: 'base64', media_type: 'image/png', data: png1x1 } },
        { type: 'text', text: 'Weather in Paris for 3 days?', cache_control: { type: 'ephemeral' } },
      ],
    };
    const first = await anthropic.messages.create({ ...base, messages: [ask] });
    checkMessage(first, p.model);
    const use = first.content.find((b) => b.type === 'tool_use');
    assert(first.stop_reason === 'tool_use' && use, 'first turn ' + show(first));
    const history = [
      ask,
      {
        role: 'assistant',
        content: [{ type: 'thinking', thinking: 'The user wants a forecast.', signature: 'EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds' }, use],
      },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: [{ type: 'text', text: '{"forecast":"sunny"}' }] }] },
    ];
    const second = await anthropic.messages.create({ ...base, messages: history });
    checkMessage(second, p.model);
    assert(second.stop_reason === 'end_turn' && textOf(second) === p.reply, 'second turn ' + show(second));
    const { max_tokens, metadata, stop_sequences, temperature, ...countable } = base;
    const n = await anthropic.messages.countTokens({ ...countable, messages: history });
    assert(Number.isInteger(n.input_tokens) && n.input_tokens > 0, 'count ' + show(n));
  });
}

// tool_choice naming the tool, and a tool_result marked is_error.
for (const p of providers) {
  await check('tool_choice and is_error ' + p.model, async () => {
    const params = { model: p.model, max_tokens: 512, tools: [weatherTool], tool_choice: { type: 'tool', name: 'get_weather' }, messages: [question] };
    const first = await anthropic.messages.create(params);
    const use = first.content.find((b) => b.type === 'tool_use');
    assert(use && use.name === 'get_weather', 'first turn ' + show(first));
    const second = await anthropic.messages.create({
      ...params,
      tool_choice: { type: 'auto' },
      messages: [
        question,
        { role: 'assistant', content: first.content },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, is_error: true, content: 'the weather service is down' }] },
      ],
    });
    checkMessage(second, p.model);
    assert(second.stop_reason === 'end_turn' && textOf(second), 'second turn ' + show(second));
  });
}

// Claude Code calls the beta endpoints (?beta=true, anthropic-beta).
await check('beta messages, count_tokens and models', async () => {
  const betas = ['interleaved-thinking-2025-05-14', 'fine-grained-tool-streaming-2025-05-14'];
  for (const model of ['mock/echo', ...providers.map((p) => p.model)]) {
    const m = await anthropic.beta.messages.create({ model, max_tokens: 128, betas, messages: [{ role: 'user', content: 'hi' }] });
    assert(m.type === 'message' && m.content.length > 0 && m._request_id, model + ': ' + show(m));
    const s = anthropic.beta.messages.stream({ model, max_tokens: 128, betas, messages: [{ role: 'user', content: 'hi' }] });
    const f = await s.finalMessage();
    assert(f.type === 'message' && f.stop_reason, model + ' stream: ' + show(f));
    const n = await anthropic.beta.messages.countTokens({ model, betas, messages: [{ role: 'user', content: 'hi' }] });
    assert(Number.isInteger(n.input_tokens), model + ' count: ' + show(n));
  }
  const page = await anthropic.beta.models.list({ limit: 3 });
  assert(page.data.length === 3 && page.data.every((m) => m.type === 'model' && m.created_at), 'beta models ' + show(page.data));
});

// model "auto" with Claude Code's max_tokens: the gateway picks the model
// and caps max_tokens at that model's output limit.
await check('auto with max_tokens 32000', async () => {
  for (const stream of [false, true]) {
    const m = await create({ model: 'auto', max_tokens: 32000, messages: [{ role: 'user', content: 'Say hello.' }] }, stream);
    checkMessage(m, 'auto');
    assert(m.stop_reason && m.content.length > 0, 'answer ' + show(m));
  }
});

// stop_sequences on a translated model: the text ends before the sequence.
// OpenAI, Gemini and Ollama do not say which sequence matched (their
// finish reason is the one a natural end gives), so the answer says
// end_turn with stop_sequence null where Anthropic would say
// stop_sequence and name it (docs/contract.md).
await check('stop_sequences mock/echo', async () => {
  for (const stream of [false, true]) {
    const m = await create({ model: 'mock/echo', max_tokens: 64, stop_sequences: ['STOP'], messages: [{ role: 'user', content: 'alpha beta STOP gamma' }] }, stream);
    assert(textOf(m) === 'alpha beta ' && m.stop_reason === 'end_turn' && m.stop_sequence === null, 'answer ' + show(m));
  }
});

// max_tokens reached: stop_reason max_tokens, the text cut.
await check('max_tokens reached mock/echo', async () => {
  for (const stream of [false, true]) {
    const m = await create({ model: 'mock/echo', max_tokens: 2, messages: [{ role: 'user', content: 'one two three four five' }] }, stream);
    assert(m.stop_reason === 'max_tokens' && textOf(m).length < 'one two three four five'.length && m.usage.output_tokens <= 2, 'answer ' + show(m));
  }
});

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
