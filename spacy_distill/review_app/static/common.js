// What the doc page (review.js) and the rule page (rules.js) share: the API, messages, the
// annotator's name, progress and the keyboard. Text goes into the page with textContent only.
"use strict";

window.SpacyDistill = (function () {
  const $ = (id) => document.getElementById(id);
  const NAME_KEY = "spacy-distill-annotator";
  const session = { csrf: null, annotator: null };

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  function requestId() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  async function api(method, path, body) {
    const options = { method, headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.headers["X-CSRF-Token"] = session.csrf;
      options.body = JSON.stringify(body);
    }
    let lastError = null;
    // Network errors are retried: answers carry a request id, so a resent answer is stored once.
    for (let attempt = 0; attempt < 4; attempt++) {
      let response;
      try {
        response = await fetch(path, options);
      } catch (error) {
        lastError = error;
        await sleep(400 * (attempt + 1));
        continue;
      }
      let data = null;
      try {
        data = await response.json();
      } catch (error) {
        data = null;
      }
      if (response.ok) return data;
      const failure = new Error((data && data.error) || `${response.status} ${response.statusText}`);
      failure.status = response.status;
      throw failure;
    }
    throw new Error(`the server cannot be reached (${lastError})`);
  }

  let statusTimer = null;
  function status(message, isError) {
    const el = $("status");
    el.textContent = message;
    el.classList.toggle("error", !!isError);
    el.classList.add("visible");
    clearTimeout(statusTimer);
    statusTimer = setTimeout(() => el.classList.remove("visible"), isError ? 8000 : 2200);
  }

  // The session, then the annotator's name (?annotator=, the server's default, the last one
  // used here, or the name form); start(name) runs once the name is known.
  async function begin(start) {
    let data;
    try {
      data = await api("GET", "/api/session");
    } catch (error) {
      status(`Cannot start: ${error.message}`, true);
      return null;
    }
    session.csrf = data.csrf;
    $("name-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const name = $("name-input").value.trim();
      if (name) start(useName(name));
    });
    let stored = null;
    try {
      stored = localStorage.getItem(NAME_KEY);
    } catch (error) {
      stored = null;
    }
    const name = new URLSearchParams(location.search).get("annotator") || data.annotator || stored;
    if (name) {
      setTimeout(() => start(useName(name)));
    } else {
      askName();
    }
    return data;
  }

  function askName() {
    $("name-form").hidden = false;
    $("name-input").focus();
  }

  function useName(name) {
    session.annotator = name.trim();
    try {
      localStorage.setItem(NAME_KEY, session.annotator);
    } catch (error) {
      /* private mode: fine */
    }
    const params = new URLSearchParams(location.search);
    if (params.get("annotator") !== session.annotator) {
      params.set("annotator", session.annotator);
      history.replaceState(null, "", `${location.pathname}?${params}`);
    }
    $("name-form").hidden = true;
    $("annotator-name").textContent = session.annotator;
    return session.annotator;
  }

  function renderProgress(p) {
    const you = p.you || 0;
    $("progress-text").textContent = `${p.done} / ${p.total} done · you ${you}`;
    $("progress-fill").style.width = p.total ? `${(100 * p.done) / p.total}%` : "0";
    const others = p.annotators.map((a) => `${a.name} ${a.done}`).join(" · ");
    $("progress-annotators").textContent = p.annotators.length > 1 || (p.annotators[0] && p.annotators[0].name !== session.annotator) ? others : "";
    $("progress").title = p.annotators.map((a) => `${a.name}: ${a.done} (${a.accept} accepted, ${a.reject} rejected, ${a.ignore} skipped)`).join("\n") || "no answers yet";
  }

  // Keys outside text fields, once there is an annotator: Ctrl/Cmd+Z undoes, anything else goes
  // to handle(event), which returns whether it used the key.
  function onKeys(handle, undo) {
    document.addEventListener("keydown", (event) => {
      const target = event.target;
      if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT" || target.isContentEditable)) return;
      if (!session.annotator) return;
      if ((event.ctrlKey || event.metaKey) && !event.altKey) {
        if (event.key === "z" || event.key === "Z") {
          event.preventDefault();
          undo();
        }
        return;
      }
      if (event.altKey) return;
      if (handle(event)) event.preventDefault();
    });
  }

  // A button's click runs fn and gives the focus back to the page, so the keys keep working.
  function onPress(id, fn) {
    $(id).addEventListener("click", (event) => {
      event.currentTarget.blur();
      fn();
    });
  }

  return { $, session, api, status, requestId, begin, askName, renderProgress, onKeys, onPress };
})();
