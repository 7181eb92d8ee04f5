/**
 * Generated documentation for one deployment: an OpenAPI 3.1 document of the endpoints it answers (with its model
 * name as the default and example, its server URL, bearer auth, OpenAI's request/response/error schemas) and
 * ready-to-paste snippets (curl, TypeScript and Python with the official openai clients, streaming and not).
 * Pure functions of (base URL, model name, settings); the API serves them.
 */
import { PRESETS, type DeploymentSettings } from './deployments.ts';

export interface DocsInput {
  baseUrl: string;
  model: string;
  settings: DeploymentSettings;
  embeddings: boolean;
}

export function snippets(d: DocsInput): Record<string, string> {
  const m = JSON.stringify(d.model);
  return {
    curl: [
      `curl ${d.baseUrl}/chat/completions \\`,
      `  -H "Authorization: Bearer $MODELFAB_API_KEY" \\`,
      `  -H "Content-Type: application/json" \\`,
      `  -d '${JSON.stringify({ model: d.model, messages: [{ role: 'user', content: 'Hello!' }] })}'`,
      '',
      '# streaming',
      `curl -N ${d.baseUrl}/chat/completions \\`,
      `  -H "Authorization: Bearer $MODELFAB_API_KEY" \\`,
      `  -H "Content-Type: application/json" \\`,
      `  -d '${JSON.stringify({ model: d.model, stream: true, messages: [{ role: 'user', content: 'Hello!' }] })}'`,
    ].join('\n'),
    typescript: [
      "import OpenAI from 'openai';",
      '',
      `const client = new OpenAI({ baseURL: ${JSON.stringify(d.baseUrl)}, apiKey: process.env.MODELFAB_API_KEY });`,
      '',
      `const r = await client.chat.completions.create({ model: ${m}, messages: [{ role: 'user', content: 'Hello!' }] });`,
      'console.log(r.choices[0].message.content);',
      '',
      `const stream = await client.chat.completions.create({ model: ${m}, messages: [{ role: 'user', content: 'Hello!' }], stream: true });`,
      "for await (const chunk of stream) process.stdout.write(chunk.choices[0]?.delta?.content ?? '');",
      '',
      `// presets: ${Object.keys(PRESETS).join(', ')} (default ${d.settings.preset})`,
      `// await client.chat.completions.create({ model: ${m}, messages, preset: 'conservative' } as any);`,
    ].join('\n'),
    python: [
      'import os',
      'from openai import OpenAI',
      '',
      `client = OpenAI(base_url=${JSON.stringify(d.baseUrl)}, api_key=os.environ["MODELFAB_API_KEY"])`,
      '',
      `r = client.chat.completions.create(model=${m}, messages=[{"role": "user", "content": "Hello!"}])`,
      'print(r.choices[0].message.content)',
      '',
      `stream = client.chat.completions.create(model=${m}, messages=[{"role": "user", "content": "Hello!"}], stream=True)`,
      'for chunk in stream:',
      '    print(chunk.choices[0].delta.content or "", end="")',
      '',
      `# presets: ${Object.keys(PRESETS).join(', ')} (default ${d.settings.preset})`,
      `# client.chat.completions.create(model=${m}, messages=..., extra_body={"preset": "conservative"})`,
    ].join('\n'),
  };
}

const ERROR = {
  type: 'object', required: ['error'],
  properties: { error: { type: 'object', required: ['message', 'type'], properties: { message: { type: 'string' }, type: { type: 'string' }, param: { type: ['string', 'null'] }, code: { type: ['string', 'null'] } } } },
};
const USAGE = { type: 'object', properties: { prompt_tokens: { type: 'integer' }, completion_tokens: { type: 'integer' }, total_tokens: { type: 'integer' } } };

export function openapi(d: DocsInput): Record<string, unknown> {
  const errors = Object.fromEntries([['400', 'Invalid request'], ['401', 'Missing, invalid or expired API key'], ['403', 'Model or endpoint outside the key\'s scopes'], ['404', 'Unknown model'], ['429', 'Rate limit, quota, or the model\'s queue is full'], ['503', 'The model cannot be loaded now']]
    .map(([c, desc]) => [c, { description: desc, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } }]));
  const sampling = {
    model: { type: 'string', default: d.model, examples: [d.model] },
    stream: { type: 'boolean', default: false, description: 'Server-sent events, OpenAI chunk format, ending with data: [DONE].' },
    stream_options: { type: 'object', properties: { include_usage: { type: 'boolean' } } },
    max_tokens: { type: 'integer', minimum: 1, maximum: d.settings.maxTokensLimit },
    max_completion_tokens: { type: 'integer', minimum: 1, maximum: d.settings.maxTokensLimit },
    temperature: { type: 'number', minimum: 0, maximum: 2, description: `Default from the preset (${d.settings.preset}: ${PRESETS[d.settings.preset].temperature}).` },
    top_p: { type: 'number', minimum: 0, maximum: 1 },
    top_k: { type: 'integer', minimum: 0, description: 'Extension: 0 = off.' },
    preset: { type: 'string', enum: Object.keys(PRESETS), default: d.settings.preset, description: 'Extension: conservative (focused, consistent), balanced, creative.' },
    stop: { oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' }, maxItems: 4 }] },
    seed: { type: 'integer' },
    presence_penalty: { type: 'number', minimum: -2, maximum: 2 },
    frequency_penalty: { type: 'number', minimum: -2, maximum: 2 },
    n: { type: 'integer', minimum: 1, maximum: 16 },
  };
  const paths: Record<string, unknown> = {
    '/chat/completions': {
      post: {
        summary: `Chat with ${d.model}`, operationId: 'createChatCompletion',
        requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', required: ['model', 'messages'], properties: {
          ...sampling,
          messages: { type: 'array', minItems: 1, items: { type: 'object', required: ['role', 'content'], properties: { role: { type: 'string', enum: ['system', 'developer', 'user', 'assistant', 'tool'] }, content: { oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'object', properties: { type: { const: 'text' }, text: { type: 'string' } } } }] } } } },
          response_format: { type: 'object', description: "{type: 'text' | 'json_object' | 'json_schema', json_schema: {name, schema}}; JSON schemas are enforced by a grammar." },
          logprobs: { type: 'boolean' }, top_logprobs: { type: 'integer', minimum: 0, maximum: 20 },
          tools: { type: 'array', items: { type: 'object', required: ['type', 'function'], properties: { type: { const: 'function' }, function: { type: 'object', required: ['name'], properties: { name: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' }, description: { type: 'string' }, parameters: { type: 'object' } } } } }, description: 'Functions the model may call; calls come back as message.tool_calls with finish_reason "tool_calls".' },
          tool_choice: { description: "'none' | 'auto' | 'required' | {type: 'function', function: {name}}; a required or named call is enforced by a grammar on llama.cpp models." },
          parallel_tool_calls: { type: 'boolean' },
        } } } } },
        responses: { 200: { description: 'A chat completion, or a stream of chat.completion.chunk events', content: { 'application/json': { schema: { type: 'object', properties: { id: { type: 'string' }, object: { const: 'chat.completion' }, created: { type: 'integer' }, model: { type: 'string' }, choices: { type: 'array' }, usage: USAGE } } }, 'text/event-stream': { schema: { type: 'string' } } } }, ...errors },
      },
    },
    '/completions': {
      post: {
        summary: `Complete text with ${d.model}`, operationId: 'createCompletion',
        requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', required: ['model', 'prompt'], properties: { ...sampling, prompt: { oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }, { type: 'array', items: { type: 'integer', minimum: 0 }, description: 'token ids' }, { type: 'array', items: { type: 'array', items: { type: 'integer', minimum: 0 } } }] }, echo: { type: 'boolean', description: 'Start each choice with its prompt; with logprobs, the prompt tokens\' log probabilities too (engine models), and max_tokens may be 0' }, logprobs: { type: 'integer', minimum: 0, maximum: 5 } } } } } },
        responses: { 200: { description: 'A text completion', content: { 'application/json': { schema: { type: 'object', properties: { object: { const: 'text_completion' }, choices: { type: 'array' }, usage: USAGE } } } } }, ...errors },
      },
    },
    '/models': { get: { summary: 'Models this key may use', operationId: 'listModels', responses: { 200: { description: 'A list of models', content: { 'application/json': { schema: { type: 'object', properties: { object: { const: 'list' }, data: { type: 'array', items: { type: 'object', properties: { id: { type: 'string' }, object: { const: 'model' }, created: { type: 'integer' }, owned_by: { type: 'string' } } } } } } } } }, ...errors } } },
  };
  if (d.embeddings) {
    paths['/embeddings'] = {
      post: {
        summary: `Embeddings from ${d.model}`, operationId: 'createEmbedding',
        requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', required: ['model', 'input'], properties: { model: sampling.model, input: { oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] }, encoding_format: { type: 'string', enum: ['float', 'base64'] } } } } } },
        responses: { 200: { description: 'Embeddings', content: { 'application/json': { schema: { type: 'object', properties: { object: { const: 'list' }, data: { type: 'array' }, usage: USAGE } } } } }, ...errors },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: `${d.model} (modelfab)`, version: '1', description: `OpenAI-compatible API of the deployment ${d.model}. Use any OpenAI client with base URL ${d.baseUrl}.` },
    servers: [{ url: d.baseUrl }],
    security: [{ bearer: [] }],
    paths,
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } }, schemas: { Error: ERROR } },
  };
}
