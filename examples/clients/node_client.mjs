#!/usr/bin/env node
// A client for `llf-host serve` in plain Node.js 20 (no npm packages).
//
//   node examples/clients/node_client.mjs [model] [prompt...]
//
// It starts `llf-host serve`, initializes, lists the models, streams one chat
// answer token by token ($/progress), prints the final result, then shuts the
// server down. LLF_HOST_COMMAND (a JSON array) overrides the server command,
// e.g. '["python", "-m", "llf_host._cli"]'. See docs/protocol.md.

import { spawn } from "node:child_process";

const command = process.env.LLF_HOST_COMMAND
  ? JSON.parse(process.env.LLF_HOST_COMMAND)
  : ["llf-host"];
const [wantedModel, ...promptWords] = process.argv.slice(2);
const prompt = promptWords.join(" ") || "Say hello in five words.";

const server = spawn(command[0], [...command.slice(1), "serve", "--no-watch"], {
  stdio: ["pipe", "pipe", "inherit"],
});

// --- framing: Content-Length headers, bodies counted in bytes -------------------
let buffer = Buffer.alloc(0);
const pending = new Map(); // id -> {resolve, reject}
const progress = new Map(); // token -> callback
let nextId = 1;

server.stdout.on("data", (chunk) => {
  buffer = Buffer.concat([buffer, chunk]);
  for (;;) {
    const end = buffer.indexOf("\r\n\r\n");
    if (end < 0) return;
    const header = buffer.subarray(0, end).toString("ascii");
    const match = /content-length:\s*(\d+)/i.exec(header);
    if (!match) throw new Error(`bad header from server: ${header}`);
    const length = Number(match[1]);
    if (buffer.length < end + 4 + length) return;
    const body = buffer.subarray(end + 4, end + 4 + length).toString("utf8");
    buffer = buffer.subarray(end + 4 + length);
    dispatch(JSON.parse(body));
  }
});

function dispatch(message) {
  if (message.method === "$/progress") {
    progress.get(message.params.token)?.(message.params.value);
  } else if (message.method === "window/logMessage") {
    console.error(`[server] ${message.params.message}`);
  } else if (message.method !== undefined && message.id !== undefined) {
    // A request from the server (e.g. tool approval): this client handles none.
    send({ id: message.id, error: { code: -32601, message: `unhandled ${message.method}` } });
  } else if (message.id !== undefined && pending.has(message.id)) {
    const { resolve, reject } = pending.get(message.id);
    pending.delete(message.id);
    if (message.error) {
      const hint = message.error.data?.hint ? ` (${message.error.data.hint})` : "";
      reject(new Error(`${message.error.code}: ${message.error.message}${hint}`));
    } else {
      resolve(message.result);
    }
  }
}

function send(message) {
  const body = Buffer.from(JSON.stringify({ jsonrpc: "2.0", ...message }), "utf8");
  server.stdin.write(`Content-Length: ${body.length}\r\n\r\n`);
  server.stdin.write(body);
}

function request(method, params) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    send({ id, method, params });
  });
}

function notify(method, params = {}) {
  send({ method, params });
}

// --- the session -----------------------------------------------------------------
const exited = new Promise((resolve) => server.on("exit", (code) => resolve(code)));

try {
  const info = await request("initialize", {
    processId: process.pid,
    clientInfo: { name: "node_client.mjs", version: "1.0" },
  });
  notify("initialized");
  console.log(`server: ${info.serverInfo.name} ${info.serverInfo.version}`);

  const { models, errors } = await request("models/list", {});
  console.log(`models: ${models.map((m) => m.id).join(", ") || "(none)"}`);
  for (const e of errors) console.log(`  unavailable: ${e.provider}: ${e.error.message}`);

  const model = wantedModel || models[0]?.id;
  if (!model) throw new Error("no model to chat with");
  const token = "node-chat-1";
  process.stdout.write(`chat (${model}): `);
  progress.set(token, (value) => {
    if (value.kind === "delta" && value.content) process.stdout.write(value.content);
  });
  const result = await request("chat/complete", {
    model,
    messages: [{ role: "user", content: prompt }],
    stream: { token },
  });
  progress.delete(token);
  process.stdout.write("\n");
  console.log(`final: ${JSON.stringify(result.message.content)}`);
  console.log(`usage: ${JSON.stringify(result.usage)} finish: ${result.finish_reason}`);

  await request("shutdown");
  notify("exit");
  console.log(`server exited with ${await exited}`);
} catch (error) {
  console.error(`error: ${error.message}`);
  server.kill();
  process.exitCode = 1;
}
