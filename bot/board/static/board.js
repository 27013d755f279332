// The board: a session from the Widget API's OpenID token (inside Element) or from a wall-screen link, then the
// forum's state as server-sent events, read with fetch so the session token goes in the Authorization header.
"use strict";

const params = new URLSearchParams(location.hash.replace(/^#\/?\??/, ""));
const lang = params.get("lang") === "en" ? "en" : "sv";
document.documentElement.lang = lang;
const SAY = {
  sv: { connecting: "Ansluter …", lost: "Förbindelsen bröts, försöker igen …", widget: "Öppna lägestavlan i forumets rum i Element, eller med en länk från !tavla länk." },
  en: { connecting: "Connecting …", lost: "Connection lost, trying again …", widget: "Open the live board in the forum's room in Element, or with a link from !board link." },
}[lang];
const board = document.getElementById("board");

function note(text) {
  board.replaceChildren(el("p", { class: "note", id: "note" }, text));
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  for (const child of children) node.append(child === null || child === undefined ? "" : child);
  return node;
}

async function session() {
  let body;
  if (params.get("link")) {
    body = { link: params.get("link") };
  } else if (params.get("widgetId") && window.mxwidgets) {
    // The bundle's global is a function that gives the module's exports.
    const mx = typeof window.mxwidgets === "function" ? window.mxwidgets() : window.mxwidgets;
    const api = new mx.WidgetApi(params.get("widgetId"), "*");
    const ready = new Promise((resolve) => api.once("ready", resolve));
    api.start();
    await ready;
    const openid = await api.requestOpenIDConnectToken();
    body = { openid, room_id: params.get("roomId") };
  } else {
    throw new Error(SAY.widget);
  }
  const answer = await fetch("api/session", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const data = await answer.json();
  if (!answer.ok) throw new Error(data.error);
  return data.token;
}

function render(s) {
  const L = s.labels;
  const parts = [el("header", {},
    el("h1", {}, s.name),
    el("div", { class: "mode" + (s.active ? " active" : "") }, (s.exercise ? s.exercise + " " : "") + s.mode + (s.event ? ": " + s.event : "")),
    s.since ? el("div", { class: "dim" }, s.since) : null,  // "sedan fre 4 dec 03:12"
    s.warning ? el("div", {}, L.warning + ": " + s.warning) : null,
    el("div", { class: "dim" }, L.updated + " " + s.at))];
  const c = s.convocation;
  if (c) {
    const people = el("ul", {});
    const mark = { acknowledged: "✅", waiting: "⏳", not_reached: "❌" };
    for (const p of c.people) {
      people.append(el("li", { class: "state-" + p.state },
        `${mark[p.state]} ${p.function} — ${L[p.state]}` + (p.by ? ` (${p.by}${p.at ? ", " + p.at : ""})` : "") + (p.call ? ` · ${p.call}` : "")));
    }
    parts.push(el("section", {}, el("h2", {}, `${c.title.replace(/\.$/, "")} — ${c.starts}`),
      el("div", { class: "big" }, `${L.acknowledged} ${c.acknowledged} / ${c.total}`), people));
  }
  const lb = s.lagesbild;
  parts.push(el("section", {}, el("h2", {}, L.lagesbild), el("div", { class: "big" }, `${lb.done} / ${lb.total}`),
    lb.missing.length ? el("div", {}, `${L.missing}: ${lb.missing.join(", ")}`) : null));
  const actions = el("ul", {});
  for (const a of s.actions) {
    actions.append(el("li", { class: a.overdue ? "overdue" : "" },
      `#${a.number} ${a.owner}: ${a.text}` + (a.due ? ` — ${a.due}` : "") + (a.overdue ? ` (${L.overdue})` : "") +
      (a.deviation ? ` — ${L.deviation}: ${a.deviation}` : "")));
  }
  parts.push(el("section", {}, el("h2", {}, L.actions), s.actions.length ? actions : el("div", { class: "dim" }, L.none)));
  parts.push(el("section", {}, el("h2", {}, L.next), el("div", { class: "big" }, s.next ? `${s.next.name} ${s.next.when}` : L.none)));
  board.replaceChildren(...parts);
}

async function follow(token) {
  const answer = await fetch("api/events", { headers: { Authorization: "Bearer " + token } });
  if (answer.status === 401) return "expired";
  if (!answer.ok) throw new Error((await answer.json()).error);
  const reader = answer.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return "ended";
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
      if (data) render(JSON.parse(data));
    }
  }
}

async function main() {
  note(SAY.connecting);
  let token = null;
  for (;;) {
    try {
      token = token || await session();
      const how = await follow(token);
      if (how === "expired") token = null;
      else if (params.get("link")) token = null; // a revoked or expired link is asked again, and says so
    } catch (error) {
      note(error.message || SAY.lost);
      if (!params.get("link") && !params.get("widgetId")) return;
      token = null;
    }
    await new Promise((resolve) => setTimeout(resolve, 3000));
  }
}

main();
