"use strict";
// Shared by the console pages. Every text from an answer or a user goes in with textContent, never as markup.

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("data-") || key.startsWith("aria-") || key === "role") node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) node.append(child);
  return node;
}

function percent(confidence) {
  return confidence == null ? "–" : (100 * confidence).toFixed(1) + "%";
}

// The text with each slot (character spans) wrapped in a <mark> carrying its label.
function highlight(container, text, slots) {
  container.replaceChildren();
  let at = 0;
  for (const slot of [...slots].sort((a, b) => a.start - b.start)) {
    container.append(text.slice(at, slot.start));
    const label = el("span", {class: "label"}, slot.name +
      (slot.confidence != null ? " " + percent(slot.confidence) : ""));
    const value = el("span", {class: "value"}, text.slice(slot.start, slot.end));
    container.append(el("mark", {"data-slot": slot.name, title: slot.name}, value, label));
    at = slot.end;
  }
  container.append(text.slice(at));
}

async function errorText(response) {
  try {
    const body = await response.json();
    const detail = body.detail;
    if (Array.isArray(detail)) return detail.map((d) => d.msg).join("; ");
    return String(detail);
  } catch {
    return response.status + " " + response.statusText;
  }
}

async function skillsInfo() {
  const response = await fetch("/skills");
  return response.ok ? (await response.json()).skills : [];
}
