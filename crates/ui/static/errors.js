// Errors: the error groups (/api/v1/errors) filtered as the form says, or one group
// (?fingerprint=…) with its samples (/api/v1/errors/{fingerprint}); Resolve, Ignore and
// Reopen post to the API (editor role).
"use strict";
(function () {
  const { el, api, $ } = window.L;
  const summary = $("#errors-summary");
  const fingerprint = summary.dataset.fingerprint;
  const form = $("#errors-filter");

  const stateClass = { open: "firing", resolved: "ok", ignored: "stopped" };
  const link = (fp) => "/errors?fingerprint=" + encodeURIComponent(fp);
  const list = (xs) => (xs && xs.length ? xs.filter((x) => x !== "").join(", ") || "–" : "–");

  function actions(g, after) {
    const out = el("p", { class: "action-result", role: "status" });
    const act = (verb) => async () => {
      try {
        await api("/api/v1/errors/" + encodeURIComponent(g.fingerprint) + "/" + verb, { method: "POST" });
        await after();
      } catch (e) {
        out.className = "error";
        out.textContent = e.status === 403 ? "Not allowed: changing an error group needs the editor role. " + e.message.replace(/^403: /, "") : e.message;
      }
    };
    const buttons = [];
    if (g.state !== "resolved") buttons.push(el("button", { type: "button", class: "resolve", onclick: act("resolve") }, "Resolve"));
    if (g.state !== "ignored") buttons.push(el("button", { type: "button", class: "plain ignore", onclick: act("ignore") }, "Ignore"));
    if (g.state !== "open") buttons.push(el("button", { type: "button", class: "plain reopen", onclick: act("reopen") }, "Reopen"));
    return [el("div", { class: "actions" }, buttons), out];
  }

  function facts(g) {
    const services = Object.entries(g.services || {}).map(([s, n]) => (s || "(none)") + " ×" + n).join(", ");
    return el("dl", {},
      el("dt", {}, "count"), el("dd", { class: "count" }, String(g.count)),
      el("dt", {}, "culprit"), el("dd", { class: "mono" }, g.culprit || "–"),
      el("dt", {}, "services"), el("dd", {}, services || "–"),
      el("dt", {}, "releases"), el("dd", {}, list(g.releases)),
      el("dt", {}, "environments"), el("dd", {}, list(g.environments)),
      el("dt", {}, "first seen"), el("dd", {}, window.L.fmtTime(g.first_seen) + " (" + window.L.ago(g.first_seen) + ")"),
      el("dt", {}, "last seen"), el("dd", {}, window.L.fmtTime(g.last_seen) + " (" + window.L.ago(g.last_seen) + ")"),
      g.regressions ? [el("dt", {}, "regressions"), el("dd", {}, String(g.regressions))] : null,
      el("dt", {}, "fingerprint"), el("dd", { class: "mono" }, g.fingerprint + " (" + g.basis.replace("_", " ") + ")"));
  }

  function header(g, linked) {
    const title = linked ? el("a", { href: link(g.fingerprint) }, g.title) : g.title;
    return el("h2", {}, window.L.stateBadge(g.state, stateClass[g.state]), " ", title);
  }

  function groupCard(g) {
    return el("section", { class: "card error-group", "data-fingerprint": g.fingerprint, "data-state": g.state },
      header(g, true), facts(g), actions(g, loadList));
  }

  function sample(s) {
    return el("li", { class: "sample" },
      el("div", {}, el("strong", {}, window.L.fmtTime(s.time)), " · " + [s.service, s.release, s.environment].filter(Boolean).join(" · ") + " · from a " + s.source),
      s.trace_id ? el("div", { class: "mono" }, "trace " + s.trace_id + (s.span_id ? " span " + s.span_id : "")) : null,
      el("div", {}, s.type + (s.message ? ": " + s.message : "")),
      s.stacktrace ? el("details", {}, el("summary", {}, "stack trace"), el("pre", {}, s.stacktrace)) : null);
  }

  async function loadList() {
    const q = new URLSearchParams();
    const f = form.elements;
    if (f.state.value !== "all") q.set("state", f.state.value);
    for (const k of ["service", "environment", "release"]) if (f[k].value.trim()) q.set(k, f[k].value.trim());
    q.set("sort", f.sort.value);
    q.set("limit", "200");
    try {
      const resp = await api("/api/v1/errors?" + q);
      const groups = resp.data.groups;
      summary.textContent = resp.data.total + (resp.data.total === 1 ? " group" : " groups") +
        (resp.data.total > groups.length ? ", the first " + groups.length + " shown" : "") +
        " · updated " + new Date().toLocaleTimeString(undefined, { hour12: false });
      window.L.replace($("#errors"), groups.length ? groups.map(groupCard)
        : el("p", { class: "muted" }, "No error groups match (an error_groups sink in the pipeline records them)."));
    } catch (e) { summary.replaceChildren(window.L.errorBox(e)); }
  }

  async function loadOne() {
    form.style.display = "none";
    try {
      const g = (await api("/api/v1/errors/" + encodeURIComponent(fingerprint))).data;
      summary.replaceChildren(el("a", { href: "/errors" }, "← all errors"));
      window.L.replace($("#errors"),
        el("section", { class: "card error-group", "data-fingerprint": g.fingerprint, "data-state": g.state },
          header(g, false), facts(g),
          g.state === "resolved" ? el("p", { class: "muted" }, "Resolved; seen in a release other than " + list(g.resolved_releases) + " it regresses.") : null,
          actions(g, loadOne)),
        el("h2", {}, "Latest occurrences"),
        el("ul", { class: "samples" }, g.samples.map(sample)));
    } catch (e) { summary.replaceChildren(el("a", { href: "/errors" }, "← all errors"), window.L.errorBox(e)); }
  }

  if (fingerprint) {
    loadOne();
  } else {
    loadList();
    setInterval(loadList, 30000);
  }
})();
