"use strict";
// The try page: POST /parse and the answer drawn as bars, highlights and tags.

const form = document.getElementById("parse-form");
const errorBox = document.getElementById("error");
const result = document.getElementById("result");

function showRanking(ranking) {
  const list = document.getElementById("ranking");
  list.replaceChildren(...ranking.map((r) => {
    const bar = el("span", {class: "bar"});
    bar.style.width = (100 * r.confidence).toFixed(1) + "%";
    return el("li", {},
      el("span", {class: "name"}, r.name), el("span", {class: "track"}, bar),
      el("span", {class: "confidence"}, percent(r.confidence)));
  }));
}

function showAnswer(answer, ms) {
  highlight(document.getElementById("highlighted"), answer.text, answer.slots);
  const top = answer.intent || answer.intent_ranking[0];
  // a multi-intent skill may find several: each with its own probability
  const found = answer.intents.length ? answer.intents : [];
  document.getElementById("intent-name").textContent = found.length ? found.map((i) => i.name).join(" + ") : "(none)";
  document.getElementById("intent-confidence").textContent = found.length > 1
    ? found.map((i) => percent(i.confidence)).join(" + ") : (top ? percent(top.confidence) : "");
  document.getElementById("fallback").hidden = !answer.fallback;
  showRanking(answer.intent_ranking);
  document.querySelector("#slots tbody").replaceChildren(...answer.slots.map((s) =>
    el("tr", {}, el("td", {}, s.name), el("td", {}, s.value), el("td", {}, percent(s.confidence)))));
  document.getElementById("sequence-confidence").textContent = percent(answer.sequence_confidence);
  document.getElementById("tags").replaceChildren(...answer.tokens.map((t, i) =>
    el("span", {class: "tag" + (answer.tags[i] === "O" ? " outside" : "")},
      el("span", {class: "token"}, t.text), el("span", {class: "bio"}, answer.tags[i]))));
  const model = answer.model;
  document.getElementById("meta").textContent =
    `skill ${answer.skill} · model ${model.name} ${model.version} (${model.precision}) · server ${ms} ms`;
  result.hidden = false;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  errorBox.hidden = true;
  const body = {text: document.getElementById("text").value};
  const skill = document.getElementById("skill").value;
  if (skill) body.skills = [skill];
  const response = await fetch("/parse", {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
  if (!response.ok) {
    errorBox.textContent = await errorText(response);
    errorBox.hidden = false;
    result.hidden = true;
    return;
  }
  showAnswer(await response.json(), response.headers.get("X-Process-Time-Ms") || "?");
});

skillsInfo().then((skills) => {
  const select = document.getElementById("skill");
  for (const s of skills) select.append(el("option", {value: s.name}, s.name));
  select.hidden = skills.length < 2;
});
