// Tap: the records leaving a component, live, from /api/v1/tap (NDJSON), as
// `lookout tap COMPONENT --where … --limit …` prints them.
"use strict";
(function () {
  const { el, $ } = window.L;
  const form = $("#tap-form");
  const out = $("#tap-records");
  const status = $("#tap-status");
  const stop = $("#tap-stop");
  const KEEP = 500;
  let abort = null;

  function skippedIn(line) {
    try { return Number(JSON.parse(line)["@tap"].skipped) || 0; } catch (_) { return null; }
  }

  async function start() {
    if (abort) abort.abort();
    abort = new AbortController();
    const f = form.elements;
    const q = new URLSearchParams({ component: f.component.value.trim(), limit: f.limit.value });
    if (f.where.value.trim()) q.set("where", f.where.value.trim());
    history.replaceState(null, "", "/tap?" + q);
    q.set("notices", "true");
    out.replaceChildren();
    stop.disabled = false;
    let n = 0, skipped = 0;
    status.textContent = "Tapping " + f.component.value + "…";
    try {
      const resp = await fetch("/api/v1/tap?" + q, { signal: abort.signal, credentials: "same-origin" });
      if (!resp.ok) throw new Error(resp.status + ": " + (await resp.text()).trim());
      const reader = resp.body.getReader();
      const dec = new TextDecoder();
      let rest = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        rest += dec.decode(value, { stream: true });
        const lines = rest.split("\n");
        rest = lines.pop();
        for (const line of lines) {
          if (!line.trim()) continue;
          // {"@tap":{"skipped":N,"reason":"lagged"|"rate"}}: records this tap did not get.
          const notice = line.startsWith('{"@tap"') ? skippedIn(line) : null;
          if (notice !== null) { skipped += notice; continue; }
          n++;
          out.prepend(el("div", { class: "record" }, line));
          while (out.childNodes.length > KEEP) out.lastChild.remove();
        }
        status.textContent = n + " records" + (skipped ? ", " + skipped + " skipped (too fast to show)" : "");
      }
      status.textContent = n + " records; the tap ended (limit reached or Lookout stopped).";
    } catch (e) {
      if (e.name !== "AbortError") status.replaceChildren(window.L.errorBox(e));
    } finally {
      stop.disabled = true;
    }
  }

  form.addEventListener("submit", (ev) => { ev.preventDefault(); start(); });
  stop.addEventListener("click", () => { if (abort) abort.abort(); status.textContent = "Stopped."; });
  window.L.api("/api/v1/pipeline").then((r) => {
    window.L.replace($("#components"), r.data.components.filter((c) => c.kind !== "sink").map((c) => el("option", { value: c.id })));
  }).catch(() => {});
  if (form.elements.component.value) start();
})();
