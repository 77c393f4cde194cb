import { createServer, type IncomingMessage, type Server } from 'node:http';
import { afterEach } from 'vitest';

export interface ChatRequest {
  at: number;
  body: { model: string; messages: Array<{ role: string; content: string }>; temperature?: number; tools?: unknown[] };
  /** The usage fields of the server's answer (a 200 reply). */
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

export interface ScriptedReply {
  status?: number;
  headers?: Record<string, string>;
  /** The assistant message content of a 200 reply, or a raw error body for other statuses. */
  content: string;
  /** Tool calls of the assistant message (a 200 reply). */
  toolCalls?: Array<{ id: string; type: 'function'; function: { name: string; arguments: string } }>;
}

export interface OpenAIServer {
  baseURL: string;
  requests: ChatRequest[];
  close(): Promise<void>;
}

async function readBody(request: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of request) text += (chunk as Buffer).toString();
  return text;
}

/** Answers a request other than chat completions (e.g. vLLM's POST /v1/load_lora_adapter); undefined = 404. */
export type OtherRoute = (method: string, path: string, body: string) => { status: number; body: string } | undefined;

/**
 * A real HTTP server speaking the OpenAI chat completions API on a free loopback port; `reply`
 * scripts each answer (status, headers such as retry-after, content) from the request and its index.
 */
export async function startOpenAIServer(reply: (request: ChatRequest, index: number) => ScriptedReply, other?: OtherRoute): Promise<OpenAIServer> {
  const requests: ChatRequest[] = [];
  const server: Server = createServer((req, res) => {
    void (async () => {
      if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) {
        const answered = other?.(req.method ?? '', req.url ?? '', await readBody(req));
        if (answered !== undefined) {
          res.writeHead(answered.status, { 'content-type': 'application/json' }).end(answered.body);
          return;
        }
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: `no route ${req.method ?? ''} ${req.url ?? ''}` } }));
        return;
      }
      const request: ChatRequest = { at: Date.now(), body: JSON.parse(await readBody(req)) as ChatRequest['body'] };
      requests.push(request);
      const answer = reply(request, requests.length - 1);
      const status = answer.status ?? 200;
      if (status !== 200) {
        res
          .writeHead(status, { 'content-type': 'application/json', ...answer.headers })
          .end(JSON.stringify({ error: { message: answer.content, type: 'scripted' } }));
        return;
      }
      // About four characters a token, as a tokenizer would count them: what usage-based cost and traces read.
      const prompt = Math.ceil(JSON.stringify(request.body.messages ?? []).length / 4);
      const completion = Math.ceil(JSON.stringify(answer.toolCalls ?? answer.content ?? '').length / 4);
      const usage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
      request.usage = usage;
      res.writeHead(200, { 'content-type': 'application/json', ...answer.headers }).end(
        JSON.stringify({
          id: `chatcmpl-${requests.length}`,
          object: 'chat.completion',
          created: Math.floor(Date.now() / 1000),
          model: request.body.model,
          choices: [
            answer.toolCalls === undefined || answer.toolCalls.length === 0
              ? { index: 0, finish_reason: 'stop', message: { role: 'assistant', content: answer.content } }
              : { index: 0, finish_reason: 'tool_calls', message: { role: 'assistant', content: null, tool_calls: answer.toolCalls } },
          ],
          usage,
        }),
      );
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return { baseURL: `http://127.0.0.1:${port}/v1`, requests, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/**
 * For a test file: starts scripted servers that are closed after each test.
 *
 *   const serve = scriptedServers();
 *   const server = await serve((request) => ({ content: '...' }));
 */
export function scriptedServers(): typeof startOpenAIServer {
  const open: OpenAIServer[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
  });
  return async (reply, other) => {
    const server = await startOpenAIServer(reply, other);
    open.push(server);
    return server;
  };
}
