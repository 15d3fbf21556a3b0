"use strict";
// The review queue: GET /admin/review, corrections, POST /admin/review/items/{id}, and the export download.

const errorBox = document.getElementById("error");
const tokenInput = document.getElementById("token");
let labels = {intents: [], slots: []};

function headers() {
  return {"Authorization": "Bearer " + tokenInput.value, "Content-Type": "application/json"};
}

function fail(message) {
  errorBox.textContent = message;
  errorBox.hidden = false;
}

async function call(method, path, body) {
  const response = await fetch(path, {method, headers: headers(), body: body && JSON.stringify(body)});
  if (!response.ok) {
    fail(await errorText(response));
    return null;
  }
  errorBox.hidden = true;
  return response;
}

// One item: its text as selectable words, its slots, the intent choice, accept and discard.
function itemCard(item) {
  const answer = item.answer;
  let slots = (item.slots || answer.slots).map((s) => ({name: s.name, start: s.start, end: s.end}));
  let anchor = null;
  const selected = new Set();
  const card = el("li", {class: "item", "data-id": item.id});
  const shown = el("p", {class: "utterance"});
  const words = el("div", {class: "words", role: "group", "aria-label": "words"});
  const slotList = el("ul", {class: "slot-list"});

  const intent = el("select", {class: "intent", "aria-label": "intent"});
  const names = [...new Set([...answer.intent_ranking.map((r) => r.name), ...labels.intents])];
  const current = item.intent || (answer.intent ? answer.intent.name : answer.intent_ranking[0].name);
  for (const name of names) {
    const r = answer.intent_ranking.find((x) => x.name === name);
    intent.append(el("option", {value: name, selected: name === current}, name + (r ? " " + percent(r.confidence) : "")));
  }
  const label = el("input", {class: "slot-label", type: "text", placeholder: "slot label", "aria-label": "slot label"});
  label.setAttribute("list", "slot-names");

  function redraw() {
    highlight(shown, item.text, slots);
    slotList.replaceChildren(...slots.map((s, i) => el("li", {},
      el("span", {}, `${s.name}: “${item.text.slice(s.start, s.end)}” `),
      el("button", {type: "button", class: "remove", onclick: () => { slots.splice(i, 1); redraw(); }}, "remove"))));
    for (const [i, b] of [...words.children].entries()) b.classList.toggle("selected", selected.has(i));
  }

  answer.tokens.forEach((token, i) => {
    words.append(el("button", {type: "button", class: "word", "data-index": i, onclick: (event) => {
      if (event.shiftKey && anchor !== null) {
        selected.clear();
        for (let k = Math.min(anchor, i); k <= Math.max(anchor, i); k++) selected.add(k);
      } else if (selected.has(i) && selected.size === 1) {
        selected.clear();
        anchor = null;
      } else {
        selected.clear();
        selected.add(i);
        anchor = i;
      }
      redraw();
    }}, token.text));
  });

  const add = el("button", {type: "button", class: "add-slot", onclick: () => {
    if (!selected.size || !label.value.trim()) return fail("select words and type a label first");
    const idx = [...selected].sort((a, b) => a - b);
    const span = {name: label.value.trim(), start: answer.tokens[idx[0]].start, end: answer.tokens[idx.at(-1)].end};
    slots = slots.filter((s) => s.end <= span.start || s.start >= span.end).concat([span]);
    selected.clear();
    redraw();
  }}, "Add slot");

  async function verdict(status) {
    const body = {status, intent: status === "accepted" ? intent.value : null, slots};
    const response = await call("POST", "/admin/review/items/" + item.id, body);
    if (response) {
      card.classList.add(status);
      card.querySelector(".state").textContent = status;
    }
  }

  card.append(
    el("div", {class: "row"}, el("span", {class: "muted"}, `#${item.id} · uncertainty ${percent(item.uncertainty)}`
      + ` · ${item.model} · `), el("span", {class: "state"}, item.status)),
    shown, words,
    el("div", {class: "row"}, intent, label, add),
    slotList,
    el("div", {class: "row"},
      el("button", {type: "button", class: "accept", onclick: () => verdict("accepted")}, "Accept"),
      el("button", {type: "button", class: "discard", onclick: () => verdict("discarded")}, "Discard")));
  redraw();
  return card;
}

async function load() {
  const status = document.getElementById("status").value;
  const response = await call("GET", "/admin/review?limit=200&status=" + status);
  if (!response) return;
  sessionStorage.setItem("elmol-token", tokenInput.value);
  const body = await response.json();
  document.getElementById("count").textContent = `${body.items.length} shown of ${body.total} kept`;
  document.getElementById("export").hidden = false;
  document.getElementById("items").replaceChildren(...body.items.map(itemCard));
}

async function download(format, filename) {
  const response = await call("GET", "/admin/review/export?format=" + format);
  if (!response) return;
  const url = URL.createObjectURL(await response.blob());
  const link = el("a", {href: url, download: filename});
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

document.getElementById("token-form").addEventListener("submit", (event) => { event.preventDefault(); load(); });
document.getElementById("export-massive").addEventListener("click", () => download("massive", "review.jsonl"));
document.getElementById("export-rasa").addEventListener("click", () => download("rasa-yaml", "review.yml"));
tokenInput.value = sessionStorage.getItem("elmol-token") || "";

skillsInfo().then((skills) => {
  labels = {intents: [...new Set(skills.flatMap((s) => s.intents))].sort(),
            slots: [...new Set(skills.flatMap((s) => s.slots))].sort()};
  const list = el("datalist", {id: "slot-names"});
  for (const name of labels.slots) list.append(el("option", {value: name}));
  document.body.append(list);
});
