// The OpenAI Node SDK's checks (and Anthropic's count_tokens); lib.mjs
// says how engine/nodesdk_test.go runs them.
import OpenAI, { toFile } from 'openai';
import { url, openai, anthropic, providers, check, assert, sameJSON, show, done } from './lib.mjs';

// respond creates a response, streaming or not. A stream must follow the
// Responses event sequence (sequence_number from 0, response.created and
// response.in_progress first, response.completed last), its text and
// argument deltas must add up to the final response that
// response.completed carries.
async function respond(params, stream) {
  if (!stream) return openai.responses.create(params);
  const s = await openai.responses.create({ ...params, stream: true });
  const types = [];
  let text = '';
  let args = '';
  let final;
  for await (const ev of s) {
    assert(ev.sequence_number === types.length, `event ${types.length} (${ev.type}) has sequence_number ${ev.sequence_number}`);
    types.push(ev.type);
    if (ev.type === 'response.output_text.delta') text += ev.delta;
    if (ev.type === 'response.function_call_arguments.delta') args += ev.delta;
    if (ev.type === 'response.completed') final = ev.response;
  }
  assert(
    types.length >= 4 && types[0] === 'response.created' && types[1] === 'response.in_progress' && types.at(-1) === 'response.completed' && final,
    'event sequence ' + types.join(','),
  );
  assert(types.includes('response.output_item.added') && types.includes('response.output_item.done'), 'no output_item events: ' + types.join(','));
  const finalText = final.output.filter((o) => o.type === 'message').flatMap((o) => o.content).filter((c) => c.type === 'output_text').map((c) => c.text).join('');
  assert(finalText === text, `text deltas ${show(text)}, final text ${show(finalText)}`);
  const finalArgs = final.output.filter((o) => o.type === 'function_call').map((o) => o.arguments).join('');
  assert(finalArgs === args, `argument deltas ${show(args)}, final arguments ${show(finalArgs)}`);
  return final;
}

const weatherTool = {
  type: 'function',
  name: 'get_weather',
  parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } } },
  strict: false,
};

await check('responses.create mock/echo', async () => {
  const r = await openai.responses.create({ model: 'mock/echo', input: 'hello' });
  assert(r.status === 'completed' && r.id.startsWith('resp_'), 'response ' + show(r));
  assert(r.output_text === 'hello', 'output_text ' + show(r.output_text));
});

for (const p of providers) {
  for (const stream of [false, true]) {
    const name = p.model + (stream ? ' stream' : '');
    await check('responses tool round trip ' + name, async () => {
      const first = await respond(
        { model: p.model, instructions: 'You are a weather bot.', input: 'Weather in Paris for 3 days?', tools: [weatherTool] },
        stream,
      );
      assert(first.status === 'completed' && first.id.startsWith('resp_'), 'first turn ' + show(first));
      const call = first.output.find((o) => o.type === 'function_call');
      assert(call && call.name === 'get_weather' && call.call_id && sameJSON(call.arguments, p.args), 'function call in ' + show(first.output));
      const second = await respond(
        {
          model: p.model,
          previous_response_id: first.id,
          input: [{ type: 'function_call_output', call_id: call.call_id, output: '{"forecast":"sunny"}' }],
          tools: [weatherTool],
        },
        stream,
      );
      const text = second.output.filter((o) => o.type === 'message').flatMap((o) => o.content).map((c) => c.text).join('');
      assert(text === p.reply, `final answer ${show(text)}, want ${show(p.reply)}`);
      assert(second.previous_response_id === first.id, 'previous_response_id ' + second.previous_response_id);

      const got = await openai.responses.retrieve(second.id);
      assert(got.id === second.id && got.output_text === p.reply, 'retrieve ' + show(got));
      const items = await openai.responses.inputItems.list(second.id, { order: 'asc' });
      const types = items.data.map((i) => i.type).join(',');
      // The first turn may hold text before its call (Ollama streams the
      // reply's words, then the call).
      assert(
        types === 'message,function_call,function_call_output' || types === 'message,message,function_call,function_call_output',
        'input items ' + types,
      );
      await openai.responses.delete(second.id);
      try {
        await openai.responses.retrieve(second.id);
        throw new Error('retrieve after delete succeeded');
      } catch (e) {
        assert(e instanceof OpenAI.NotFoundError, 'retrieve after delete: ' + e);
      }
    });

    await check('chat.completions tool round trip ' + name, async () => {
      const tools = [{ type: 'function', function: { name: weatherTool.name, parameters: weatherTool.parameters } }];
      const messages = [{ role: 'user', content: 'Weather in Paris for 3 days?' }];
      const first = await chat({ model: p.model, messages, tools }, stream);
      const call = first.tool_calls && first.tool_calls[0];
      assert(call && call.function.name === 'get_weather' && call.id && sameJSON(call.function.arguments, p.args), 'tool call in ' + show(first));
      messages.push({ role: 'assistant', content: null, tool_calls: first.tool_calls });
      messages.push({ role: 'tool', tool_call_id: call.id, content: '{"forecast":"sunny"}' });
      const second = await chat({ model: p.model, messages, tools }, stream);
      assert(second.content === p.reply, `final answer ${show(second.content)}, want ${show(p.reply)}`);
    });
  }
}

// chat returns the assistant message, streamed or not; a stream's deltas
// are put together as the SDK's users do.
async function chat(params, stream) {
  if (!stream) {
    const c = await openai.chat.completions.create(params);
    assert(c.object === 'chat.completion' && c.choices.length === 1, 'completion ' + show(c));
    return c.choices[0].message;
  }
  const s = await openai.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } });
  let content = '';
  const calls = [];
  let finish = null;
  let usage = null;
  for await (const chunk of s) {
    assert(chunk.object === 'chat.completion.chunk', 'chunk ' + show(chunk));
    if (chunk.usage) usage = chunk.usage;
    for (const ch of chunk.choices) {
      if (ch.delta.content) content += ch.delta.content;
      for (const tc of ch.delta.tool_calls || []) {
        const c = (calls[tc.index] ||= { id: '', type: 'function', function: { name: '', arguments: '' } });
        if (tc.id) c.id = tc.id;
        if (tc.function?.name) c.function.name += tc.function.name;
        if (tc.function?.arguments) c.function.arguments += tc.function.arguments;
      }
      if (ch.finish_reason) finish = ch.finish_reason;
    }
  }
  assert(finish, 'no finish_reason in the stream');
  assert(usage && usage.total_tokens > 0, 'no usage chunk: ' + show(usage));
  return { content: calls.length ? null : content, tool_calls: calls.length ? calls : undefined };
}

for (const stream of [false, true]) {
  await check('chat.completions mock/echo' + (stream ? ' stream' : ''), async () => {
    const m = await chat({ model: 'mock/echo', messages: [{ role: 'user', content: 'hello' }] }, stream);
    assert(m.content === 'hello', 'content ' + show(m.content));
  });
}

await check('models.retrieve', async () => {
  const m = await openai.models.retrieve('mock/echo');
  assert(m.id === 'mock/echo' && m.object === 'model' && m.owned_by === 'mock', 'model ' + show(m));
  try {
    await openai.models.retrieve('mock/nope');
    throw new Error('retrieve of an unknown model succeeded');
  } catch (e) {
    assert(e instanceof OpenAI.NotFoundError && e.code === 'model_not_found', 'unknown model: ' + e);
  }
});

// Each error the gateway answers must surface as the SDK's error class
// for its status, with the envelope's code and param.
await check('chat.completions error classes', async () => {
  const bad = new OpenAI({ baseURL: url + '/v1', apiKey: 'wrong-key', maxRetries: 0 });
  const cases = [
    [() => bad.chat.completions.create({ model: 'mock/echo', messages: [{ role: 'user', content: 'x' }] }), OpenAI.AuthenticationError, 'invalid_api_key'],
    [() => openai.chat.completions.create({ model: 'nope-model', messages: [{ role: 'user', content: 'x' }] }), OpenAI.NotFoundError, 'model_not_found'],
    [() => openai.chat.completions.create({ model: 'mock/echo', messages: [] }), OpenAI.BadRequestError, 'invalid_request', 'messages'],
    [() => openai.chat.completions.create({ model: 'mock/echo', messages: 'x' }), OpenAI.BadRequestError, 'invalid_request', 'messages'],
    [() => openai.chat.completions.create({ model: 'mock/echo', stream: true, temperature: 9, messages: [{ role: 'user', content: 'x' }] }), OpenAI.BadRequestError, 'invalid_request', 'temperature'],
  ];
  for (const [call, cls, code, param] of cases) {
    try {
      await call();
      throw new Error('no error for ' + cls.name);
    } catch (e) {
      assert(e instanceof cls && e.code === code && (!param || e.param === param), `want ${cls.name} ${code} ${param || ''}, got ${e.constructor.name} ${e.code} ${e.param}: ${e.message}`);
    }
  }
});

for (const stream of [false, true]) {
  await check('chat.completions n=2 and named tool_choice mock' + (stream ? ' stream' : ''), async () => {
    const params = { model: 'mock/echo', n: 2, messages: [{ role: 'user', content: 'two answers' }] };
    const c = stream ? await openai.chat.completions.stream(params).finalChatCompletion() : await openai.chat.completions.create(params);
    assert(c.choices.length === 2 && c.choices.every((ch, i) => ch.index === i && ch.message.content === 'two answers'), 'choices ' + show(c.choices));
    const tools = ['get_weather', 'get_time'].map((name) => ({ type: 'function', function: { name, parameters: { type: 'object', properties: {} } } }));
    const m = await chat({ model: 'mock/tool', tools, tool_choice: { type: 'function', function: { name: 'get_time' } }, messages: [{ role: 'user', content: 'time?' }] }, stream);
    assert(m.tool_calls?.length === 1 && m.tool_calls[0].function.name === 'get_time', 'named tool_choice ' + show(m));
  });
}

await check('embeddings.create mock/echo', async () => {
  const e = await openai.embeddings.create({ model: 'mock/echo', input: ['hello', 'world', 'hello'] });
  assert(e.object === 'list' && e.data.length === 3 && e.usage.prompt_tokens > 0, 'embeddings ' + show(e));
  const [a, b, c] = e.data.map((d) => d.embedding);
  assert(a.length > 0 && a.every((x) => typeof x === 'number'), 'vector ' + show(a));
  assert(JSON.stringify(a) === JSON.stringify(c), 'the same input gave two vectors');
  assert(JSON.stringify(a) !== JSON.stringify(b), 'two inputs gave one vector');
});

// The legacy Completions API (client.completions.create), as editor
// autocomplete calls it: a text_completion, or its chunks ending with the
// usage chunk when asked for.
for (const stream of [false, true]) {
  await check('completions.create mock/echo' + (stream ? ' stream' : ''), async () => {
    const params = { model: 'mock/echo', prompt: 'def add(a, b):', max_tokens: 32, temperature: 0 };
    if (!stream) {
      const c = await openai.completions.create(params);
      assert(c.object === 'text_completion' && c.id.startsWith('cmpl-') && c.choices.length === 1, 'completion ' + show(c));
      assert(c.choices[0].text === 'def add(a, b):' && c.choices[0].finish_reason === 'stop' && c.choices[0].index === 0, 'choice ' + show(c.choices));
      assert(c.usage?.total_tokens > 0, 'usage ' + show(c.usage));
      return;
    }
    const s = await openai.completions.create({ ...params, stream: true, stream_options: { include_usage: true } });
    let text = '';
    let finish;
    let usage;
    for await (const ch of s) {
      assert(ch.object === 'text_completion' && ch.id.startsWith('cmpl-'), 'chunk ' + show(ch));
      for (const c of ch.choices) {
        text += c.text;
        if (c.finish_reason) finish = c.finish_reason;
      }
      if (ch.usage) usage = ch.usage;
    }
    assert(text === 'def add(a, b):' && finish === 'stop', `text ${show(text)} finish ${finish}`);
    assert(usage?.total_tokens > 0, 'usage ' + show(usage));
  });
}

await check('completions.create refusals', async () => {
  const cases = [
    [{ model: 'mock/echo', prompt: 'x', echo: true }, OpenAI.BadRequestError, 'echo'],
    [{ model: 'mock/echo', prompt: 'x', logprobs: 2 }, OpenAI.BadRequestError, 'logprobs'],
    [{ model: 'mock/echo', prompt: ['a', 'b'] }, OpenAI.BadRequestError, 'prompt'],
    [{ model: 'mock/echo', prompt: [1, 2] }, OpenAI.BadRequestError, 'prompt'],
    [{ model: 'nope-model', prompt: 'x' }, OpenAI.NotFoundError],
  ];
  for (const [params, cls, param] of cases) {
    try {
      await openai.completions.create(params);
      throw new Error('no error for ' + show(params));
    } catch (e) {
      assert(e instanceof cls && (!param || e.param === param), `want ${cls.name} ${param || ''}, got ${e.constructor.name} ${e.param}: ${e.message}`);
    }
  }
});

for (const model of ['mock/echo', ...providers.map((p) => p.model)]) {
  await check('anthropic messages.countTokens ' + model, async () => {
    const n = await anthropic.messages.countTokens({
      model,
      system: 'You are a weather bot.',
      messages: [{ role: 'user', content: 'Weather in Paris for 3 days?' }],
    });
    assert(Number.isInteger(n.input_tokens) && n.input_tokens > 0, 'count ' + show(n));
  });
}

await check('files + batches mock/echo', async () => {
  const line = (id, body, url = '/v1/chat/completions') => JSON.stringify({ custom_id: id, method: 'POST', url, body });
  const jsonl = [
    line('a', { model: 'mock/echo', messages: [{ role: 'user', content: 'first' }] }),
    line('b', { model: 'mock/echo', messages: [{ role: 'user', content: 'second' }] }),
    line('bad', { model: 'mock/echo', messages: [{ role: 'user', content: 'x' }] }, '/v1/embeddings'),
  ].join('\n') + '\n';
  const file = await openai.files.create({ file: await toFile(Buffer.from(jsonl), 'input.jsonl'), purpose: 'batch' });
  assert(file.id && file.purpose === 'batch' && file.bytes === jsonl.length, 'file ' + show(file));
  let batch = await openai.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h', metadata: { job: 'node' } });
  assert(batch.id && batch.input_file_id === file.id && batch.metadata?.job === 'node', 'batch ' + show(batch));
  const deadline = Date.now() + 60_000;
  while (!['completed', 'failed', 'cancelled', 'expired'].includes(batch.status)) {
    assert(Date.now() < deadline, 'batch not done in 60s: ' + show(batch));
    await new Promise((r) => setTimeout(r, 100));
    batch = await openai.batches.retrieve(batch.id);
  }
  assert(batch.status === 'completed', 'batch ' + show(batch));
  const rc = batch.request_counts;
  assert(rc.total === 3 && rc.completed === 2 && rc.failed === 1, 'request_counts ' + show(rc));
  const lines = async (id) => (await (await openai.files.content(id)).text()).trim().split('\n').map((l) => JSON.parse(l));
  const out = await lines(batch.output_file_id);
  const got = Object.fromEntries(out.map((l) => [l.custom_id, l.response.body.choices[0].message.content]));
  assert(out.length === 2 && got.a === 'first' && got.b === 'second', 'output file ' + show(out));
  assert(out.every((l) => l.response.status_code === 200 && l.error === null), 'output statuses ' + show(out));
  const errs = await lines(batch.error_file_id);
  assert(errs.length === 1 && errs[0].custom_id === 'bad' && errs[0].error?.code, 'error file ' + show(errs));
});

done();
