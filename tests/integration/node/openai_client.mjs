// Drives Kvasir's OpenAI-compatible HTTP API with the official `openai`
// npm client and prints what it saw as one JSON object on stdout, for
// tests/integration/openai_node_test.cc to check.
//
//   node openai_client.mjs <base URL, e.g. http://127.0.0.1:8080/v1> <api key>
//        <prompt> <max tokens> [chat]
//
// Runs: models.list; a unary and a streaming completion (greedy,
// ignore_eos, usage in the stream); with `chat`, a unary and a streaming
// chat completion; and two requests the server refuses (a bad field, an
// unknown key), reported as the client's APIError status and param.
import OpenAI from 'openai';

const [baseURL, apiKey, prompt, maxTokensArg, chatArg] = process.argv.slice(2);
const maxTokens = Number(maxTokensArg);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 120000 });
const out = {};

async function refused(fn) {
  try {
    await fn();
    return { status: 200 };
  } catch (e) {
    if (!(e instanceof OpenAI.APIError)) throw e;
    return { status: e.status, param: e.param ?? null, type: e.type ?? null,
             message: e.message };
  }
}

const models = await client.models.list();
out.models = models.data.map((m) => m.id);
const model = out.models[0];
const greedy = { model, max_tokens: maxTokens, temperature: 0, ignore_eos: true };

const unary = await client.completions.create({ ...greedy, prompt });
out.completion = {
  object: unary.object,
  text: unary.choices[0].text,
  finish_reason: unary.choices[0].finish_reason,
  usage: unary.usage,
};

let text = '';
let chunks = 0;
let finish = null;
let usage = null;
const stream = await client.completions.create({
  ...greedy, prompt, stream: true, stream_options: { include_usage: true },
});
for await (const chunk of stream) {
  ++chunks;
  for (const c of chunk.choices) {
    text += c.text;
    if (c.finish_reason) finish = c.finish_reason;
  }
  if (chunk.usage) usage = chunk.usage;
}
out.completion_stream = { text, chunks, finish_reason: finish, usage };

if (chatArg === 'chat') {
  const messages = [{ role: 'user', content: prompt }];
  const chat = await client.chat.completions.create({ ...greedy, messages });
  out.chat = {
    object: chat.object,
    role: chat.choices[0].message.role,
    text: chat.choices[0].message.content,
    finish_reason: chat.choices[0].finish_reason,
    usage: chat.usage,
  };
  let ctext = '';
  let cfinish = null;
  let cusage = null;
  const cstream = await client.chat.completions.create({
    ...greedy, messages, stream: true, stream_options: { include_usage: true },
  });
  for await (const chunk of cstream) {
    for (const c of chunk.choices) {
      ctext += c.delta.content ?? '';
      if (c.finish_reason) cfinish = c.finish_reason;
    }
    if (chunk.usage) cusage = chunk.usage;
  }
  out.chat_stream = { text: ctext, finish_reason: cfinish, usage: cusage };
}

out.bad_field = await refused(() =>
  client.completions.create({ ...greedy, prompt, temperature: -1 }));
const stranger = new OpenAI({ baseURL, apiKey: 'not-a-key', maxRetries: 0 });
out.bad_key = await refused(() =>
  stranger.completions.create({ ...greedy, prompt }));

process.stdout.write(JSON.stringify(out) + '\n');
