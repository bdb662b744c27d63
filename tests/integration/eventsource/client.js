// Streams one agentrun SSE URL with the W3C EventSource client (npm
// `eventsource`) and prints each event as a JSON line: {id, type, data}.
// Stops at the run's terminal event, or when the server ends the stream
// and the client's own reconnect brings nothing new, or after a deadline.
// Usage: node client.js URL API_KEY [deadline_ms]
const EventSource = require("eventsource");

const [url, key, deadlineArg] = process.argv.slice(2);
const deadline = Number(deadlineArg || 30000);
const types = ["run.created", "run.started", "step.started", "step.completed", "step.retrying",
  "thinking.delta", "message.delta", "message.completed", "tool.call", "tool.result",
  "run.waiting_for_input", "input.received", "run.awaiting_approval", "run.approved",
  "run.cancel_requested", "run.completed", "run.failed", "run.timeout", "run.cancelled",
  "run.rejected"];
const terminal = new Set(["run.completed", "run.failed", "run.timeout", "run.cancelled",
  "run.rejected"]);

const es = new EventSource(url, { headers: { Authorization: "Bearer " + key } });
const timer = setTimeout(() => { es.close(); process.exit(2); }, deadline);
for (const t of types) {
  es.addEventListener(t, (e) => {
    process.stdout.write(JSON.stringify({ id: e.lastEventId, type: e.type,
      data: JSON.parse(e.data) }) + "\n");
    if (terminal.has(t)) {
      clearTimeout(timer);
      es.close();
      process.exit(0);
    }
  });
}
es.onerror = (e) => {
  if (e && e.status) {
    process.stderr.write("HTTP " + e.status + "\n");
    clearTimeout(timer);
    es.close();
    process.exit(3);
  }
};
