// Scaler: per scaler, current and desired replicas over time (with min/max) from its
// decision history (/api/v1/scaler), and each decision's metrics and reasons.
"use strict";
(function () {
  const { el, api, $ } = window.L;

  // One decision: when, current → desired, each metric's reading, the reasons.
  function decisionItem(d, repeats) {
    return el("li", { class: "decision" },
      el("div", {}, el("b", {}, window.L.fmtTime(d.at_ms)), " · " + d.current + " → ", el("b", {}, String(d.desired)),
        repeats ? el("span", { class: "muted" }, " (same for " + repeats + " more)") : null),
      el("ul", { class: "muted" },
        d.metrics.map((m) => el("li", { class: "mono" }, m.name + " = " + (m.value === null ? "no data" : window.L.fmtNum(m.value)) +
          " (target " + m.target + (m.proposal !== null ? ", wants " + m.proposal : "") + ")" + (m.error ? " — " + m.error : ""))),
        d.reasons.map((r) => el("li", {}, el("code", {}, r.code), " ", r.message))));
  }

  // Consecutive decisions with the same outcome and reasons collapse into one entry.
  function collapse(history) {
    const key = (d) => d.current + ">" + d.desired + ":" + d.reasons.map((r) => r.code).join(",");
    const out = [];
    for (const d of history) {
      const last = out[out.length - 1];
      if (last && key(last.d) === key(d)) last.repeats++;
      else out.push({ d: d, repeats: 0 });
    }
    return out;
  }

  function scalerCard(s) {
    const hist = s.history.slice().reverse();
    const chart = el("div", { class: "chart" });
    const card = el("section", { class: "card scaler", "data-scaler": s.name },
      el("h2", {}, s.name, el("span", { class: "muted" }, " · " + s.actuator + " · " + s.min_replicas + "–" + s.max_replicas + " replicas · every " + s.interval_seconds + "s")),
      s.decision ? el("p", {}, "Now ", el("b", {}, String(s.decision.current)), " → desired ", el("b", { class: "desired" }, String(s.decision.desired)),
        el("span", { class: "muted" }, " (" + window.L.ago(s.decision.at_ms) + ")")) : el("p", { class: "muted" }, "No decision yet."),
      chart,
      hist.length ? el("details", { open: true }, el("summary", {}, "Decisions, newest first"),
        el("ol", { class: "decisions" }, collapse(s.history).slice(0, 30).map((x) => decisionItem(x.d, x.repeats)))) : null);
    return { card, draw: () => {
      if (hist.length < 1) return;
      const xs = hist.map((d) => d.at_ms / 1000);
      window.L.chart(chart, xs, [
        { label: "current", values: hist.map((d) => d.current), step: true },
        { label: "desired", values: hist.map((d) => d.desired), step: true },
        { label: "min", values: hist.map((d) => d.min_replicas), step: true, stroke: "#888" },
        { label: "max", values: hist.map((d) => d.max_replicas), step: true, stroke: "#bbb" },
      ]);
    } };
  }

  async function load() {
    try {
      const resp = await api("/api/v1/scaler?limit=500");
      const cards = resp.data.scalers.map(scalerCard);
      window.L.replace($("#scalers"), cards.length ? cards.map((c) => c.card) : el("p", { class: "muted" }, "No scalers are configured."));
      cards.forEach((c) => c.draw());
    } catch (e) {
      $("#scalers").replaceChildren(e.status === 404 ? el("p", { class: "muted" }, "The scaler is off: the pipeline file has no scaling: section.") : window.L.errorBox(e));
    }
  }

  load();
  setInterval(load, 30000);
})();
