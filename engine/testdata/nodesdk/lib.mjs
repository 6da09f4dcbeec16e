// Shared by the Node SDK check files (engine/nodesdk_test.go runs every
// *.mjs here but this one): the clients, check, assert and done.
//
// The official OpenAI and Anthropic Node SDKs against a running gateway, as
// a new user would call them (issue 12). engine/nodesdk_test.go starts the
// gateway and the providers' fakes, installs the pinned SDKs (package.json,
// package-lock.json) and runs each check file with:
//
//   GATEWAY_URL  http://127.0.0.1:PORT
//   GATEWAY_KEY  the gateway's API key
//   PROVIDERS    JSON [{model, args, reply}]: a model whose upstream answers
//                a tool call of get_weather with args, then reply once the
//                tool's output is sent back
//
// Each check prints "ok NAME" or "FAIL NAME: why"; done() exits 1 when one
// failed.
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';

// Node 18 (Debian bookworm's nodejs) has File only in node:buffer; the
// OpenAI SDK's uploads need the global.
if (!globalThis.File) globalThis.File = (await import('node:buffer')).File;

export const url = process.env.GATEWAY_URL;
export const key = process.env.GATEWAY_KEY;
export const providers = JSON.parse(process.env.PROVIDERS || '[]');
if (!url || !key) {
  console.error('GATEWAY_URL and GATEWAY_KEY are required');
  process.exit(2);
}
export const openai = new OpenAI({ baseURL: url + '/v1', apiKey: key, maxRetries: 0, timeout: 30_000 });
export const anthropic = new Anthropic({ baseURL: url, apiKey: key, maxRetries: 0, timeout: 30_000 });

let failed = 0;
export async function check(name, fn) {
  try {
    await fn();
    console.log('ok ' + name);
  } catch (e) {
    failed++;
    console.log('FAIL ' + name + ': ' + (e && e.stack ? e.stack : e));
  }
}

export function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

export function sameJSON(a, b) {
  try {
    return JSON.stringify(sortKeys(JSON.parse(a))) === JSON.stringify(sortKeys(JSON.parse(b)));
  } catch {
    return false;
  }
}

function sortKeys(v) {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys(v[k])]));
  return v;
}

export const show = (v) => JSON.stringify(v).slice(0, 600);

// done ends a check file: exit status 1 when a check failed.
export function done() {
  if (failed) {
    console.log(`${failed} check(s) failed`);
    process.exit(1);
  }
}
