// Files, Batches and Embeddings through the official openai Node SDK, the
// way users call them: auto-paginated lists (for await), retrieve, delete,
// errors as the SDK's classes, malformed batch input files, cancel,
// metadata limits, and embeddings in every input shape and encoding on
// every provider whose fake serves them. lib.mjs says how this runs.
//
// References: https://platform.openai.com/docs/api-reference/files,
// https://platform.openai.com/docs/api-reference/batch,
// https://platform.openai.com/docs/api-reference/embeddings.
import OpenAI, { toFile } from 'openai';
import { openai, check, assert, show, done } from './lib.mjs';

const line = (id, body, url = '/v1/chat/completions') => JSON.stringify({ custom_id: id, method: 'POST', url, body });
const chat = (content, model = 'mock/echo') => ({ model, messages: [{ role: 'user', content }] });
const upload = async (text, name = 'input.jsonl') =>
  openai.files.create({ file: await toFile(Buffer.from(text), name), purpose: 'batch' });
const terminal = ['completed', 'failed', 'cancelled', 'expired'];
async function settle(id, until = (b) => terminal.includes(b.status)) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const b = await openai.batches.retrieve(id);
    if (until(b)) return b;
    assert(Date.now() < deadline, 'batch stuck: ' + show(b));
    await new Promise((r) => setTimeout(r, 50));
  }
}
const contentLines = async (id) => (id ? (await (await openai.files.content(id)).text()).trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []);
async function rejects(fn, cls, status) {
  try {
    await fn();
  } catch (e) {
    assert(e instanceof cls, `want ${cls.name}, got ${e && e.constructor.name}: ${e && e.message}`);
    if (status) assert(e.status === status, `status ${e.status}, want ${status}`);
    assert(e.error && typeof e.error.message === 'string' && e.error.type, 'OpenAI error envelope: ' + show(e.error));
    return e;
  }
  throw new Error(`no ${cls.name}`);
}

await check('files.list: for await over purpose, limit, after and order sees every file once', async () => {
  const mine = [];
  for (let i = 0; i < 5; i++) mine.push((await upload(line('x' + i, chat('f' + i)) + '\n', `list-${i}.jsonl`)).id);
  const seen = new Map();
  let pages = 0;
  for await (const f of openai.files.list({ purpose: 'batch', limit: 2 })) {
    seen.set(f.id, (seen.get(f.id) || 0) + 1);
    assert(f.object === 'file' && f.purpose === 'batch', 'file ' + show(f));
    assert(++pages < 1000, 'files.list does not terminate');
  }
  for (const id of mine) assert(seen.get(id) === 1, `file ${id} seen ${seen.get(id) || 0} times`);
  assert([...seen.values()].every((n) => n === 1), 'a file listed twice');
  const desc = await openai.files.list({ purpose: 'batch', limit: 2, order: 'desc' });
  assert(desc.data.length === 2 && desc.has_more === true, 'first page ' + show(desc));
  const asc = await openai.files.list({ purpose: 'batch', limit: 100, order: 'asc' });
  const ascIDs = asc.data.map((f) => f.id);
  for (let i = 1; i < asc.data.length; i++) assert(asc.data[i - 1].created_at <= asc.data[i].created_at, 'asc order ' + show(ascIDs));
  assert(ascIDs.indexOf(mine[0]) < ascIDs.indexOf(mine[4]), 'asc puts the oldest first');
  const after = await openai.files.list({ purpose: 'batch', limit: 100, order: 'asc', after: mine[2] });
  assert(after.data.map((f) => f.id).join() === ascIDs.slice(ascIDs.indexOf(mine[2]) + 1).join(), 'after ' + show(after.data.map((f) => f.id)));
  const none = await openai.files.list({ purpose: 'fine-tune' });
  assert(none.data.length === 0, 'purpose filter ' + show(none));
});

await check('files.retrieve, content of a missing id, delete, then 404', async () => {
  const text = line('r', chat('retrieve me')) + '\n';
  const f = await upload(text, 'retrieve.jsonl');
  const got = await openai.files.retrieve(f.id);
  assert(got.id === f.id && got.bytes === text.length && got.filename === 'retrieve.jsonl' && got.status === 'processed', 'retrieve ' + show(got));
  assert((await (await openai.files.content(f.id)).text()) === text, 'content differs');
  await rejects(() => openai.files.content('file-doesnotexist'), OpenAI.NotFoundError, 404);
  await rejects(() => openai.files.retrieve('file-doesnotexist'), OpenAI.NotFoundError, 404);
  const del = await openai.files.delete(f.id);
  assert(del.id === f.id && del.object === 'file' && del.deleted === true, 'delete ' + show(del));
  await rejects(() => openai.files.retrieve(f.id), OpenAI.NotFoundError, 404);
  await rejects(() => openai.files.delete(f.id), OpenAI.NotFoundError, 404);
});

await check('malformed batch input: accepted at upload, the batch fails with errors.data', async () => {
  // OpenAI stores a batch input file as uploaded and reports a line that
  // cannot be a request when the batch validates it: status failed, errors
  // {object: "list", data: [{code, message, param, line}]}.
  const text = [
    line('ok', chat('fine')),
    '{not json',
    JSON.stringify({ method: 'POST', url: '/v1/chat/completions', body: chat('no id') }),
    line('ok', chat('duplicate')),
  ].join('\n') + '\n';
  const f = await upload(text, 'malformed.jsonl');
  assert(f.id && f.bytes === text.length, 'upload ' + show(f));
  const b0 = await openai.batches.create({ input_file_id: f.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
  assert(b0.status === 'validating', 'created ' + show(b0));
  const b = await settle(b0.id);
  assert(b.status === 'failed' && b.failed_at && b.output_file_id === null, 'batch ' + show(b));
  const data = b.errors?.data || [];
  const byLine = Object.fromEntries(data.map((e) => [e.line, e]));
  assert(data.length === 3 && byLine[2]?.code === 'invalid_json_line' && byLine[3]?.code === 'missing_required_parameter' &&
    byLine[3]?.param === 'custom_id' && byLine[4]?.code === 'duplicate_custom_id' && byLine[4]?.param === 'custom_id', 'errors ' + show(b.errors));
  assert(data.every((e) => typeof e.message === 'string' && e.message && 'param' in e && 'line' in e), 'error fields ' + show(data));
});

await check('batch lines with a wrong url or an unknown model become error lines', async () => {
  const text = [
    line('good', chat('kept')),
    line('url', { model: 'mock/echo', input: 'x' }, '/v1/embeddings'),
    line('model', chat('x', 'nope/does-not-exist')),
  ].join('\n') + '\n';
  const f = await upload(text);
  const b = await settle((await openai.batches.create({ input_file_id: f.id, endpoint: '/v1/chat/completions', completion_window: '24h' })).id);
  assert(b.status === 'completed' && b.request_counts.total === 3 && b.request_counts.completed === 1 && b.request_counts.failed === 2, 'batch ' + show(b));
  const errs = Object.fromEntries((await contentLines(b.error_file_id)).map((l) => [l.custom_id, l]));
  assert(errs.url?.error?.code && errs.url.response === null, 'url line ' + show(errs.url));
  assert(errs.model?.response?.status_code === 404 && errs.model.response.body.error.type, 'model line ' + show(errs.model));
});

await check('oversized upload is a 413 in the OpenAI envelope', async () => {
  const big = Buffer.alloc(33 << 20, 0x20); // past the default max_body_bytes (32 MiB)
  await rejects(() => openai.files.create({ file: new File([big], 'big.jsonl'), purpose: 'batch' }), OpenAI.APIError, 413);
});

await check('batches.list: for await terminates and sees every batch once; retrieve', async () => {
  const f = await upload(line('l', chat('list')) + '\n');
  const mine = [];
  for (let i = 0; i < 3; i++) mine.push((await openai.batches.create({ input_file_id: f.id, endpoint: '/v1/chat/completions', completion_window: '24h', metadata: { i: String(i) } })).id);
  const seen = new Map();
  let n = 0;
  for await (const b of openai.batches.list({ limit: 2 })) {
    seen.set(b.id, (seen.get(b.id) || 0) + 1);
    assert(++n < 1000, 'batches.list does not terminate');
  }
  for (const id of mine) assert(seen.get(id) === 1, `batch ${id} seen ${seen.get(id) || 0} times`);
  assert([...seen.values()].every((k) => k === 1), 'a batch listed twice');
  const got = await openai.batches.retrieve(mine[1]);
  assert(got.id === mine[1] && got.object === 'batch' && got.metadata?.i === '1' && got.input_file_id === f.id, 'retrieve ' + show(got));
  await rejects(() => openai.batches.retrieve('batch_doesnotexist'), OpenAI.NotFoundError, 404);
});

await check('batches.cancel: in progress → cancelled with consistent counts; a completed batch → 409', async () => {
  const n = 2000;
  const text = Array.from({ length: n }, (_, i) => line('c' + i, chat('cancel ' + i))).join('\n') + '\n';
  const f = await upload(text);
  const b0 = await openai.batches.create({ input_file_id: f.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
  const c = await openai.batches.cancel(b0.id);
  assert(['cancelling', 'cancelled'].includes(c.status) && c.cancelling_at, 'cancel ' + show(c));
  const b = await settle(b0.id);
  assert(b.status === 'cancelled' && b.cancelled_at, 'cancelled ' + show(b));
  const out = await contentLines(b.output_file_id);
  const errs = await contentLines(b.error_file_id);
  const rc = b.request_counts;
  assert(rc.completed === out.length && rc.failed === errs.length && rc.completed + rc.failed <= rc.total, 'counts ' + show(rc) + ` out ${out.length} err ${errs.length}`);
  assert(out.every((l) => l.response.status_code === 200 && l.response.body.choices[0].message.content === 'cancel ' + l.custom_id.slice(1)), 'output holds the completed requests');
  assert((await openai.batches.cancel(b0.id)).status === 'cancelled', 'cancelling again answers the batch');
  const done1 = await settle((await openai.batches.create({ input_file_id: (await upload(line('d', chat('done')) + '\n')).id, endpoint: '/v1/chat/completions', completion_window: '24h' })).id);
  assert(done1.status === 'completed', 'completed ' + show(done1));
  await rejects(() => openai.batches.cancel(done1.id), OpenAI.ConflictError, 409);
});

await check('batches.create: completion_window, endpoint and metadata limits are 400s', async () => {
  const f = await upload(line('m', chat('meta')) + '\n');
  const create = (over) => openai.batches.create({ input_file_id: f.id, endpoint: '/v1/chat/completions', completion_window: '24h', ...over });
  let e = await rejects(() => create({ completion_window: '48h' }), OpenAI.BadRequestError, 400);
  assert(e.param === 'completion_window', 'param ' + e.param);
  e = await rejects(() => create({ endpoint: '/v1/moderations' }), OpenAI.BadRequestError, 400);
  assert(e.param === 'endpoint' && /\/v1\/completions/.test(e.message), 'endpoint message ' + e.message);
  const many = Object.fromEntries(Array.from({ length: 17 }, (_, i) => ['k' + i, 'v']));
  e = await rejects(() => create({ metadata: many }), OpenAI.BadRequestError, 400);
  assert(e.param === 'metadata', 'param ' + e.param);
  await rejects(() => create({ metadata: { ['k'.repeat(65)]: 'v' } }), OpenAI.BadRequestError, 400);
  await rejects(() => create({ metadata: { k: 'v'.repeat(513) } }), OpenAI.BadRequestError, 400);
  const ok = await create({ metadata: { ['k'.repeat(64)]: 'v'.repeat(512), ...Object.fromEntries(Array.from({ length: 15 }, (_, i) => ['k' + i, 'v'])) } });
  assert(Object.keys(ok.metadata).length === 16, 'metadata at the limits ' + show(ok.metadata));
});

await check('batches on /v1/embeddings, /v1/responses and /v1/completions', async () => {
  const cases = [
    ['/v1/embeddings', { model: 'mock/echo', input: ['a', 'b'] }, (body) => body.object === 'list' && body.data.length === 2],
    ['/v1/responses', { model: 'mock/echo', input: 'respond' }, (body) => body.object === 'response' && JSON.stringify(body.output).includes('respond')],
    ['/v1/completions', { model: 'mock/echo', prompt: 'complete me' }, (body) => body.object === 'text_completion' && body.choices[0].text.includes('complete me')],
  ];
  for (const [endpoint, body, ok] of cases) {
    const f = await upload(line('e', body, endpoint) + '\n');
    const b = await settle((await openai.batches.create({ input_file_id: f.id, endpoint, completion_window: '24h' })).id);
    assert(b.status === 'completed' && b.endpoint === endpoint && b.request_counts.completed === 1, endpoint + ' batch ' + show(b));
    const [out] = await contentLines(b.output_file_id);
    assert(out.response.status_code === 200 && ok(out.response.body), endpoint + ' output ' + show(out));
  }
});

// Embeddings: the SDK asks for base64 unless told otherwise and decodes it
// to floats (openai-node #1312); the vectors must equal the float ones.
const embedModels = ['mock/echo', 'openai/text-embedding-3-small', 'gemini/text-embedding-004', 'ollama/nomic-embed-text'];
for (const model of embedModels) {
  await check('embeddings ' + model + ': string, array, base64 = float, dimensions, user', async () => {
    const one = await openai.embeddings.create({ model, input: 'hello world', user: 'u-1' });
    assert(one.object === 'list' && one.data.length === 1 && one.data[0].embedding.length > 0 && one.data[0].index === 0, 'one ' + show(one));
    const b64 = await openai.embeddings.create({ model, input: ['hello world', 'second input'] });
    const flt = await openai.embeddings.create({ model, input: ['hello world', 'second input'], encoding_format: 'float' });
    assert(b64.data.length === 2 && flt.data.length === 2 && b64.data[1].index === 1, 'lengths ' + show(flt));
    for (let i = 0; i < 2; i++) {
      const a = Array.from(b64.data[i].embedding), f = flt.data[i].embedding;
      assert(Array.isArray(f) && typeof f[0] === 'number', 'float vector ' + show(f));
      assert(a.length === f.length && a.every((v, j) => v === Math.fround(f[j])), `base64 decodes to other floats: ${show(a)} vs ${show(f)}`);
    }
    const raw = await openai.embeddings.create({ model, input: 'hello world', encoding_format: 'base64' });
    assert(typeof raw.data[0].embedding === 'string', 'explicit base64 stays a string ' + show(raw));
    assert(Buffer.from(raw.data[0].embedding, 'base64').length === 4 * flt.data[0].embedding.length, 'base64 is float32');
    if (model !== 'openai/text-embedding-3-small') {
      const d = await openai.embeddings.create({ model, input: 'hello world', dimensions: 3, encoding_format: 'float' });
      assert(d.data[0].embedding.length === 3, 'dimensions ' + show(d));
    }
  });
}

await check('embeddings: token ids where served, a clear 400 where not', async () => {
  for (const input of [[1, 2, 3], [[1, 2], [3, 4]]]) {
    const e = await openai.embeddings.create({ model: 'mock/echo', input, encoding_format: 'float' });
    assert(e.data.length === (Array.isArray(input[0]) ? 2 : 1), 'mock tokens ' + show(e));
    const o = await openai.embeddings.create({ model: 'openai/text-embedding-3-small', input, encoding_format: 'float' });
    assert(o.data.length === e.data.length, 'openai tokens ' + show(o));
    for (const model of ['gemini/text-embedding-004', 'ollama/nomic-embed-text']) {
      const err = await rejects(() => openai.embeddings.create({ model, input }), OpenAI.BadRequestError, 400);
      assert(/token/i.test(err.message) && err.param && err.param.startsWith('input'), model + ' ' + err.message + ' param ' + err.param);
    }
  }
});

await check('embeddings: empty input is a 400, an unknown model a 404', async () => {
  for (const model of embedModels) {
    for (const input of ['', [], [''], [[]]]) {
      const e = await rejects(() => openai.embeddings.create({ model, input }), OpenAI.BadRequestError, 400);
      assert(e.param === 'input' || (e.param || '').startsWith('input['), `${model} ${JSON.stringify(input)}: param ${e.param}`);
    }
  }
  await rejects(() => openai.embeddings.create({ model: 'nope/none', input: 'x' }), OpenAI.NotFoundError, 404);
  await rejects(() => openai.embeddings.create({ model: 'mock/does-not-exist', input: 'x' }), OpenAI.NotFoundError, 404);
});

done();
