// The README's quick start as a typed client: types generated from
// docs/openapi.yaml by openapi-typescript (schema.d.ts), requests made with
// openapi-fetch. It creates an agent on the built-in scripted model, adds a
// version and activates it, starts a run with an Idempotency-Key, follows the
// run's events over Server-Sent Events until the terminal one, and reads what
// the run cost.
//
//   npm ci && npm run generate && npm run build
//   node dist/quickstart.mjs "$AGENTRUN_URL" "$AGENTRUN_API_KEY" [prompt]
//
// It prints one JSON line per step ({"step": ...}); the suite runs it against
// its test stack (tests/integration/test_openapi_tools.py).
import { randomUUID } from "node:crypto";

import createClient from "openapi-fetch";

import type { components, paths } from "./schema.js";

type Event = components["schemas"]["Event"];
type Run = components["schemas"]["Run"];

const [baseUrl, apiKey, prompt = "hello from the typed client"] = process.argv.slice(2);
if (!baseUrl || !apiKey) {
  process.stderr.write("usage: node quickstart.mjs URL API_KEY [prompt]\n");
  process.exit(2);
}

const api = createClient<paths>({
  baseUrl: baseUrl.replace(/\/$/, "") + "/api/v1",
  headers: { Authorization: `Bearer ${apiKey}` },
});

function say(step: string, fields: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify({ step, ...fields }) + "\n");
}

function fail(what: string, error: unknown, status: number): never {
  process.stderr.write(`${what}: HTTP ${status} ${JSON.stringify(error)}\n`);
  process.exit(1);
}

// Reads an SSE body until the run's terminal event; returns the events.
async function follow(body: ReadableStream<Uint8Array>): Promise<Event[]> {
  const terminal = new Set(["run.completed", "run.failed", "run.timeout", "run.cancelled",
    "run.rejected"]);
  const events: Event[] = [];
  const decoder = new TextDecoder();
  let buf = "";
  const reader = body.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) {
      return events;
    }
    buf += decoder.decode(value, { stream: true });
    let cut: number;
    while ((cut = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      const data = block.split("\n").filter((l) => l.startsWith("data:"))
        .map((l) => l.slice(5).trimStart()).join("\n");
      if (data === "") {
        continue; // a ": keep-alive" comment
      }
      const ev = JSON.parse(data) as Event;
      events.push(ev);
      if (ev.type === "message.delta") {
        say("delta", { seq: ev.seq, content: ev.data.content });
      }
      if (terminal.has(ev.type)) {
        await reader.cancel();
        return events;
      }
    }
  }
}

async function main(): Promise<void> {
  // 1. An agent.
  const key = "ts-quickstart-" + randomUUID().slice(0, 8);
  const agent = await api.POST("/agents", { body: { key, name: "TypeScript quick start" } });
  if (!agent.data) fail("create agent", agent.error, agent.response.status);
  say("agent", { id: agent.data.id, key: agent.data.key });

  // 2. A version on the scripted echo model (a draft), 3. activated.
  const version = await api.POST("/agents/{id}/versions", {
    params: { path: { id: agent.data.id } },
    body: {
      model: { provider: "scripted", name: "echo" },
      system_prompt: "You repeat what you are told.",
      limits: { timeout_s: 60 },
    },
  });
  if (!version.data) fail("create version", version.error, version.response.status);
  const active = await api.POST("/agents/{id}/versions/{n}/activate", {
    params: { path: { id: agent.data.id, n: version.data.version } },
  });
  if (!active.data) fail("activate", active.error, active.response.status);
  say("version", { version: active.data.version, status: active.data.status });

  // 4. A run, safe to retry: the same Idempotency-Key gives the same run.
  const idempotencyKey = randomUUID();
  const create = () => api.POST("/runs", {
    params: { header: { "Idempotency-Key": idempotencyKey } },
    body: { agent_id: agent.data.id, input: { prompt } },
  });
  const first = await create();
  if (!first.data) fail("create run", first.error, first.response.status);
  const again = await create();
  if (!again.data) fail("create run again", again.error, again.response.status);
  const run: Run = first.data;
  say("run", { id: run.id, status: run.status, replayed_same_run: again.data.id === run.id });

  // 5. Its events, live, over SSE (the stream closes after the terminal event).
  const stream = await api.GET("/runs/{id}/events", {
    params: { path: { id: run.id } },
    headers: { Accept: "text/event-stream" },
    parseAs: "stream",
  });
  if (!stream.response.ok || stream.data == null) {
    fail("events", stream.error, stream.response.status);
  }
  const events = await follow(stream.data as ReadableStream<Uint8Array>);
  const last = events[events.length - 1];
  say("events", { count: events.length, types: events.map((e) => e.type),
    terminal: last?.type ?? null });

  // 6. The finished run and what it cost.
  const done = await api.GET("/runs/{id}", { params: { path: { id: run.id } } });
  if (!done.data) fail("get run", done.error, done.response.status);
  const costs = await api.GET("/analytics/runs/{id}/costs", {
    params: { path: { id: run.id } },
  });
  if (!costs.data) fail("costs", costs.error, costs.response.status);
  say("cost", {
    status: done.data.status,
    response: done.data.output?.response ?? null,
    cost_usd: done.data.cost_usd,
    total_tokens: done.data.usage.total_tokens,
    total_cost_usd: costs.data.total_cost_usd,
    models: costs.data.models.map((m) => `${m.provider}/${m.model}`),
  });
}

main().catch((e: unknown) => {
  process.stderr.write(`error: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(1);
});
