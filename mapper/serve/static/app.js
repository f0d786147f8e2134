// The workbench's only script: review actions on the report page, and the reviewer's name.
// Every piece of write-up text reaches the DOM as textContent, never as HTML.
"use strict";

const csrf = () => document.querySelector('meta[name="csrf-token"]').content;
const reviewerInput = () => document.getElementById("reviewer");

async function api(method, url, body) {
  const response = await fetch(url, {
    method,
    headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf()},
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data;
}

function flash(message, bad) {
  let box = document.getElementById("flash");
  if (!box) {
    box = document.createElement("div");
    box.id = "flash";
    box.setAttribute("role", "status");
    document.body.appendChild(box);
  }
  box.textContent = message;
  box.className = bad ? "bad" : "good";
}

function setupReviewer() {
  const input = reviewerInput();
  if (!input) return;
  input.value = localStorage.getItem("atlas-reviewer") || "";
  input.addEventListener("change", () => localStorage.setItem("atlas-reviewer", input.value.trim()));
}

function setupReport(root) {
  const reportId = root.dataset.report;
  const cards = () => Array.from(root.querySelectorAll(".card"));
  const sentences = Array.from(root.querySelectorAll(".sent"));
  let current = null;
  let selected = null;

  const spansOf = (card) => (card.dataset.evidence || "").split(" ").filter(Boolean).map((s) => s.split("-").map(Number));
  const cites = (sent, card) => spansOf(card).some(([s, e]) => s < Number(sent.dataset.end) && Number(sent.dataset.start) < e);

  function light(card, on) {
    sentences.forEach((sent) => sent.classList.toggle("lit", on && cites(sent, card)));
    if (on) { const first = sentences.find((s) => cites(s, card)); if (first && card === current) first.scrollIntoView({block: "nearest"}); }
  }
  function focusCard(card) {
    if (current) current.classList.remove("current");
    current = card;
    if (card) { card.classList.add("current"); card.focus({preventScroll: false}); light(card, true); }
  }
  function selectSentence(sent) {
    if (selected) selected.classList.remove("selected");
    selected = sent === selected ? null : sent;
    if (selected) selected.classList.add("selected");
  }

  async function decide(card, decision, extra = {}) {
    const note = card.querySelector(".note-input");
    const body = {technique: card.dataset.technique, decision, note: note ? note.value.trim() : "",
                  reviewer: reviewerInput().value.trim() || null, ...extra};
    try {
      await api("POST", `/api/reports/${reportId}/reviews`, body);
    } catch (err) { flash(err.message, true); return false; }
    card.classList.remove("d-accept", "d-reject", "d-add");
    card.classList.add(`d-${decision}`);
    card.querySelector(".decision").textContent = decision;
    if (note && note.value.trim()) {
      const p = document.createElement("p"); p.className = "note"; p.textContent = note.value.trim();
      note.before(p); note.value = "";
    }
    for (const span of extra.evidence || []) {
      card.dataset.evidence = `${card.dataset.evidence} ${span.start}-${span.end}`.trim();
      sentences.filter((s) => Number(s.dataset.start) === span.start).forEach((s) => s.classList.add("cited"));
    }
    const status = document.getElementById("status");
    if (status.textContent === "new") { status.textContent = "in review"; status.className = "status s-in-review"; }
    flash(`${card.dataset.technique}: ${decision} saved`);
    return true;
  }
  const decisionOf = (card) => ["accept", "reject", "add"].find((d) => card.classList.contains(`d-${d}`));
  function attach(card) {
    if (!selected) { flash("select a sentence in the text first (click it)", true); return; }
    const span = {start: Number(selected.dataset.start), end: Number(selected.dataset.end)};
    const decision = decisionOf(card) === "add" ? "add" : "accept";
    decide(card, decision, {evidence: [span]});
  }

  cards().forEach((card) => {
    card.addEventListener("mouseenter", () => light(card, true));
    card.addEventListener("mouseleave", () => light(card, card === current));
    card.addEventListener("click", (ev) => { if (ev.target.closest("button, textarea, details")) return; focusCard(card); });
    card.querySelector(".accept").addEventListener("click", () => decide(card, decisionOf(card) === "add" ? "add" : "accept"));
    card.querySelector(".reject").addEventListener("click", () => decide(card, "reject"));
    card.querySelector(".attach").addEventListener("click", () => attach(card));
    card.querySelector(".note-input").addEventListener("keydown", (ev) => {
      if (ev.key !== "Enter" || !(ev.ctrlKey || ev.metaKey)) return;
      ev.preventDefault();  // Ctrl+Enter saves the note with the decision already taken on this technique
      const decision = decisionOf(card);
      if (decision) decide(card, decision); else flash("accept or reject this technique to save its note", true);
    });
  });
  sentences.forEach((sent) => {
    sent.addEventListener("mouseenter", () => cards().forEach((c) => c.classList.toggle("lit", cites(sent, c))));
    sent.addEventListener("mouseleave", () => cards().forEach((c) => c.classList.remove("lit")));
    sent.addEventListener("click", () => selectSentence(sent));
  });

  // adding a technique: search by ID or words, then click a result (the selected sentence is its evidence)
  const search = document.getElementById("technique-search");
  const results = document.getElementById("technique-results");
  let timer = null;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const q = search.value.trim();
      results.replaceChildren();
      if (!q) return;
      let found = [];
      try { found = await api("GET", `/api/techniques?q=${encodeURIComponent(q)}`); } catch (err) { flash(err.message, true); }
      for (const t of found) {
        const li = document.createElement("li");
        const button = document.createElement("button");
        button.type = "button"; button.className = "pick"; button.dataset.technique = t.id;
        button.textContent = `${t.id} ${t.name}`;
        button.addEventListener("click", () => addTechnique(t.id));
        li.appendChild(button); results.appendChild(li);
      }
    }, 150);
  });
  root.querySelectorAll("#near-misses .pick").forEach((b) => b.addEventListener("click", () => addTechnique(b.dataset.technique)));
  search.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") { ev.preventDefault(); const first = results.querySelector("button"); if (first) first.click(); }
    if (ev.key === "Escape") search.blur();
  });
  async function addTechnique(id) {
    const evidence = selected ? [{start: Number(selected.dataset.start), end: Number(selected.dataset.end)}] : [];
    try {
      await api("POST", `/api/reports/${reportId}/reviews`,
                {technique: id, decision: "add", evidence, reviewer: reviewerInput().value.trim() || null});
    } catch (err) { flash(err.message, true); return; }
    window.location.reload();
  }

  document.addEventListener("keydown", (ev) => {
    if (ev.target.closest("input, textarea, select") || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const all = cards();
    const at = all.indexOf(current);
    const actions = {
      j: () => focusCard(all[Math.min(at + 1, all.length - 1)] || all[0]),
      k: () => focusCard(all[Math.max(at - 1, 0)]),
      a: () => current && decide(current, decisionOf(current) === "add" ? "add" : "accept"),
      r: () => current && decide(current, "reject"),
      e: () => current && attach(current),
      n: () => current && current.querySelector(".note-input").focus(),
      "/": () => search.focus(),
    };
    if (actions[ev.key]) { ev.preventDefault(); actions[ev.key](); }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setupReviewer();
  const report = document.getElementById("report");
  if (report) setupReport(report);
});
