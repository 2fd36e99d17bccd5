// Probes: each uptime check (/api/v1/probes) with its state (thresholds applied), since
// when, the last result (duration, HTTP status, phases, certificate expiry, error), the
// recent history as a strip of successes and failures, and its duration over time.
"use strict";
(function () {
  const { el, api, $ } = window.L;

  // serde's Duration ({secs, nanos}) or seconds.
  const secs = (d) => (d && typeof d === "object" ? d.secs + d.nanos / 1e9 : Number(d));
  const ms = (d) => (secs(d) * 1000).toFixed(1) + " ms";

  function lastResult(r) {
    if (!r) return el("p", { class: "muted" }, "Not checked yet.");
    const rows = [["result", r.success ? "success" : "failure"], ["took", ms(r.duration)], ["at", window.L.fmtTime(r.at_ms)]];
    if (r.status_code !== undefined) rows.push(["HTTP status", String(r.status_code)]);
    if (r.redirects) rows.push(["redirects", String(r.redirects)]);
    if (r.phases) rows.push(["phases", Object.entries(r.phases).map(([k, v]) => k + " " + ms(v)).join(", ")]);
    if (r.tls) rows.push(["certificate expires", window.L.fmtTime(r.tls.earliest * 1000) + " (" + window.L.ago(r.tls.earliest * 1000) + ")"]);
    if (r.serving_status !== undefined) rows.push(["gRPC serving status", String(r.serving_status)]);
    if (r.error) rows.push(["error", r.error]);
    return el("dl", {}, rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", { class: k === "error" ? "error" : "" }, v)]));
  }

  // Oldest to newest, one cell per check: green success, red failure.
  function strip(history) {
    return el("div", { class: "strip", title: "last " + history.length + " checks, oldest first" },
      history.slice().reverse().map((r) => el("span", { class: r.success ? "ok-cell" : "fail-cell", title: window.L.fmtTime(r.at_ms) + (r.error ? ": " + r.error : "") })));
  }

  function probeCard(p) {
    const chart = el("div", { class: "chart small" });
    const explore = "/graph?g0.expr=" + encodeURIComponent('probe_success{probe="' + p.name + '"}') + "&g0.tab=0&g0.range_input=1h";
    const card = el("section", { class: "card probe", "data-probe": p.name, "data-state": p.state },
      el("h2", {}, window.L.stateBadge(p.state, p.state === "up" ? "ok" : "firing"), " ", p.name,
        el("span", { class: "muted" }, " · " + p.type + " · every " + p.interval_seconds + "s")),
      el("div", { class: "mono expr" }, p.target),
      window.L.labelList(p.labels),
      el("p", {}, p.state + " since " + window.L.ago(p.since) + " · " + p.failures_total + " of " + p.checks_total + " checks failed" +
        (p.consecutive_failures ? " · " + p.consecutive_failures + " failed in a row (down after " + p.failure_threshold + ")" : "")),
      strip(p.history),
      lastResult(p.last_result),
      p.last_error ? el("p", { class: "muted" }, "last error " + window.L.ago(p.last_error.at) + ": " + p.last_error.error) : null,
      chart,
      el("div", { class: "actions" }, el("a", { href: explore }, "Graph in Explore")));
    return { card, draw: () => {
      const h = p.history.slice().reverse();
      if (h.length < 2) return;
      window.L.chart(chart, h.map((r) => r.at_ms / 1000), [{ label: "duration (ms)", values: h.map((r) => secs(r.duration) * 1000) }], { height: 160 });
    } };
  }

  async function load() {
    try {
      const resp = await api("/api/v1/probes");
      const probes = resp.data.probes;
      probes.sort((a, b) => (a.state === b.state ? a.name.localeCompare(b.name) : a.state === "down" ? -1 : 1));
      const down = probes.filter((p) => p.state === "down").length;
      $("#probes-summary").textContent = probes.length ? down + " down, " + (probes.length - down) + " up · updated " + new Date().toLocaleTimeString(undefined, { hour12: false }) : "";
      const cards = probes.map(probeCard);
      window.L.replace($("#probes"), cards.length ? cards.map((c) => c.card) : el("p", { class: "muted" }, "No probes are configured (probes: in the pipeline file)."));
      cards.forEach((c) => c.draw());
    } catch (e) {
      $("#probes-summary").replaceChildren(e.status === 404 ? el("span", {}, "Probes are not available in this Lookout.") : window.L.errorBox(e));
    }
  }

  load();
  setInterval(load, 15000);
})();
