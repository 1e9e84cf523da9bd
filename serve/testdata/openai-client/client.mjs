// Drives a daemon's inference API with the official openai client and
// prints what it answered as one JSON object: node client.mjs BASE_URL MODEL
import OpenAI from 'openai';

const [baseURL, model] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: 'unused on a loopback API', maxRetries: 0 });
const prompt = 'Once upon a time';
const greedy = { model, max_tokens: 30, temperature: 0 };
const out = {};

out.models = (await client.models.list()).data.map((m) => m.id);

let r = await client.completions.create({ ...greedy, prompt });
out.completion = { text: r.choices[0].text, finish: r.choices[0].finish_reason, usage: r.usage };

r = await client.chat.completions.create({ ...greedy, messages: [{ role: 'user', content: prompt }] });
out.chat = { text: r.choices[0].message.content, role: r.choices[0].message.role, finish: r.choices[0].finish_reason, usage: r.usage };

// collect reads a stream: its text, finish reason and usage.
async function collect(stream, text) {
  const got = { text: '', finish: null, usage: null };
  for await (const chunk of stream) {
    if (chunk.usage) got.usage = chunk.usage;
    for (const c of chunk.choices) {
      got.text += text(c) ?? '';
      got.finish = c.finish_reason ?? got.finish;
    }
  }
  return got;
}

const streamed = { stream: true, stream_options: { include_usage: true } };
out.completionStream = await collect(await client.completions.create({ ...greedy, ...streamed, prompt }), (c) => c.text);
out.chatStream = await collect(
  await client.chat.completions.create({ ...greedy, ...streamed, messages: [{ role: 'user', content: prompt }] }),
  (c) => c.delta.content,
);

// A client that stops reading after the first chunk hangs up.
const long = await client.completions.create({ model, prompt, max_tokens: 500, temperature: 0, stream: true });
for await (const chunk of long) {
  out.abandoned = chunk.choices[0].text;
  long.controller.abort();
  break;
}

try {
  await client.completions.create({ model: 'no-such-model', prompt });
} catch (e) {
  out.notFound = { status: e.status, code: e.code, param: e.param, type: e.type };
}

console.log(JSON.stringify(out));
