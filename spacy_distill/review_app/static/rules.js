// spacy-distill rule review page: one rule at a time, its matches, accept / reject / skip / edit.
// Every piece of rule or document text goes into the page with textContent, never as HTML.
"use strict";

(function () {
  const { $, api, status, requestId, renderProgress } = window.SpacyDistill;
  const state = {
    annotator: null,
    rule: null, // the rule row from the server, with its matches and stats
    edit: null, // a previewed edit: {kind, text, rule, matches, stats}
    answered: [], // ids of the answers this page gave, for undo
    busy: false,
    gold: false,
  };
  const VERBS = { accept: "Accepted", reject: "Rejected", ignore: "Skipped" };

  function kindOf(rule) {
    if (rule.regex !== undefined && rule.regex !== null) return "regex";
    return typeof rule.pattern === "string" ? "phrase" : "tokens";
  }

  function patternText(rule) {
    const kind = kindOf(rule);
    return kind === "regex" ? rule.regex : kind === "phrase" ? rule.pattern : JSON.stringify(rule.pattern);
  }

  async function init() {
    const session = await window.SpacyDistill.begin(start);
    if (!session) return;
    state.gold = session.gold;
    $("texts-name").textContent = session.texts;
    $("done-db").textContent = session.db;
  }

  async function start(name) {
    state.annotator = name;
    try {
      const data = await api("GET", `/api/rules/next?annotator=${encodeURIComponent(name)}`);
      show(data.rule, data.progress);
    } catch (error) {
      status(error.message, true);
      if (error.status === 400) window.SpacyDistill.askName();
    }
  }

  // -- showing a rule -----------------------------------------------------------------

  function show(row, progress) {
    state.rule = row;
    state.edit = null;
    closeEditor();
    if (progress) renderProgress(progress);
    $("task").hidden = !row;
    $("done").hidden = !!row;
    if (!row) {
      const p = progress || { done: 0, total: 0 };
      $("done-text").textContent = `Nothing left for you: ${p.done} of ${p.total} rules answered.`;
      return;
    }
    $("rule-position").textContent = `#${row.id} ${row.rule_id}`;
    $("rule-label").textContent = row.rule.label;
    $("rule-source").textContent = `source ${row.rule.source}`;
    $("rule-state").hidden = !row.state;
    $("rule-state").textContent = row.state ? `your earlier answer: ${row.state.answer}` : "";
    renderStats($("rule-stats"), row.rule.stats || {});
    render();
    if (row.state && row.state.edited) preview(kindOf(row.state.edited), patternText(row.state.edited));
  }

  function render() {
    const shown = state.edit || state.rule;
    const rule = state.edit ? state.edit.rule : state.rule.rule;
    $("rule-kind").textContent = kindOf(rule);
    $("rule-pattern").textContent = patternText(rule);
    $("rule-edited").hidden = !state.edit;
    renderMatches(shown.matches, shown.stats);
  }

  function renderStats(box, stats) {
    box.replaceChildren();
    for (const [key, value] of Object.entries(stats)) {
      if (value === null || typeof value === "object") continue;
      const item = document.createElement("div");
      const dt = document.createElement("dt");
      dt.textContent = key;
      const dd = document.createElement("dd");
      dd.textContent = typeof value === "number" && !Number.isInteger(value) ? value.toFixed(3) : String(value);
      item.append(dt, dd);
      box.append(item);
    }
  }

  function renderMatches(matches, stats) {
    const parts = [`${stats.matches} in ${stats.docs} of ${stats.texts} texts`];
    if (stats.tp !== undefined) parts.push(`${stats.tp} correct, ${stats.fp} wrong` + (stats.precision !== null ? `, precision ${stats.precision.toFixed(2)}` : ""));
    if (stats.timeouts) parts.push(`regex too slow on ${stats.timeouts} texts`);
    if (stats.matches > matches.length) parts.push(`first ${matches.length} shown`);
    $("match-stats").textContent = parts.join(" · ");
    const list = $("matches");
    list.replaceChildren();
    for (const m of matches) {
      const li = document.createElement("li");
      li.className = m.correct === true ? "correct" : m.correct === false ? "wrong" : "";
      const mark = document.createElement("mark");
      mark.textContent = m.text;
      li.append(m.left, mark, m.right);
      if (m.correct !== null) {
        const verdict = document.createElement("span");
        verdict.className = "verdict";
        verdict.textContent = m.correct ? "✓ correct" : "✗ wrong";
        li.append(verdict);
      }
      list.append(li);
    }
  }

  // -- editing --------------------------------------------------------------------------

  function openEditor() {
    if (!state.rule || state.busy) return;
    const rule = state.edit ? state.edit.rule : state.rule.rule;
    $("edit-kind").value = kindOf(rule);
    $("edit-text").value = patternText(rule);
    $("edit-error").hidden = true;
    $("edit-form").hidden = false;
    $("edit-text").focus();
    $("edit-text").select();
  }

  function closeEditor() {
    $("edit-form").hidden = true;
    $("edit-error").hidden = true;
    if (document.activeElement && $("edit-form").contains(document.activeElement)) document.activeElement.blur();
  }

  async function preview(kind, text) {
    const row = state.rule;
    setBusy(true);
    try {
      const result = await api("POST", "/api/rules/preview", { id: row.id, kind, text });
      if (state.rule !== row) return;
      state.edit = { kind, text, rule: result.rule, matches: result.matches, stats: result.stats };
      closeEditor();
      render();
      status("Edited: the new matches are shown; A accepts this version");
    } catch (error) {
      $("edit-error").textContent = error.message;
      $("edit-error").hidden = false;
      if ($("edit-form").hidden) status(error.message, true);
      else $("edit-text").focus();
    } finally {
      setBusy(false);
    }
  }

  // -- answering ------------------------------------------------------------------------

  async function answer(kind) {
    if (state.busy || !state.rule) return;
    const row = state.rule;
    const body = { annotator: state.annotator, id: row.id, answer: kind, request_id: requestId() };
    if (state.edit) body.edit = { kind: state.edit.kind, text: state.edit.text };
    setBusy(true);
    try {
      const result = await api("POST", "/api/rules/answer", body);
      state.answered.push(result.answer_id);
      status(`${VERBS[kind]} ${row.rule_id}${body.edit ? " (edited)" : ""}`);
      show(result.next, result.progress);
    } catch (error) {
      status(`Not saved: ${error.message}`, true);
    } finally {
      setBusy(false);
    }
  }

  async function undo() {
    if (state.busy) return;
    if (state.rule && state.edit) {
      state.edit = null;
      render();
      status("Dropped the edit");
      return;
    }
    const answerId = state.answered.pop();
    setBusy(true);
    try {
      const result = await api("POST", "/api/rules/undo", { annotator: state.annotator, answer_id: answerId === undefined ? null : answerId });
      setBusy(false);
      show(result.rule, result.progress);
      status(`Undid your ${result.rule.state.answer} of ${result.rule.rule_id}: answer it again`);
    } catch (error) {
      status(error.message, true);
    } finally {
      setBusy(false);
    }
  }

  function setBusy(busy) {
    state.busy = busy;
    for (const id of ["accept", "reject", "skip", "edit", "undo", "done-undo"]) $(id).disabled = busy;
  }

  // -- keys and wiring ------------------------------------------------------------------

  function onKey(event) {
    const key = event.key;
    if (key === "a" || key === "Enter") answer("accept");
    else if (key === "x") answer("reject");
    else if (key === "s") answer("ignore");
    else if (key === "e") openEditor();
    else if (key === "u") undo();
    else return false;
    return true;
  }

  document.addEventListener("DOMContentLoaded", () => {
    const press = window.SpacyDistill.onPress;
    press("accept", () => answer("accept"));
    press("reject", () => answer("reject"));
    press("skip", () => answer("ignore"));
    press("edit", openEditor);
    press("undo", undo);
    press("done-undo", undo);
    $("edit-form").addEventListener("submit", (event) => {
      event.preventDefault();
      if (!state.busy) preview($("edit-kind").value, $("edit-text").value);
    });
    $("edit-form").addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        closeEditor();
      }
    });
    window.SpacyDistill.onKeys(onKey, undo);
    init();
  });
})();
