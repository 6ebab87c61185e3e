// spacy-distill review page. Plain JavaScript, no build step.
// Every piece of document text goes into the page with textContent, never as HTML.
"use strict";

(function () {
  const { $, api, status, requestId, renderProgress } = window.SpacyDistill;
  const COLORS = ["#3b6fd4", "#e07b00", "#2f9e44", "#d6336c", "#7048e8", "#0c8599", "#b8860b", "#8d5a3b", "#c2255c", "#5c7cfa"];
  const state = {
    schema: null,
    annotator: null,
    doc: null,
    spans: [], // {start, end, label}: token offsets, end exclusive
    cats: {}, // label -> bool
    history: [], // snapshots before each edit of this doc
    selected: -1,
    active: 0, // index of the label new spans get
    answered: [], // ids of the answers this page gave, for undo
    busy: false,
    teacherFor: null,
    clickCycle: 0,
    justAdded: false, // this mouse press made a span by selecting text: its click selects nothing
  };

  // -- starting -------------------------------------------------------------------

  async function init() {
    const session = await window.SpacyDistill.begin(start);
    if (!session) return;
    state.schema = session.schema;
    state.order = session.order;
    document.body.classList.toggle("has-spans", !!state.schema.has_spans);
    document.body.classList.toggle("has-cats", state.schema.cat_labels.length > 0);
  }

  async function start(name) {
    state.annotator = name;
    buildLabels();
    try {
      const data = await api("GET", `/api/next?annotator=${encodeURIComponent(state.annotator)}`);
      show(data.doc, data.progress);
    } catch (error) {
      status(error.message, true);
      if (error.status === 400) window.SpacyDistill.askName();
    }
  }

  // -- showing a doc ----------------------------------------------------------------

  function color(label) {
    const labels = state.schema.span_labels.concat(state.schema.cat_labels);
    const i = labels.indexOf(label);
    return COLORS[(i < 0 ? 0 : i) % COLORS.length];
  }

  function show(doc, progress) {
    state.doc = doc;
    state.history = [];
    state.selected = -1;
    closeTeacher();
    if (progress) renderProgress(progress);
    $("task").hidden = !doc;
    $("done").hidden = !!doc;
    if (!doc) {
      const p = progress || { done: 0, total: 0 };
      $("done-text").textContent = `Nothing left for you: ${p.done} of ${p.total} docs answered.`;
      $("done-command").textContent = "spacy-distill import REVIEW_DB gold.spacy";
      return;
    }
    const from = doc.state || doc.suggestion;
    const spans = (from.spans || doc.suggestion.spans || []);
    state.spans = spans.map((s) => ({ start: s.start, end: s.end, label: s.label }));
    state.cats = {};
    const cats = from.cats || doc.suggestion.cats || {};
    for (const label of state.schema.cat_labels) state.cats[label] = (cats[label] || 0) >= 0.5;
    $("doc-position").textContent = `#${doc.id}`;
    const source = doc.source && doc.source.path ? `${doc.source.path.split("/").pop()}:${doc.source.line}` : "";
    $("doc-source").textContent = [source, doc.teacher_model ? `teacher ${doc.teacher_model}` : ""].filter(Boolean).join(" · ");
    const scoreName = { disagreement: "disagreement", uncertainty: "teacher uncertainty" }[state.order];
    $("doc-score").textContent = doc.score !== null && doc.score !== undefined ? `${scoreName || "score"} ${doc.score.toFixed(2)}` : "";
    $("doc-state").hidden = !doc.state;
    $("doc-state").textContent = doc.state ? `your earlier answer: ${doc.state.answer}` : "";
    render();
  }

  function shortcutButton(className, label, shortcut, onClick) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = className;
    button.style.setProperty("--c", color(label));
    if (shortcut) {
      const key = document.createElement("kbd");
      key.textContent = shortcut;
      button.append(key, " ");
    }
    button.append(label);
    button.addEventListener("click", () => {
      onClick();
      button.blur();
    });
    return button;
  }

  function buildLabels() {
    const box = $("labels");
    box.replaceChildren();
    state.schema.span_labels.forEach((label, i) => {
      const button = shortcutButton("label", label, i < 9 ? String(i + 1) : "", () => chooseLabel(i));
      button.dataset.index = i;
      box.append(button);
    });
    box.hidden = !state.schema.has_spans;
    const cats = $("cats");
    cats.replaceChildren();
    state.schema.cat_labels.forEach((label, i) => {
      const shortcut = i < 9 ? (state.schema.has_spans ? "⇧" : "") + String(i + 1) : "";
      const button = shortcutButton("cat", label, shortcut, () => toggleCat(i));
      button.dataset.label = label;
      button.setAttribute("aria-pressed", "false");
      cats.append(button);
    });
    cats.hidden = state.schema.cat_labels.length === 0;
  }

  function render() {
    renderLabels();
    renderText();
    renderCats();
  }

  function renderLabels() {
    for (const button of $("labels").children) {
      const on = Number(button.dataset.index) === state.active;
      button.classList.toggle("active", on);
      button.setAttribute("aria-pressed", on ? "true" : "false");
    }
  }

  function renderCats() {
    const suggested = (state.doc && state.doc.suggestion.cats) || {};
    for (const button of $("cats").children) {
      const on = !!state.cats[button.dataset.label];
      button.classList.toggle("suggested", (suggested[button.dataset.label] || 0) >= 0.5);
      button.classList.toggle("on", on);
      button.setAttribute("aria-pressed", on ? "true" : "false");
    }
  }

  function lanesOf(spans) {
    // Overlapping spans go to different lanes (rows of bars under the text).
    const order = spans.map((s, k) => k).sort((a, b) => spans[a].start - spans[b].start || spans[b].end - spans[a].end);
    const laneEnds = [];
    const lanes = new Array(spans.length).fill(0);
    for (const k of order) {
      let lane = laneEnds.findIndex((end) => end <= spans[k].start);
      if (lane < 0) {
        lane = laneEnds.length;
        laneEnds.push(0);
      }
      laneEnds[lane] = spans[k].end;
      lanes[k] = lane;
    }
    return lanes;
  }

  function bar(k, lane) {
    const el = document.createElement("span");
    el.className = "bar" + (k === state.selected ? " selected" : "");
    el.dataset.k = k;
    el.style.setProperty("--lane", lane);
    el.style.setProperty("--c", color(state.spans[k].label));
    return el;
  }

  function chip(k) {
    const span = state.spans[k];
    const el = document.createElement("span");
    el.className = "chip" + (k === state.selected ? " selected" : "");
    el.dataset.k = k;
    el.style.setProperty("--c", color(span.label));
    el.setAttribute("contenteditable", "false");
    el.title = "click to select; Del removes, 1–9 relabels";
    el.append(span.label);
    const x = document.createElement("span");
    x.className = "x";
    x.dataset.remove = k;
    x.title = "remove";
    x.textContent = "×";
    el.append(x);
    return el;
  }

  function renderText() {
    const box = $("text");
    box.replaceChildren();
    const { text, tokens } = state.doc;
    const spans = state.spans;
    const lanes = lanesOf(spans);
    box.style.setProperty("--lanes", spans.length ? Math.max(...lanes) + 1 : 0);
    const covering = tokens.map(() => []);
    const ending = tokens.map(() => []);
    spans.forEach((s, k) => {
      for (let i = s.start; i < s.end; i++) covering[i].push(k);
      ending[s.end - 1].push(k);
    });
    if (tokens.length && tokens[0][0] > 0) box.append(wsElement(0, tokens[0][0], []));
    tokens.forEach(([start, end], i) => {
      const tokenText = text.slice(start, end);
      const next = i + 1 < tokens.length ? tokens[i + 1][0] : text.length;
      const el = document.createElement("span");
      el.className = "tok";
      el.dataset.i = i;
      el.dataset.s = start;
      el.dataset.e = end;
      if (!tokenText.trim() && tokenText.includes("\n")) {
        el.classList.add("newline");
        for (const part of tokenText.split("\n").slice(1)) {
          el.append(document.createElement("br"));
          if (part) el.append(part);
        }
      } else {
        const t = document.createElement("span");
        t.className = tokenText.length > 24 ? "tt long" : "tt";
        t.dataset.s = start;
        t.dataset.e = end;
        t.textContent = tokenText;
        el.append(t);
        if (covering[i].length) {
          el.classList.add("in-span");
          el.style.setProperty("--c", color(spans[covering[i][0]].label));
          if (covering[i].includes(state.selected)) el.classList.add("selected");
        }
        for (const k of covering[i]) t.append(bar(k, lanes[k]));
      }
      for (const k of ending[i]) el.append(chip(k)); // inside the token: a label never wraps away from its text
      box.append(el);
      if (next > end) {
        const inside = covering[i].filter((k) => spans[k].end - 1 > i);
        box.append(wsElement(end, next, inside, lanes));
      }
    });
  }

  function wsElement(start, end, inside, lanes) {
    const el = document.createElement("span");
    el.className = "ws";
    el.dataset.s = start;
    el.dataset.e = end;
    const t = document.createElement("span");
    t.className = "wt";
    t.textContent = state.doc.text.slice(start, end);
    el.append(t);
    if (inside.length) {
      el.classList.add("in-span");
      el.style.setProperty("--c", color(state.spans[inside[0]].label));
    }
    for (const k of inside) t.append(bar(k, lanes[k]));
    return el;
  }

  // -- editing ----------------------------------------------------------------------

  function snapshot() {
    state.history.push({ spans: state.spans.map((s) => ({ ...s })), cats: { ...state.cats }, selected: state.selected });
    if (state.history.length > 200) state.history.shift();
  }

  function isEntities() {
    return state.schema.span_key === null;
  }

  function addSpan(start, end) {
    const label = state.schema.span_labels[state.active];
    if (label === undefined) return;
    if (state.spans.some((s) => s.start === start && s.end === end && s.label === label)) return;
    snapshot();
    if (isEntities()) {
      const before = state.spans.length;
      state.spans = state.spans.filter((s) => s.end <= start || s.start >= end);
      if (state.spans.length < before) status(`Replaced ${before - state.spans.length} overlapping entit${before - state.spans.length > 1 ? "ies" : "y"}`);
    }
    state.spans.push({ start, end, label });
    state.selected = -1; // a number key now picks the next label; it relabels only a span clicked or chosen with the arrows
    sortSpans();
    render();
  }

  function sortSpans() {
    const chosen = state.spans[state.selected];
    state.spans.sort((a, b) => a.start - b.start || a.end - b.end || (a.label < b.label ? -1 : a.label > b.label ? 1 : 0));
    state.selected = chosen ? state.spans.indexOf(chosen) : -1;
  }

  function removeSpan(k) {
    if (k < 0 || k >= state.spans.length) return;
    snapshot();
    state.spans.splice(k, 1);
    state.selected = -1;
    render();
  }

  function chooseLabel(i) {
    if (i >= state.schema.span_labels.length) return;
    state.active = i;
    const k = state.selected;
    if (k >= 0 && state.spans[k].label !== state.schema.span_labels[i]) {
      snapshot();
      const label = state.schema.span_labels[i];
      const span = state.spans[k];
      const twin = state.spans.findIndex((s, j) => j !== k && s.start === span.start && s.end === span.end && s.label === label);
      if (twin >= 0) {
        state.spans.splice(k, 1);
        state.selected = state.spans.indexOf(state.spans[twin < k ? twin : twin - 1]);
      } else {
        span.label = label;
        sortSpans();
      }
      state.selected = -1; // relabelled: done with this span
    }
    render();
  }

  function toggleCat(i) {
    const label = state.schema.cat_labels[i];
    if (label === undefined) return;
    snapshot();
    if (state.schema.exclusive) {
      for (const other of state.schema.cat_labels) state.cats[other] = other === label;
    } else {
      state.cats[label] = !state.cats[label];
    }
    renderCats();
  }

  function select(k) {
    state.selected = k;
    if (k >= 0) {
      const i = state.schema.span_labels.indexOf(state.spans[k].label);
      if (i >= 0) state.active = i;
    }
    render();
  }

  function charOffset(node, offset) {
    // The character offset in the doc's text of a selection boundary.
    if (node.nodeType === Node.TEXT_NODE) {
      const host = node.parentElement && node.parentElement.closest("[data-s], .chip");
      if (!host) return null;
      if (host.classList.contains("chip")) return chipOffset(host);
      return Math.min(Number(host.dataset.s) + offset, Number(host.dataset.e));
    }
    const children = node.childNodes;
    if (offset < children.length) return edgeOf(children[offset], "s");
    return edgeOf(node, "e");
  }

  function chipOffset(el) {
    const span = state.spans[Number(el.dataset.k)];
    return span ? state.doc.tokens[span.end - 1][1] : null;
  }

  function edgeOf(node, which) {
    if (node.nodeType !== Node.ELEMENT_NODE) node = node.parentElement;
    if (!node) return null;
    if (node.classList.contains("chip")) return chipOffset(node);
    if (node.dataset && node.dataset[which] !== undefined) return Number(node.dataset[which]);
    const inner = node.querySelectorAll("[data-s]");
    if (inner.length) return Number((which === "s" ? inner[0] : inner[inner.length - 1]).dataset[which]);
    return null;
  }

  function selectionToSpan() {
    const selection = window.getSelection();
    if (!selection.rangeCount || selection.isCollapsed || !state.doc) return false;
    const range = selection.getRangeAt(0);
    const box = $("text");
    if (!box.contains(range.startContainer) || !box.contains(range.endContainer)) return false;
    const a = charOffset(range.startContainer, range.startOffset);
    const b = charOffset(range.endContainer, range.endOffset);
    selection.removeAllRanges();
    if (a === null || b === null || b <= a) return false;
    // Snap to tokens: every token the selection touches, without whitespace at the edges.
    const { tokens, text } = state.doc;
    let first = tokens.findIndex(([s, e]) => e > a);
    let last = -1;
    tokens.forEach(([s], i) => {
      if (s < b) last = i;
    });
    const blank = (i) => !text.slice(tokens[i][0], tokens[i][1]).trim();
    while (first >= 0 && first <= last && blank(first)) first++;
    while (last >= first && first >= 0 && blank(last)) last--;
    if (first < 0 || last < first) return false;
    addSpan(first, last + 1);
    return true;
  }

  function onTextClick(event) {
    if (state.justAdded) {
      state.justAdded = false;
      return;
    }
    const target = event.target;
    if (target.dataset && target.dataset.remove !== undefined) {
      removeSpan(Number(target.dataset.remove));
      return;
    }
    const withSpan = target.closest && target.closest(".chip, .bar");
    if (withSpan) {
      select(Number(withSpan.dataset.k));
      return;
    }
    const token = target.closest && target.closest(".tok");
    if (token) {
      const i = Number(token.dataset.i);
      const around = state.spans.map((s, k) => k).filter((k) => state.spans[k].start <= i && i < state.spans[k].end);
      if (around.length) {
        // Repeated clicks cycle through overlapping spans, shortest first.
        around.sort((x, y) => state.spans[x].end - state.spans[x].start - (state.spans[y].end - state.spans[y].start));
        const at = around.indexOf(state.selected);
        select(around[(at + 1) % around.length]);
        return;
      }
    }
    if (state.selected >= 0) select(-1);
  }

  // -- answering --------------------------------------------------------------------

  const VERBS = { accept: "Accepted", reject: "Rejected", ignore: "Skipped" };

  async function answer(kind) {
    if (state.busy || !state.doc) return;
    const schema = state.schema;
    if (kind === "accept" && schema.exclusive && schema.cat_labels.filter((l) => state.cats[l]).length !== 1) {
      status("Choose one category first (number keys), or reject or skip the doc", true);
      return;
    }
    const doc = state.doc;
    const body = {
      annotator: state.annotator,
      doc_id: doc.id,
      answer: kind,
      request_id: requestId(),
      spans: schema.has_spans ? state.spans.map((s) => ({ start: s.start, end: s.end, label: s.label })) : null,
      cats: schema.cat_labels.length ? Object.fromEntries(schema.cat_labels.map((l) => [l, !!state.cats[l]])) : null,
    };
    setBusy(true);
    try {
      const result = await api("POST", "/api/answer", body);
      state.answered.push(result.answer_id);
      status(`${VERBS[kind]} #${doc.id}`);
      show(result.next, result.progress);
    } catch (error) {
      status(`Not saved: ${error.message}`, true);
    } finally {
      setBusy(false);
    }
  }

  async function undo() {
    if (state.busy) return;
    if (state.doc && state.history.length) {
      const last = state.history.pop();
      state.spans = last.spans;
      state.cats = last.cats;
      state.selected = last.selected < state.spans.length ? last.selected : -1;
      render();
      status("Undid the last edit");
      return;
    }
    const answerId = state.answered.pop();
    setBusy(true);
    try {
      const result = await api("POST", "/api/undo", { annotator: state.annotator, answer_id: answerId === undefined ? null : answerId });
      show(result.doc, result.progress);
      status(`Undid your ${result.doc.state.answer} of #${result.doc.id}: answer it again`);
    } catch (error) {
      status(error.message, true);
    } finally {
      setBusy(false);
    }
  }

  function setBusy(busy) {
    state.busy = busy;
    for (const id of ["accept", "reject", "skip", "undo", "done-undo"]) $(id).disabled = busy;
  }

  // -- the teacher's answer ---------------------------------------------------------

  function closeTeacher() {
    $("teacher").hidden = true;
    $("why").setAttribute("aria-expanded", "false");
  }

  async function toggleTeacher() {
    if (!state.doc) return;
    if (!$("teacher").hidden) {
      closeTeacher();
      return;
    }
    const id = state.doc.id;
    try {
      const teacher = await api("GET", `/api/docs/${id}/teacher`);
      if (!state.doc || state.doc.id !== id) return;
      const hashes = (teacher.prompt_sha256 || []).map((h) => String(h).slice(0, 12)).join(", ");
      $("teacher-model").textContent = `model ${teacher.model || "unknown"}${hashes ? ` · prompt ${hashes}` : ""}`;
      const responses = teacher.response || [];
      $("teacher-response").textContent = responses.length ? responses.join("\n\n---\n\n") : "(no raw response stored)";
      const notes = $("teacher-notes");
      notes.replaceChildren();
      const parser = teacher.parser || {};
      for (const d of parser.dropped_spans || []) {
        const li = document.createElement("li");
        li.textContent = `dropped “${d.text}” ${d.label || ""}: ${d.reason}`;
        notes.append(li);
      }
      for (const line of parser.unparsed_lines || []) {
        const li = document.createElement("li");
        li.textContent = `unreadable line: ${typeof line === "string" ? line : JSON.stringify(line)}`;
        notes.append(li);
      }
      if (parser.parse_failure) {
        const li = document.createElement("li");
        li.textContent = "the answer could not be read at all";
        notes.append(li);
      }
      $("teacher").hidden = false;
      $("why").setAttribute("aria-expanded", "true");
    } catch (error) {
      status(error.message, true);
    }
  }

  // -- keys -------------------------------------------------------------------------

  function onKey(event) {
    const key = event.key;
    const digit = /^(?:Digit|Numpad)([1-9])$/.exec(event.code);
    let handled = true;
    if (digit && state.doc) {
      const i = Number(digit[1]) - 1;
      if (state.schema.has_spans && !event.shiftKey) chooseLabel(i);
      else if (state.schema.cat_labels.length) toggleCat(i);
    } else if (key === "a" || key === "Enter") answer("accept");
    else if (key === "x") answer("reject");
    else if (key === "s") answer("ignore");
    else if (key === "u") undo();
    else if (key === "t") toggleTeacher();
    else if ((key === "Delete" || key === "Backspace") && state.selected >= 0) removeSpan(state.selected);
    else if (key === "ArrowRight" && state.spans.length && state.doc) select((state.selected + 1) % state.spans.length);
    else if (key === "ArrowLeft" && state.spans.length && state.doc) select(state.selected <= 0 ? state.spans.length - 1 : state.selected - 1);
    else if (key === "Escape") select(-1);
    else handled = false;
    return handled;
  }

  // -- wiring -----------------------------------------------------------------------

  document.addEventListener("DOMContentLoaded", () => {
    const press = window.SpacyDistill.onPress;
    press("accept", () => answer("accept"));
    press("reject", () => answer("reject"));
    press("skip", () => answer("ignore"));
    press("undo", undo);
    press("done-undo", undo);
    press("why", toggleTeacher);
    $("text").addEventListener("mousedown", () => {
      state.justAdded = false;
    });
    $("text").addEventListener("mouseup", () => {
      state.justAdded = selectionToSpan();
    });
    $("text").addEventListener("click", onTextClick);
    window.SpacyDistill.onKeys(onKey, undo);
    init();
  });
})();
