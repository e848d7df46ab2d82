// text-gym labelling page. Model text is only ever set with textContent / value (never parsed as HTML).
"use strict";

const meta = (name) => document.querySelector(`meta[name="${name}"]`).content;
const $ = (id) => document.getElementById(id);
const state = { mode: meta("label-mode"), item: null, ranking: [], busy: false };

function annotator() { return $("annotator").value.trim(); }

async function api(method, path, body) {
  const headers = { "X-Label-Token": meta("label-token") };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let data = {};
  try { data = await response.json(); } catch (error) { data = { error: response.statusText }; }
  return { ok: response.ok, status: response.status, data };
}

function setStatus(text, kind) {
  $("status").textContent = text;
  $("status").className = kind || "";
}

function setProgress(progress) {
  $("progress").textContent = `${progress.done} / ${progress.total} labelled`;
}

function card(index, text, label, key) {
  const element = document.createElement("button");
  element.type = "button";
  element.className = "candidate";
  element.dataset.index = String(index);
  const head = document.createElement("div");
  head.className = "head";
  const name = document.createElement("span");
  name.textContent = label;
  const hint = document.createElement("kbd");
  hint.textContent = key;
  const rank = document.createElement("span");
  rank.className = "rank";
  head.append(name, rank, hint);
  const body = document.createElement("div");
  body.className = "text";
  body.textContent = text;
  element.append(head, body);
  element.addEventListener("click", () => choose(index));
  return element;
}

const INSTRUCTIONS = {
  pair: "Which continuation is better? Click it, or press 1 / 2 (← / →).",
  rank: "Click the continuations (or press their numbers) from best to worst, then submit with Enter.",
  edit: "Rewrite the continuation into what you wanted; the edit is recorded as preferred over the original.",
};

function render() {
  const item = state.item;
  document.querySelectorAll("#modes button")
    .forEach((b) => b.classList.toggle("active", b.dataset.mode === state.mode));
  const instructions = INSTRUCTIONS[state.mode];
  $("instructions").textContent = item && Array.isArray(item.prompt)
    ? instructions.replaceAll("continuation", "next reply") : instructions;
  $("done").hidden = item !== null;
  $("candidates").replaceChildren();
  $("edit-area").hidden = !(item && state.mode === "edit");
  $("submit").hidden = !(item && state.mode !== "pair");
  $("submit").disabled = false;
  $("clear").hidden = !(item && state.mode === "rank");
  renderPrompt(item ? item.prompt : "");
  if (!item) return;
  if (state.mode === "edit") {
    $("original").textContent = item.completions[0];
    $("edit-text").value = item.completions[0];
    $("submit").textContent = "Save edit (Ctrl+Enter)";
    $("edit-text").focus();
    return;
  }
  $("candidates").className = state.mode;
  item.completions.forEach((text, index) => {
    const label = state.mode === "pair" ? `${"AB"[index]}` : `#${index + 1}`;
    $("candidates").append(card(index, text, label, String(index + 1)));
  });
  if (state.mode === "rank") {
    $("submit").textContent = "Submit ranking (Enter)";
    renderRanking();
  }
}

// A conversation prompt (a list of {role, content} messages) shows turn by turn; a text prompt as text.
function renderPrompt(prompt) {
  const conversation = Array.isArray(prompt);
  $("prompt-title").textContent = conversation ? "Conversation so far" : "Prompt";
  $("prompt").className = conversation ? "conversation" : "text";
  if (!conversation) { $("prompt").textContent = prompt; return; }
  $("prompt").replaceChildren(...prompt.map((message) => {
    const turn = document.createElement("div");
    turn.className = `message ${message.role}`;
    const role = document.createElement("div");
    role.className = "role";
    role.textContent = message.role;
    const text = document.createElement("div");
    text.className = "text";
    text.textContent = message.content;
    turn.append(role, text);
    return turn;
  }));
}

function renderRanking() {
  document.querySelectorAll(".candidate").forEach((element) => {
    const position = state.ranking.indexOf(Number(element.dataset.index));
    element.classList.toggle("ranked", position >= 0);
    element.querySelector(".rank").textContent = position >= 0 ? `rank ${position + 1}` : "";
  });
  $("submit").disabled = state.ranking.length < state.item.completions.length - 1;
}

async function loadNext() {
  const who = annotator();
  if (!who) { setStatus("Enter an annotator id first.", "error"); return; }
  const result = await api("GET", `/api/next?annotator=${encodeURIComponent(who)}&mode=${state.mode}`);
  if (!result.ok) { setStatus(result.data.error, "error"); return; }
  state.item = result.data.item;
  state.ranking = [];
  setProgress(result.data.progress);
  render();
}

async function send(fields) {
  if (state.busy || !state.item) return;
  state.busy = true;
  try {
    const result = await api("POST", "/api/label", { annotator: annotator(), item: state.item.key, ...fields });
    if (result.ok) {
      setStatus(`Saved (${result.data.progress.done} / ${result.data.progress.total}).`, "ok");
    } else {
      setStatus(result.data.error, "error");
      if (result.status !== 409) return;
    }
    await loadNext();
  } finally {
    state.busy = false;
  }
}

function choose(index) {
  if (!state.item) return;
  if (state.mode === "pair") {
    send({ choice: index });
  } else if (state.mode === "rank" && !state.ranking.includes(index)) {
    state.ranking.push(index);
    const rest = state.item.completions.map((_, i) => i).filter((i) => !state.ranking.includes(i));
    if (rest.length === 1) state.ranking.push(rest[0]);
    renderRanking();
  }
}

function submit() {
  if (!state.item) return;
  if (state.mode === "rank") {
    if (state.ranking.length === state.item.completions.length) send({ ranking: state.ranking });
  } else if (state.mode === "edit") {
    send({ text: $("edit-text").value });
  }
}

function takeBack() {
  if (state.mode !== "rank" || !state.item) return;
  state.ranking.pop();
  if (state.ranking.length === state.item.completions.length - 1) state.ranking.pop();
  renderRanking();
}

async function undo() {
  if (state.busy) return;
  state.busy = true;
  try {
    const result = await api("POST", "/api/undo", { annotator: annotator() });
    if (!result.ok) { setStatus(result.data.error, "error"); return; }
    setStatus("Undone: the last label is retracted, its item is shown again.", "ok");
    state.mode = result.data.mode;
    await loadNext();
  } finally {
    state.busy = false;
  }
}

function setMode(mode) {
  state.mode = mode;
  setStatus("", "");
  loadNext();
}

document.addEventListener("keydown", (event) => {
  const typing = event.target instanceof HTMLTextAreaElement || event.target instanceof HTMLInputElement;
  if (typing) {
    if (event.target.id === "edit-text" && event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      submit();
    }
    return;
  }
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const key = event.key.toLowerCase();
  if (key === "u") undo();
  else if (key === "p") setMode("pair");
  else if (key === "r") setMode("rank");
  else if (key === "e") setMode("edit");
  else if (state.mode === "pair" && (key === "arrowleft" || key === "arrowright")) choose(key === "arrowleft" ? 0 : 1);
  else if (/^[1-9]$/.test(key) && state.item && Number(key) <= state.item.completions.length) choose(Number(key) - 1);
  else if (key === "enter") submit();
  else if (key === "backspace") takeBack();
  else return;
  event.preventDefault();
});

document.addEventListener("DOMContentLoaded", () => {
  $("annotator").value = localStorage.getItem("text-gym-annotator") || meta("label-annotator");
  $("annotator").addEventListener("change", () => {
    localStorage.setItem("text-gym-annotator", annotator());
    loadNext();
  });
  document.querySelectorAll("#modes button").forEach((b) => b.addEventListener("click", () => setMode(b.dataset.mode)));
  $("submit").addEventListener("click", submit);
  $("clear").addEventListener("click", () => { state.ranking = []; renderRanking(); });
  $("undo").addEventListener("click", undo);
  loadNext();
});
