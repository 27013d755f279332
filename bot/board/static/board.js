// The board: a session from the Widget API's OpenID token (inside Element) or from a wall-screen link, then the
// forum's state as server-sent events, read with fetch so the session token goes in the Authorization header.
// Every text from the bot or from people goes into the page as text (textContent), never as markup.
"use strict";

const params = new URLSearchParams(location.hash.replace(/^#\/?\??/, ""));
const lang = params.get("lang") === "en" ? "en" : "sv";
document.documentElement.lang = lang;
const SAY = {
  sv: {
    connecting: "Ansluter …",
    lost: "Ingen kontakt med lägestavlan. Försöker igen …",
    stale: "Tavlan är inte uppdaterad sedan {time}",
    minutes: "{n} min",
    widget: "Öppna lägestavlan i forumets rum i Element, eller med en länk från !tavla länk.",
  },
  en: {
    connecting: "Connecting …",
    lost: "No contact with the live board. Trying again …",
    stale: "The board has not been updated since {time}",
    minutes: "{n} min",
    widget: "Open the live board in the forum's room in Element, or with a link from !board link.",
  },
}[lang];
const SILENT = 30000; // ms without a word from the stream before the board says it is not up to date
// The bot writes at least every 15 s (a heartbeat), so a stream silent for 30 s is dead even if it never closed
// (a connection dropped somewhere on the way): it is aborted and a new one opened. An answer to a request is
// awaited 10 s at most, so that a dead connection the browser reuses is given up as well.
const DEAD = 30000;
const ANSWER = 10000;
const board = document.getElementById("board");
const clock = document.getElementById("clock");
const banner = document.getElementById("banner");

let shown = null; // the state on the board
let offset = 0; // the bot's clock minus this browser's, in ms
let zone = "Europe/Stockholm";
let heard = null; // Date.now() when the stream last said anything
let lost = false; // the last attempt to reach the board failed

class Refusal extends Error {} // the board's own sentence, shown as it is

function note(text) {
  board.replaceChildren(el("p", { class: "note", id: "note" }, text));
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  for (const child of children) node.append(child === null || child === undefined ? "" : child);
  return node;
}

function hhmm(ms) {
  return new Intl.DateTimeFormat("sv-SE", { timeZone: zone, hour: "2-digit", minute: "2-digit" }).format(new Date(ms));
}

function botNow() {
  return Date.now() + offset;
}

function tick() {
  clock.textContent = hhmm(botNow());
  const silent = shown !== null && (lost || (heard !== null && Date.now() - heard > SILENT));
  banner.hidden = !silent;
  if (silent) banner.textContent = (lost ? SAY.lost + " " : "") + SAY.stale.replace("{time}", hhmm(heard + offset));
  for (const node of document.querySelectorAll("[data-since]")) {
    const minutes = Math.max(0, Math.floor((botNow() - Date.parse(node.dataset.since)) / 60000));
    node.textContent = `${node.dataset.label} ${hhmm(Date.parse(node.dataset.since))} (${SAY.minutes.replace("{n}", minutes)})`;
  }
}

let widgetApi = null; // the Widget API, started once: Element greets a widget only once

function widget() {
  if (!widgetApi) {
    // The bundle's global is a function that gives the module's exports.
    const mx = typeof window.mxwidgets === "function" ? window.mxwidgets() : window.mxwidgets;
    const api = new mx.WidgetApi(params.get("widgetId"), "*");
    widgetApi = new Promise((resolve) => api.once("ready", () => resolve(api)));
    api.start();
  }
  return widgetApi;
}

async function session() {
  let body;
  if (params.get("link")) {
    body = { link: params.get("link") };
  } else if (params.get("widgetId") && window.mxwidgets) {
    const api = await widget();
    const openid = await api.requestOpenIDConnectToken();
    body = { openid, room_id: params.get("roomId") };
  } else {
    throw new Refusal(SAY.widget);
  }
  const answer = await fetch("api/session", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body), signal: AbortSignal.timeout(ANSWER) });
  const data = await answer.json();
  if (!answer.ok) throw new Refusal(data.error);
  return data.token;
}

function person(p, L) {
  const mark = { acknowledged: "✅", waiting: "⏳", not_reached: "❌" };
  const item = el("li", { class: "person state-" + p.state },
    el("div", { class: "who" }, `${mark[p.state]} `, el("b", {}, p.function), el("span", { class: "org" }, ` · ${p.organisation}`)),
    el("div", {}, L[p.state] + (p.by ? ` — ${p.by}${p.at ? ", " + p.at : ""}` : "") +
      (p.deputy_for ? ` (${L.deputy_for} ${p.deputy_for})` : "")));
  if (p.call) item.append(el("div", { class: "call" }, p.call));  // "samtal: inget svar 03:07"
  if (p.state !== "acknowledged") {
    if (p.holders.length) {
      item.append(el("div", { class: "holders" }, `${L.holders}: ` +
        p.holders.map((h) => h.name + (h.sms ? ` (${h.sms})` : "")).join(", ")));
    }
    if (p.convened_at) item.append(el("div", { class: "since", "data-since": p.convened_at, "data-label": L.waited }));
  }
  for (const d of p.deputies) {
    item.append(el("div", { class: "deputy" }, `${L.deputy}: ${d.function} · ${d.organisation} — ${L[d.state]}`));
  }
  return item;
}

function render(s) {
  shown = s;
  offset = Date.parse(s.now) - Date.now();
  zone = s.tz || zone;
  const L = s.labels;
  const parts = [el("header", {},
    el("h1", {}, s.name),
    el("div", { class: "mode" + (s.active ? " active" : "") }, (s.exercise ? s.exercise + " " : "") + s.mode + (s.event ? ": " + s.event : "")),
    s.since ? el("div", { class: "dim" }, s.since) : null,  // "sedan fre 4 dec 03:12"
    s.warning ? el("div", {}, L.warning + ": " + s.warning) : null,
    el("div", { class: "dim" }, L.updated + " " + s.at))];
  parts.push(el("section", { class: "next" }, el("h2", {}, L.next), el("div", { class: "big" }, s.next ? `${s.next.name} ${s.next.when}` : L.no_conference)));
  const c = s.convocation;
  if (c) {
    const people = el("ul", {});
    for (const p of c.people) people.append(person(p, L));
    parts.push(el("section", { class: "convocation" }, el("h2", {}, `${c.title.replace(/\.$/, "")} — ${c.starts}`),
      el("div", { class: "big" }, `${L.acknowledged} ${c.acknowledged} / ${c.total}`), people));
  }
  const actions = el("ul", {});
  for (const a of s.actions) {
    actions.append(el("li", { class: a.overdue ? "overdue" : "" },
      (a.overdue ? `⚠ ${L.overdue.toUpperCase()}: ` : "") +
      `#${a.number} ${a.owner}${a.organisation ? " · " + a.organisation : ""}: ${a.text}` +
      (a.due ? ` — ${L.due} ${a.due}` : "") + (a.deviation ? ` — ${L.deviation}: ${a.deviation}` : "")));
  }
  parts.push(el("section", {}, el("h2", {}, L.actions), s.actions.length ? actions : el("div", { class: "dim" }, L.none)));
  const lb = s.lagesbild;
  parts.push(el("section", {}, el("h2", {}, L.lagesbild), el("div", { class: "big" }, `${lb.done} / ${lb.total}`),
    lb.missing.length ? el("div", {}, `${L.missing}: ${lb.missing.join(", ")}`) : null));
  board.replaceChildren(...parts);
  tick();
}

async function follow(token) {
  // Measured on the monotonic clock: a wall clock that jumps never takes a live stream for a dead one.
  const control = new AbortController();
  let last = performance.now();
  let limit = ANSWER;
  const watch = setInterval(() => { if (performance.now() - last > limit) control.abort(); }, 1000);
  try {
    const answer = await fetch("api/events", { headers: { Authorization: "Bearer " + token }, signal: control.signal });
    if (answer.status === 401) return "expired";
    if (answer.status === 429) return "busy"; // the session's streams are taken (dead ones among them): a new session
    if (!answer.ok) throw new Refusal((await answer.json()).error);
    const reader = answer.body.pipeThrough(new TextDecoderStream()).getReader();
    last = performance.now();
    limit = DEAD;
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return "ended";
      last = performance.now();
      heard = Date.now();
      lost = false;
      buffer += value;
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
        if (data) render(JSON.parse(data));
      }
      tick();
    }
  } catch (error) {
    if (control.signal.aborted) return "silent";
    throw error;
  } finally {
    clearInterval(watch);
  }
}

async function main() {
  note(SAY.connecting);
  setInterval(tick, 1000);
  let token = null;
  for (;;) {
    let wait = 3000;
    try {
      token = token || await session();
      const how = await follow(token);
      if (how === "silent" || how === "busy") {
        // The stream went silent without closing, or the session has no stream left: what was shown stays under
        // the banner, and a new stream is opened (on a new session, when this one's streams are taken).
        if (how === "busy") token = null;
        if (shown) lost = true;
        tick();
      } else {
        // The stream ended: the session has ended (its right with it) or the bot stopped. What was shown goes,
        // and the page asks again at once; it shows the forum again only if the right still holds.
        shown = null;
        heard = null;
        note(SAY.connecting);
        wait = 500;
        if (how === "expired" || params.get("link")) token = null;
      }
    } catch (error) {
      if (error instanceof Refusal) {
        shown = null;
        heard = null;
        note(error.message);
        if (!params.get("link") && !params.get("widgetId")) return;
      } else if (shown) {
        lost = true; // the last state stays, under a banner that says since when
      } else {
        note(SAY.lost); // never the browser's own words ("Failed to fetch")
      }
      token = null;
      tick();
    }
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}

main();
