// The OpenAI Node SDK against the gateway's Responses API edges (session
// 10): truncation, allowed_tools, input_items paging, chat request
// validation, cancel, retrieve with stream, instructions across a chain,
// store: false, include and text.format. lib.mjs says how
// engine/nodesdk_test.go runs this file.
import OpenAI from 'openai';
import { openai, providers, check, assert, show, done } from './lib.mjs';

// expectError runs fn and checks the SDK raised its error class for status
// with the OpenAI envelope's param (and code, when given).
async function expectError(fn, status, param, code) {
  let err;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  assert(err instanceof OpenAI.APIError, 'no API error: ' + (err ? err.stack : 'the call succeeded'));
  assert(err.status === status, `status ${err.status}, want ${status}: ${err.message}`);
  if (param !== undefined) assert(err.param === param, `param ${show(err.param)}, want ${param}: ${err.message}`);
  if (code !== undefined) assert(err.code === code, `code ${show(err.code)}, want ${code}: ${err.message}`);
  return err;
}

// Truncation: the mock stops after max_output_tokens tokens (chat
// finish_reason length); OpenAI's answer is an incomplete response whose
// message item is incomplete, and a stream that ends with
// response.incomplete
// (https://platform.openai.com/docs/api-reference/responses-streaming/response/incomplete).
await check('responses incomplete at max_output_tokens', async () => {
  const r = await openai.responses.create({ model: 'mock/echo', input: 'one two three four five six', max_output_tokens: 2 });
  assert(r.status === 'incomplete' && r.incomplete_details?.reason === 'max_output_tokens', 'response ' + show(r));
  const msg = r.output.find((o) => o.type === 'message');
  assert(msg && msg.status === 'incomplete' && r.output_text.length > 0, 'message item ' + show(r.output));
});

await check('responses incomplete at max_output_tokens stream', async () => {
  const s = await openai.responses.create({ model: 'mock/echo', input: 'one two three four five six', max_output_tokens: 2, stream: true });
  const types = [];
  let done;
  let final;
  for await (const ev of s) {
    types.push(ev.type);
    if (ev.type === 'response.output_item.done') done = ev.item;
    if (ev.type === 'response.incomplete' || ev.type === 'response.completed') final = ev.response;
  }
  assert(types.at(-1) === 'response.incomplete' && !types.includes('response.completed'), 'events ' + types.join(','));
  assert(done && done.status === 'incomplete', 'output_item.done ' + show(done));
  assert(final.status === 'incomplete' && final.incomplete_details?.reason === 'max_output_tokens', 'final ' + show(final));
  assert(final.output.find((o) => o.type === 'message')?.status === 'incomplete', 'final items ' + show(final.output));
});

// allowed_tools on every provider: the model may call only get_weather of
// the two tools.
for (const p of providers) {
  await check('responses allowed_tools ' + p.model, async () => {
    const r = await openai.responses.create({
      model: p.model,
      input: 'Weather in Paris?',
      tools: [
        { type: 'function', name: 'send_email', parameters: { type: 'object', properties: {} }, strict: false },
        { type: 'function', name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } }, strict: false },
      ],
      tool_choice: { type: 'allowed_tools', mode: 'required', tools: [{ type: 'function', name: 'get_weather' }] },
    });
    const call = r.output.find((o) => o.type === 'function_call');
    assert(r.status === 'completed' && call && call.name === 'get_weather', 'response ' + show(r));
  });
}

await check('responses allowed_tools naming no tool', async () => {
  await expectError(
    () =>
      openai.responses.create({
        model: 'mock/tool',
        input: 'x',
        tools: [{ type: 'function', name: 'a', parameters: { type: 'object' }, strict: false }],
        tool_choice: { type: 'allowed_tools', mode: 'auto', tools: [{ type: 'function', name: 'b' }] },
      }),
    400,
    'tool_choice.tools[0].name',
  );
});

// input_items: the SDK pages with after = the last id; unknown cursors and
// bad limits are 400s naming the parameter.
await check('responses inputItems paging', async () => {
  const input = ['a', 'b', 'c', 'd', 'e'].map((t, i) => ({ role: i % 2 ? 'assistant' : 'user', content: t }));
  const r = await openai.responses.create({ model: 'mock/echo', input });
  const seen = [];
  for await (const it of openai.responses.inputItems.list(r.id, { order: 'asc', limit: 2 })) seen.push(it.content[0].text);
  assert(seen.join('') === 'abcde', 'paged asc ' + show(seen));
  const desc = [];
  for await (const it of openai.responses.inputItems.list(r.id, { limit: 3 })) desc.push(it.content[0].text);
  assert(desc.join('') === 'edcba', 'paged desc ' + show(desc));
  const first = await openai.responses.inputItems.list(r.id, { order: 'asc', limit: 1 });
  const after = await openai.responses.inputItems.list(r.id, { order: 'asc', after: first.data[0].id });
  assert(after.data.length === 4 && after.data[0].content[0].text === 'b' && !after.has_more, 'after ' + show(after.data));
  const e = await expectError(() => openai.responses.inputItems.list(r.id, { after: 'msg_nope' }), 400, 'after');
  assert(e.message.includes('msg_nope'), 'message ' + e.message);
  await expectError(() => openai.responses.inputItems.list(r.id, { limit: 0 }), 400, 'limit');
  await expectError(() => openai.responses.inputItems.list(r.id, { limit: 101 }), 400, 'limit');
  await expectError(() => openai.responses.inputItems.list(r.id, { order: 'sideways' }), 400, 'order');
  await expectError(() => openai.responses.inputItems.list('resp_nope'), 404);
});

// Chat validation: what OpenAI refuses is refused before any provider, on
// every provider.
for (const p of providers) {
  await check('chat validation ' + p.model, async () => {
    const messages = [{ role: 'user', content: 'hi' }];
    const cases = [
      [{ response_format: { type: 'bogus' } }, 'response_format.type', 'invalid_value'],
      [{ response_format: { type: 'json_schema', json_schema: { schema: { type: 'object' } } } }, 'response_format.json_schema.name', 'missing_required_parameter'],
      [{ stream_options: { include_usage: true } }, 'stream_options'],
      [{ n: 0 }, 'n', 'invalid_request'],
      [{ n: 129 }, 'n', 'invalid_request'],
      [{ temperature: 2.5 }, 'temperature', 'invalid_request'],
      [{ top_p: -1 }, 'top_p', 'invalid_request'],
      [{ logprobs: true, top_logprobs: 21 }, 'top_logprobs', 'invalid_request'],
      [{ top_logprobs: 3 }, 'top_logprobs'],
      [{ messages: [] }, 'messages'],
      [{ messages: [{ role: 'wizard', content: 'x' }] }, 'messages[0].role'],
      [{ messages: [{ role: 'tool', content: 'x' }] }, 'messages[0].tool_call_id'],
    ];
    for (const [extra, param, code] of cases) {
      await expectError(() => openai.chat.completions.create({ model: p.model, messages, ...extra }), 400, param, code);
    }
  });
}

// Cancel: every gateway response is synchronous (background is refused),
// and OpenAI answers a cancel of a synchronous response with a 400
// ("Cannot cancel a synchronous response.").
await check('responses.cancel of a synchronous response', async () => {
  const r = await openai.responses.create({ model: 'mock/echo', input: 'hello' });
  const e = await expectError(() => openai.responses.cancel(r.id), 400);
  assert(/synchronous/.test(e.message), 'message ' + e.message);
  await expectError(() => openai.responses.cancel('resp_nope'), 404);
});

// Retrieve with stream: the stored response replayed as its event stream.
await check('responses.retrieve stream', async () => {
  const r = await openai.responses.create({ model: 'mock/echo', input: 'replay me please' });
  const s = await openai.responses.retrieve(r.id, { stream: true });
  const types = [];
  let text = '';
  let final;
  for await (const ev of s) {
    assert(ev.sequence_number === types.length, `event ${types.length} has sequence_number ${ev.sequence_number}`);
    types.push(ev.type);
    if (ev.type === 'response.output_text.delta') text += ev.delta;
    if (ev.type === 'response.completed') final = ev.response;
  }
  assert(types[0] === 'response.created' && types.at(-1) === 'response.completed', 'events ' + types.join(','));
  const finalText = final.output.filter((o) => o.type === 'message').flatMap((o) => o.content).map((c) => c.text).join('');
  assert(text === 'replay me please' && final.id === r.id && finalText === text, 'replayed ' + show(final));
  // starting_after resumes after an event.
  const rest = [];
  for await (const ev of await openai.responses.retrieve(r.id, { stream: true, starting_after: 1 })) rest.push(ev.sequence_number);
  assert(rest[0] === 2 && rest.length === types.length - 2, 'resumed at ' + show(rest));
});

// instructions are not carried over a previous_response_id chain (as on
// OpenAI: the new request's own instructions, or none, apply).
await check('responses instructions across previous_response_id', async () => {
  const first = await openai.responses.create({ model: 'mock/echo', instructions: 'Speak like a pirate.', input: 'hi' });
  assert(first.instructions === 'Speak like a pirate.', 'first ' + show(first));
  const second = await openai.responses.create({ model: 'mock/echo', previous_response_id: first.id, input: 'again' });
  assert(second.instructions === null && second.previous_response_id === first.id, 'second ' + show(second));
  const third = await openai.responses.create({ model: 'mock/echo', previous_response_id: second.id, instructions: 'Be terse.', input: 'more' });
  assert(third.instructions === 'Be terse.', 'third ' + show(third));
  const items = [];
  for await (const it of openai.responses.inputItems.list(third.id, { order: 'asc' })) items.push(it.type + ':' + it.role);
  assert(items.length === 5 && !items.includes('message:system') && !items.includes('message:developer'), 'conversation ' + show(items));
});

await check('responses store:false is not retrievable', async () => {
  const r = await openai.responses.create({ model: 'mock/echo', input: 'forget me', store: false });
  assert(r.store === false && r.output_text === 'forget me', 'response ' + show(r));
  await expectError(() => openai.responses.retrieve(r.id), 404);
  await expectError(() => openai.responses.create({ model: 'mock/echo', input: 'x', previous_response_id: r.id }), 404, 'previous_response_id');
});

await check('responses include and text.format json_schema', async () => {
  const r = await openai.responses.create({
    model: 'mock/echo',
    input: 'hello',
    include: ['message.output_text.logprobs'],
    text: { format: { type: 'json_schema', name: 'reply', strict: true, schema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'], additionalProperties: false } } },
  });
  assert(r.status === 'completed' && r.text.format.type === 'json_schema' && r.text.format.name === 'reply', 'response ' + show(r));
  const v = JSON.parse(r.output_text);
  assert(v && typeof v === 'object' && !Array.isArray(v), 'output_text ' + show(r.output_text));
  await expectError(
    () => openai.responses.create({ model: 'mock/echo', input: 'x', text: { format: { type: 'json_schema', schema: { type: 'object' } } } }),
    400,
    'text.format.name',
    'missing_required_parameter',
  );
});

done();
