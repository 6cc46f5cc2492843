// The TypeScript Claude Agent SDK's documented examples, with `dexa` as the CLI (pathToClaudeCodeExecutable).
// Usage: node examples.mjs <query|multi-turn|can-use-tool|hook|custom-tool|interrupt> <cli-path> <cwd>
// Prints one JSON line: what the example saw, for the Python test to check.
import { createSdkMcpServer, query, tool } from "@anthropic-ai/claude-agent-sdk";
import { z } from "zod"; // the SDK's peer dependency, installed with it

const [example, cli, cwd] = process.argv.slice(2);
const base = { pathToClaudeCodeExecutable: cli, cwd, env: { ...process.env } };

async function collect(q, stopAfterResults = Infinity) {
  const out = [];
  for await (const m of q) {
    out.push(m);
    if (out.filter((x) => x.type === "result").length >= stopAfterResults) break;
  }
  return out;
}

// A prompt stream the example controls: push() a user message, end() closes stdin.
function inbox() {
  const queue = [];
  let wake = null;
  let done = false;
  return {
    push(text) {
      queue.push({ type: "user", message: { role: "user", content: text }, parent_tool_use_id: null });
      if (wake) wake();
    },
    end() {
      done = true;
      if (wake) wake();
    },
    async *[Symbol.asyncIterator]() {
      for (;;) {
        while (queue.length) yield queue.shift();
        if (done) return;
        await new Promise((r) => (wake = r));
        wake = null;
      }
    },
  };
}

const summary = (msgs) => ({
  results: msgs.filter((m) => m.type === "result").map((m) => ({
    subtype: m.subtype, is_error: m.is_error, result: m.result, session_id: m.session_id,
    modelUsage: m.modelUsage, duration_api_ms: m.duration_api_ms,
  })),
  tool_results: msgs
    .filter((m) => m.type === "user" && Array.isArray(m.message?.content))
    .flatMap((m) => m.message.content.filter((b) => b.type === "tool_result"))
    .map((b) => ({ is_error: !!b.is_error, content: typeof b.content === "string" ? b.content : JSON.stringify(b.content) })),
  init: msgs.find((m) => m.type === "system" && m.subtype === "init") ?? null,
});

const examples = {
  async query() {
    return summary(await collect(query({ prompt: "What is 2 + 2?", options: base })));
  },
  async "multi-turn"() {
    const prompts = inbox();
    const q = query({ prompt: prompts, options: base });
    prompts.push("first question");
    const msgs = [];
    for await (const m of q) {
      msgs.push(m);
      if (m.type === "result") {
        if (msgs.filter((x) => x.type === "result").length === 1) prompts.push("second question");
        else prompts.end();
      }
    }
    return summary(msgs);
  },
  async "can-use-tool"() {
    const asked = [];
    const prompts = inbox();
    const canUseTool = async (name, input) => {
      asked.push(input.command);
      return input.command.startsWith("rm")
        ? { behavior: "deny", message: "no deleting" }
        : { behavior: "allow", updatedInput: input };
    };
    const q = query({ prompt: prompts, options: { ...base, canUseTool } });
    prompts.push("make a file, then try to delete it");
    const msgs = [];
    for await (const m of q) {
      msgs.push(m);
      if (m.type === "result") prompts.end();
    }
    return { ...summary(msgs), asked };
  },
  async hook() {
    const seen = [];
    const guard = async (input) => {
      seen.push({ event: input.hook_event_name, tool: input.tool_name, input: input.tool_input });
      return { hookSpecificOutput: { hookEventName: "PreToolUse", permissionDecision: "deny",
                                     permissionDecisionReason: "echo is off limits today" } };
    };
    const prompts = inbox();
    const q = query({ prompt: prompts, options: { ...base, hooks: { PreToolUse: [{ matcher: "Bash", hooks: [guard] }] } } });
    prompts.push("echo something");
    const msgs = [];
    for await (const m of q) {
      msgs.push(m);
      if (m.type === "result") prompts.end();
    }
    return { ...summary(msgs), seen };
  },
  async "custom-tool"() {
    const calls = [];
    const add = tool("add", "Add two numbers", { a: z.number(), b: z.number() }, async (args) => {
      calls.push(args);
      return { content: [{ type: "text", text: `SUM-FROM-SDK=${args.a + args.b}` }] };
    });
    const calc = createSdkMcpServer({ name: "calc", version: "1.0.0", tools: [add] });
    const prompts = inbox();
    const options = { ...base, mcpServers: { calc }, allowedTools: ["mcp__calc__add"] };
    const q = query({ prompt: prompts, options });
    prompts.push("add 2 and 40");
    const msgs = [];
    for await (const m of q) {
      msgs.push(m);
      if (m.type === "result") prompts.end();
    }
    return { ...summary(msgs), calls };
  },
  async interrupt() {
    const prompts = inbox();
    const q = query({ prompt: prompts, options: { ...base, includePartialMessages: true } });
    prompts.push("take your time");
    const msgs = [];
    let interruptedAt = 0;
    let resultAt = 0;
    for await (const m of q) {
      msgs.push(m);
      if (m.type === "stream_event" && !interruptedAt) {
        interruptedAt = Date.now();
        await q.interrupt();
      }
      if (m.type === "result") {
        // Like Claude Code, dexa exits non-zero when the last result is an error: the session goes on instead.
        if (!resultAt) {
          resultAt = Date.now();
          prompts.push("carry on");
        } else prompts.end();
      }
    }
    return { ...summary(msgs), interrupt_ms: resultAt - interruptedAt,
             partial: msgs.filter((m) => m.type === "stream_event").length };
  },
};

const run = examples[example];
if (!run) {
  console.error(`unknown example ${example}; one of ${Object.keys(examples).join(", ")}`);
  process.exit(2);
}
const timer = setTimeout(() => {
  console.error(`example ${example} timed out`);
  process.exit(3);
}, 60_000);
const result = await run();
clearTimeout(timer);
console.log(JSON.stringify(result));
