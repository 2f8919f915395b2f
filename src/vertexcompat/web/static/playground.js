// The vertexcompat playground: one page that sends Chat Completions requests to this
// server (the Vertex-shaped routes under /v1/projects/{p}/locations/{l}/endpoints/openapi)
// and shows the streamed answer as it is written. Hand-written, no build step, no
// dependencies; the server's Content-Security-Policy allows only this origin's scripts, so
// nothing here is inline and nothing is ever inserted as HTML (text goes in as text).
"use strict";

(() => {
  // A --no-auth server takes any bearer token but still wants the header.
  const PLACEHOLDER_TOKEN = "playground";
  const PREFERRED_MODEL = "google/gemini-2.5-flash";
  const THOUGHT_TAG = "think";
  const AUDIO_FORMATS = {
    "audio/wav": "wav", "audio/x-wav": "wav", "audio/wave": "wav", "audio/vnd.wave": "wav",
    "audio/mpeg": "mp3", "audio/mp3": "mp3", "audio/flac": "flac", "audio/x-flac": "flac",
    "audio/ogg": "ogg", "audio/opus": "ogg", "audio/webm": "webm",
  };

  const $ = (id) => document.getElementById(id);

  const state = {
    history: [], // the conversation so far, as sent (system prompt excluded)
    attachments: [], // {name, kind, dataUrl, part}
    controller: null, // the running request's AbortController
    conversation: 0, // bumped by "New chat": a request from an earlier one is dropped
  };

  // -- errors ------------------------------------------------------------------------

  // An error to show: the server's Google-style body ({code, status, message, param}) or
  // one this page found before sending.
  class ShownError extends Error {
    constructor(detail) {
      super(detail.message || "Request failed.");
      this.detail = detail;
    }
  }

  function pageError(message, param) {
    return new ShownError({ code: null, status: "Not sent", message, param: param || null });
  }

  function showError(detail) {
    const box = $("error");
    const head = [detail.code, detail.status].filter((x) => x !== null && x !== undefined && x !== "");
    $("error-status").textContent = head.length ? head.join(" ") + ":" : "Error:";
    $("error-message").textContent = detail.message || "Request failed.";
    const param = detail.param;
    $("error-param").textContent = param || "";
    $("error-param-line").hidden = !param;
    const hint = $("error-hint");
    if (detail.code === 401) {
      hint.textContent = "Paste an access token above: vertexcompat auth print-access-token --key KEY.json";
    } else if (detail.code === 403) {
      hint.textContent = "This token's account holds no role on the project; check the project field.";
    } else {
      hint.textContent = "";
    }
    hint.hidden = !hint.textContent;
    box.hidden = false;
  }

  function hideError() {
    $("error").hidden = true;
  }

  async function readJson(response) {
    const text = await response.text();
    try {
      return JSON.parse(text);
    } catch (_) {
      return { text };
    }
  }

  // The error object of a failed response, whatever shape its body has.
  function errorDetail(response, body) {
    const error = body && typeof body.error === "object" && body.error ? body.error : {};
    return {
      code: error.code || response.status,
      status: error.status || response.statusText || "",
      message: error.message || (body && body.text) || `HTTP ${response.status}`,
      param: error.param || null,
    };
  }

  // -- connection and models ---------------------------------------------------------

  function apiBase() {
    const project = $("project").value.trim() || "demo";
    const location = $("location").value.trim() || "us-central1";
    return `/v1/projects/${encodeURIComponent(project)}/locations/${encodeURIComponent(location)}` +
      "/endpoints/openapi";
  }

  function authHeader() {
    return { Authorization: `Bearer ${$("token").value.trim() || PLACEHOLDER_TOKEN}` };
  }

  function setModelsStatus(text, failed) {
    const status = $("models-status");
    status.textContent = text;
    status.classList.toggle("failed", Boolean(failed));
  }

  let modelsRequest = 0; // only the newest listing is shown

  async function loadModels() {
    const request = ++modelsRequest;
    setModelsStatus("Loading models…");
    let response;
    let body;
    try {
      response = await fetch(`${apiBase()}/models`, { headers: authHeader(), cache: "no-store" });
      body = await readJson(response);
    } catch (err) {
      if (request === modelsRequest) setModelsStatus(`Could not reach the server: ${err.message}`, true);
      return;
    }
    if (request !== modelsRequest) return;
    if (!response.ok) {
      const e = errorDetail(response, body);
      setModelsStatus(`Models not listed (${e.code} ${e.status}): ${e.message}`, true);
      return;
    }
    const ids = (Array.isArray(body.data) ? body.data : [])
      .map((m) => m && m.id).filter((id) => typeof id === "string");
    const select = $("model");
    const current = select.value;
    select.replaceChildren(...ids.map((id) => new Option(id, id)));
    if (ids.includes(current)) select.value = current;
    else if (ids.includes(PREFERRED_MODEL)) select.value = PREFERRED_MODEL;
    setModelsStatus(`${ids.length} model${ids.length === 1 ? "" : "s"} on this server.`);
  }

  // -- the request ---------------------------------------------------------------------

  function parseJsonField(id, what, param) {
    const text = $(id).value.trim();
    if (!text) return undefined;
    try {
      return JSON.parse(text);
    } catch (err) {
      throw pageError(`${what} is not valid JSON: ${err.message}`, param);
    }
  }

  function numberField(id) {
    const text = $(id).value.trim();
    return text === "" ? undefined : Number(text);
  }

  // The request's parameters from the settings (everything but the messages).
  function parameters() {
    const params = {
      model: $("model").value,
      stream: true,
      stream_options: { include_usage: true },
    };
    const temperature = numberField("temperature");
    if (temperature !== undefined) params.temperature = temperature;
    const maxTokens = numberField("max-tokens");
    if (maxTokens !== undefined) params.max_tokens = maxTokens;

    const effort = $("reasoning-effort").value;
    const showThoughts = $("show-thoughts").checked;
    if (effort) {
      params.reasoning_effort = effort;
      // reasoning_effort cannot carry include_thoughts: asking for the thoughts in tags
      // inside the answer is how they are shown (README "Thinking").
      if (showThoughts) params.google = { thought_tag_marker: THOUGHT_TAG };
    } else if (showThoughts) {
      params.google = { thinking_config: { include_thoughts: true } };
    }
    if ($("want-image").checked) params.modalities = ["image", "text"];

    const schema = parseJsonField("json-schema", "The JSON schema", "response_format.json_schema.schema");
    if (schema !== undefined) {
      params.response_format = {
        type: "json_schema",
        json_schema: { name: "playground", schema, strict: true },
      };
    }
    const tools = parseJsonField("tools", "The tools", "tools");
    if (tools !== undefined) {
      if (!Array.isArray(tools)) throw pageError("The tools must be a JSON array of function tools.", "tools");
      params.tools = tools;
      params.tool_choice = $("tool-choice").value;
    }
    return params;
  }

  function composeMessage(role, text) {
    const media = state.attachments.map((a) => a.part);
    const content = media.length ? [...(text ? [{ type: "text", text }] : []), ...media] : text;
    if (role === "tool") {
      return { role: "tool", tool_call_id: $("tool-call-id").value.trim(), content };
    }
    return { role: "user", content };
  }

  // The body as shown under "Last request body": long data URLs and base64 shortened.
  function preview(body) {
    return JSON.stringify(body, (key, value) =>
      typeof value === "string" && value.length > 120 && (key === "url" || key === "data")
        ? `${value.slice(0, 60)}… (${value.length} characters)` : value, 2);
  }

  // -- reading the stream ------------------------------------------------------------

  // Server-sent events: calls onData with each event's data; true if the stream ended
  // with `data: [DONE]`. An error thrown on the way (an error frame, a bad chunk) closes
  // the stream before it is passed on.
  async function readEvents(response, onData) {
    const reader = response.body.getReader();
    try {
      return await dispatchEvents(reader, onData);
    } catch (err) {
      reader.cancel().catch(() => {});
      throw err;
    }
  }

  async function dispatchEvents(reader, onData) {
    const decoder = new TextDecoder();
    let buffer = "";
    let data = [];
    for (;;) {
      const { value, done } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      let newline;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        let line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        if (line.endsWith("\r")) line = line.slice(0, -1);
        if (line === "") {
          if (data.length) {
            const payload = data.join("\n");
            data = [];
            if (payload === "[DONE]") return true;
            onData(JSON.parse(payload));
          }
        } else if (line.startsWith("data:")) {
          data.push(line.slice(line.startsWith("data: ") ? 6 : 5));
        }
      }
      if (done) return false;
    }
  }

  // Thoughts the server put inside the answer as <think>…</think> (an unclosed tag: the
  // thoughts are still being written).
  function splitTagged(raw) {
    const open = `<${THOUGHT_TAG}>`;
    const close = `</${THOUGHT_TAG}>`;
    let thoughts = "";
    let answer = "";
    let rest = raw;
    for (;;) {
      const start = rest.indexOf(open);
      if (start < 0) {
        answer += rest;
        break;
      }
      answer += rest.slice(0, start);
      const end = rest.indexOf(close, start + open.length);
      if (end < 0) {
        thoughts += rest.slice(start + open.length);
        break;
      }
      thoughts += rest.slice(start + open.length, end);
      rest = rest.slice(end + close.length);
    }
    return { thoughts, answer: thoughts ? answer.replace(/^\s+/, "") : answer };
  }

  function imageUrl(image) {
    if (typeof image.url === "string") return image.url;
    const data = image.data || "";
    if (data.startsWith("data:")) return data;
    const google = (image.extra_content && image.extra_content.google) || {};
    return `data:${google.mime_type || "image/png"};base64,${data}`;
  }

  function formatUsage(usage) {
    if (!usage) return "";
    const parts = [`prompt ${usage.prompt_tokens}`, `completion ${usage.completion_tokens}`];
    const reasoning = usage.completion_tokens_details && usage.completion_tokens_details.reasoning_tokens;
    if (reasoning) parts.push(`reasoning ${reasoning}`);
    const cached = usage.prompt_tokens_details && usage.prompt_tokens_details.cached_tokens;
    if (cached) parts.push(`cached ${cached}`);
    parts.push(`total ${usage.total_tokens} tokens`);
    return parts.join(" · ");
  }

  function formatMs(ms) {
    return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
  }

  // One assistant turn in the transcript, filled as its chunks arrive.
  class AssistantTurn {
    constructor(model, tagged, started) {
      const node = $("assistant-turn").content.firstElementChild.cloneNode(true);
      this.node = node;
      this.tagged = tagged;
      this.started = started;
      this.firstTokenAt = null;
      this.raw = "";
      this.reasoning = "";
      this.answer = "";
      this.calls = [];
      this.image = null;
      this.extra = null;
      this.finishReason = null;
      this.usage = null;
      node.querySelector(".turn-model").textContent = model;
      this.el = {
        thoughts: node.querySelector(".thoughts"),
        thoughtsText: node.querySelector(".thoughts-text"),
        answer: node.querySelector(".answer-text"),
        calls: node.querySelector(".tool-calls"),
        figure: node.querySelector(".answer-image"),
        meta: node.querySelector(".turn-meta"),
      };
    }

    apply(chunk) {
      if (chunk.error) throw new ShownError(chunk.error);
      if (chunk.usage) this.usage = chunk.usage;
      for (const choice of chunk.choices || []) {
        if (choice.index) continue; // one candidate: n is not set
        const delta = choice.delta || {};
        const now = performance.now();
        if (delta.reasoning_content) {
          this.reasoning += delta.reasoning_content;
          this.firstTokenAt = this.firstTokenAt || now;
        }
        if (delta.content) {
          this.raw += delta.content;
          this.firstTokenAt = this.firstTokenAt || now;
        }
        for (const call of delta.tool_calls || []) {
          this.firstTokenAt = this.firstTokenAt || now;
          const slot = this.calls[call.index || 0] ||
            (this.calls[call.index || 0] = { id: "", type: "function", function: { name: "", arguments: "" } });
          if (call.id) slot.id = call.id;
          if (call.function && call.function.name) slot.function.name += call.function.name;
          if (call.function && call.function.arguments) slot.function.arguments += call.function.arguments;
          if (call.extra_content) slot.extra_content = call.extra_content;
        }
        if (delta.image) {
          this.firstTokenAt = this.firstTokenAt || now;
          this.image = delta.image;
        }
        if (delta.extra_content) this.extra = delta.extra_content;
        if (choice.finish_reason) this.finishReason = choice.finish_reason;
      }
      this.render();
    }

    render() {
      let thoughts = this.reasoning;
      this.answer = this.raw;
      if (this.tagged) {
        const split = splitTagged(this.raw);
        thoughts += split.thoughts;
        this.answer = split.answer;
      }
      if (thoughts) {
        this.el.thoughts.hidden = false;
        if (this.el.thoughtsText.textContent !== thoughts) this.el.thoughtsText.textContent = thoughts;
      }
      if (this.el.answer.textContent !== this.answer) this.el.answer.textContent = this.answer;
      this.renderCalls();
      if (this.image && this.el.figure.hidden) {
        const url = imageUrl(this.image);
        this.el.figure.querySelector("img").src = url;
        this.el.figure.querySelector("a").href = url;
        this.el.figure.hidden = false;
      }
    }

    renderCalls() {
      const calls = this.calls.filter(Boolean);
      if (!calls.length) return;
      this.el.calls.hidden = false;
      this.el.calls.replaceChildren(...calls.map((call) => {
        const item = document.createElement("li");
        const head = document.createElement("p");
        const name = document.createElement("code");
        name.textContent = call.function.name;
        head.append("call ", name, ` (${call.id})`);
        const args = document.createElement("pre");
        args.textContent = call.function.arguments;
        item.append(head, args);
        return item;
      }));
    }

    finish(note) {
      this.node.classList.remove("streaming");
      const parts = [];
      if (this.finishReason) parts.push(`finish: ${this.finishReason}`);
      if (note) parts.push(note);
      if (this.firstTokenAt) parts.push(`TTFT ${formatMs(this.firstTokenAt - this.started)}`);
      if (this.usage) parts.push(formatUsage(this.usage));
      this.el.meta.textContent = parts.join(" · ");
    }

    // The turn as the next request sends it back: the answer without its thoughts, the
    // calls, and the thought signature, which restores the thoughts on the server.
    message() {
      const calls = this.calls.filter(Boolean);
      const message = { role: "assistant", content: calls.length && !this.answer ? null : this.answer };
      if (calls.length) message.tool_calls = calls;
      if (this.extra) message.extra_content = this.extra;
      return message;
    }
  }

  // -- the transcript ------------------------------------------------------------------

  function userTurn(message, attachments) {
    const item = document.createElement("li");
    item.className = `turn ${message.role}`;
    item.dataset.testid = `turn-${message.role}`;
    const role = document.createElement("p");
    role.className = "turn-role";
    role.textContent = message.role === "tool" ? `tool result for ${message.tool_call_id}` : "user";
    const text = document.createElement("div");
    text.className = "user-text";
    text.textContent = typeof message.content === "string" ? message.content
      : message.content.filter((p) => p.type === "text").map((p) => p.text).join("\n");
    item.append(role, text);
    if (attachments.length) item.append(attachmentList(attachments, false));
    $("transcript").append(item);
    return item;
  }

  function attachmentList(attachments, removable) {
    const list = document.createElement("ul");
    list.className = "attachments";
    attachments.forEach((attachment, i) => {
      const item = document.createElement("li");
      if (attachment.kind === "image") {
        const img = document.createElement("img");
        img.src = attachment.dataUrl;
        img.alt = `Attached image ${attachment.name}`;
        item.append(img);
      }
      const name = document.createElement("span");
      name.textContent = `${attachment.kind}: ${attachment.name}`;
      item.append(name);
      if (removable) {
        const remove = document.createElement("button");
        remove.type = "button";
        remove.textContent = "Remove";
        remove.setAttribute("aria-label", `Remove ${attachment.name}`);
        remove.addEventListener("click", () => {
          state.attachments.splice(i, 1);
          renderAttachments();
        });
        item.append(remove);
      }
      list.append(item);
    });
    return list;
  }

  function renderAttachments() {
    const list = attachmentList(state.attachments, true);
    $("attachments").replaceChildren(...list.childNodes);
  }

  function readFile(file) {
    return new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => resolve(String(reader.result));
      reader.onerror = () => reject(reader.error);
      reader.readAsDataURL(file);
    });
  }

  async function attachFiles(files) {
    hideError();
    for (const file of files) {
      const kind = file.type.startsWith("image/") ? "image" : file.type.startsWith("audio/") ? "audio" : null;
      if (!kind) {
        showError(pageError(`${file.name}: only images and audio can be attached (this is "${file.type || "unknown"}").`).detail);
        continue;
      }
      const dataUrl = await readFile(file);
      const part = kind === "image"
        ? { type: "image_url", image_url: { url: dataUrl } }
        : {
          type: "input_audio",
          input_audio: { data: dataUrl.slice(dataUrl.indexOf(",") + 1), format: AUDIO_FORMATS[file.type] || file.type },
        };
      state.attachments.push({ name: file.name, kind, dataUrl, part });
    }
    renderAttachments();
  }

  // -- status --------------------------------------------------------------------------

  function setStatus(stateName, fields) {
    const status = $("status");
    status.dataset.state = stateName;
    for (const [id, text] of Object.entries(fields)) $(id).textContent = text;
  }

  function setBusy(busy) {
    $("transcript").setAttribute("aria-busy", String(busy));
    $("send").disabled = busy;
    $("stop").disabled = !busy;
  }

  function pendingCallId() {
    const answered = new Set(state.history.filter((m) => m.role === "tool").map((m) => m.tool_call_id));
    for (let i = state.history.length - 1; i >= 0; i -= 1) {
      const calls = state.history[i].tool_calls || [];
      const open = calls.find((c) => !answered.has(c.id));
      if (open) return open.id;
    }
    return "";
  }

  function syncRole() {
    const tool = $("role").value === "tool";
    $("tool-call-id-field").hidden = !tool;
    if (tool && !$("tool-call-id").value) $("tool-call-id").value = pendingCallId();
  }

  // -- sending -------------------------------------------------------------------------

  async function send(event) {
    event.preventDefault();
    if (state.controller) return;
    hideError();
    const text = $("message").value;
    const role = $("role").value;
    let body;
    let message;
    try {
      if (!text.trim() && !state.attachments.length) throw pageError("Write a message or attach a file first.");
      const params = parameters();
      message = composeMessage(role, text);
      const system = $("system").value.trim();
      const messages = [...(system ? [{ role: "system", content: system }] : []), ...state.history, message];
      body = { ...params, messages };
    } catch (err) {
      if (err instanceof ShownError) showError(err.detail);
      else throw err;
      return;
    }
    $("request-json").textContent = preview(body);

    const attachments = state.attachments;
    const sentTurn = userTurn(message, attachments);
    const started = performance.now();
    const turn = new AssistantTurn(body.model, Boolean(body.google && body.google.thought_tag_marker), started);
    $("transcript").append(turn.node);
    $("message").value = "";
    state.attachments = [];
    renderAttachments();
    setStatus("streaming", { "finish-reason": "", ttft: "", elapsed: "", usage: "" });
    const controller = new AbortController();
    state.controller = controller;
    setBusy(true);

    const conversation = state.conversation;
    let outcome = "done";
    try {
      const response = await fetch(`${apiBase()}/chat/completions`, {
        method: "POST",
        headers: { ...authHeader(), "Content-Type": "application/json" },
        body: JSON.stringify(body),
        signal: controller.signal,
        cache: "no-store",
      });
      if (!response.ok) throw new ShownError(errorDetail(response, await readJson(response)));
      const ended = await readEvents(response, (chunk) => {
        turn.apply(chunk);
        if (turn.firstTokenAt && !$("ttft").textContent) $("ttft").textContent = formatMs(turn.firstTokenAt - started);
        if (turn.finishReason) $("finish-reason").textContent = turn.finishReason;
      });
      if (!ended && !turn.finishReason) throw pageError("The stream ended before the answer was finished.");
    } catch (err) {
      if (controller.signal.aborted) {
        outcome = "stopped";
      } else {
        outcome = "error";
        const detail = err instanceof ShownError ? err.detail
          : { code: null, status: "Error", message: err.message || String(err), param: null };
        showError(detail);
      }
    } finally {
      if (state.controller === controller) {
        state.controller = null;
        setBusy(false);
      }
    }

    if (conversation !== state.conversation) return;
    const elapsed = formatMs(performance.now() - started);
    if (outcome === "error") {
      // Not part of the conversation: the message goes back to the composer to retry.
      sentTurn.remove();
      turn.node.remove();
      $("message").value = text;
      state.attachments = attachments;
      renderAttachments();
      setStatus("error", { "finish-reason": "error", elapsed, usage: "" });
      return;
    }
    turn.finish(outcome === "stopped" ? "stopped" : "");
    state.history.push(message, turn.message());
    setStatus(outcome, {
      "finish-reason": turn.finishReason || outcome,
      ttft: turn.firstTokenAt ? formatMs(turn.firstTokenAt - started) : "",
      elapsed,
      usage: formatUsage(turn.usage),
    });
    $("tool-call-id").value = "";
    if (role === "tool" && !pendingCallId()) $("role").value = "user"; // every call answered
    syncRole();
  }

  function newChat() {
    if (state.controller) state.controller.abort();
    state.conversation += 1;
    state.history = [];
    $("transcript").replaceChildren();
    hideError();
    setStatus("idle", { "finish-reason": "", ttft: "", elapsed: "", usage: "" });
    $("tool-call-id").value = "";
    $("message").focus();
  }

  // -- wiring --------------------------------------------------------------------------

  $("composer").addEventListener("submit", send);
  $("message").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      $("composer").requestSubmit();
    }
  });
  $("stop").addEventListener("click", () => state.controller && state.controller.abort());
  $("clear").addEventListener("click", newChat);
  $("role").addEventListener("change", syncRole);
  $("attach").addEventListener("change", async (event) => {
    const input = event.target;
    const files = [...input.files];
    input.value = ""; // the same file can be picked again
    await attachFiles(files);
  });
  $("reload-models").addEventListener("click", loadModels);
  for (const id of ["token", "project", "location"]) $(id).addEventListener("change", loadModels);
  document.body.dataset.ready = "true";
  loadModels();
})();
