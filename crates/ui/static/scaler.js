// Scaler: per scaler, current and desired replicas over time (with min/max) from its
// decision history (/api/v1/scaler), and each decision's metrics and reasons.
"use strict";
(function () {
  const { el, api, $ } = window.L;

  function decisionRow(d, prev) {
    const changed = !prev || prev.desired !== d.desired;
    return el("tr", { class: changed ? "change" : "" },
      el("td", {}, window.L.fmtTime(d.at_ms)),
      el("td", {}, String(d.current)),
      el("td", {}, el("b", {}, String(d.desired))),
      el("td", {}, d.metrics.map((m) => el("div", { class: "mono" }, m.name + " = " + (m.value === null ? "no data" : window.L.fmtNum(m.value)) +
        " (target " + m.target + (m.proposal !== null ? ", wants " + m.proposal : "") + ")" + (m.error ? " — " + m.error : "")))),
      el("td", {}, el("ul", {}, d.reasons.map((r) => el("li", {}, el("code", {}, r.code), " ", r.message)))));
  }

  function scalerCard(s) {
    const hist = s.history.slice().reverse();
    const chart = el("div", { class: "chart" });
    const card = el("section", { class: "card scaler", "data-scaler": s.name },
      el("h2", {}, s.name, el("span", { class: "muted" }, " · " + s.actuator + " · " + s.min_replicas + "–" + s.max_replicas + " replicas · every " + s.interval_seconds + "s")),
      s.decision ? el("p", {}, "Now ", el("b", {}, String(s.decision.current)), " → desired ", el("b", { class: "desired" }, String(s.decision.desired)),
        el("span", { class: "muted" }, " (" + window.L.ago(s.decision.at_ms) + ")")) : el("p", { class: "muted" }, "No decision yet."),
      chart,
      hist.length ? el("details", { open: true }, el("summary", {}, "Decisions (newest first)"),
        el("div", { class: "scroll" }, el("table", {},
          el("thead", {}, el("tr", {}, ["time", "current", "desired", "metrics", "reasons"].map((h) => el("th", {}, h)))),
          el("tbody", {}, s.history.slice(0, 50).map((d, i) => decisionRow(d, s.history[i + 1])))))) : null);
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
