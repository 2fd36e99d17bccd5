// Rules: the rule engine's groups (/api/v1/rules), each rule's state, last evaluation,
// duration and error; the expression opens Explore; "Backtest" replays the rule over the
// stored data (POST /api/v1/rules/backtest) and shows when it would have fired.
"use strict";
(function () {
  const { el, api, $ } = window.L;

  function exploreLink(expr) {
    return "/graph?g0.expr=" + encodeURIComponent(expr) + "&g0.tab=0&g0.range_input=1h";
  }

  // A bar over the backtest's range: pending in amber, firing in red.
  function timeline(from, to, ep) {
    const span = to - from || 1;
    const pct = (t) => Math.max(0, Math.min(100, ((t - from) / span) * 100));
    const bar = el("div", { class: "meter", title: "pending (amber) and firing (red) over the range" });
    bar.style.position = "relative";
    const seg = (a, b, color) => {
      const s = el("span", {});
      const left = Math.min(pct(a), 99);
      s.style.cssText = "position:absolute;top:0;bottom:0;left:" + left + "%;width:" + Math.max(1, pct(b) - left) + "%;background:" + color;
      bar.append(s);
    };
    seg(Date.parse(ep.pending.from), ep.pending.to ? Date.parse(ep.pending.to) : to, "var(--pend)");
    if (ep.firing) seg(Date.parse(ep.firing.from), ep.firing.to ? Date.parse(ep.firing.to) : to, "var(--fire)");
    return bar;
  }

  function backtestReport(data) {
    const from = Date.parse(data.from), to = Date.parse(data.to);
    const evaluations = data.groups.reduce((n, g) => n + g.evaluations, 0);
    const head = el("p", { class: "muted" }, "From " + window.L.fmtTime(data.from) + " to " + window.L.fmtTime(data.to) + ", " + evaluations + " evaluations.");
    const errors = (data.rule_errors || []).map((e) => el("p", { class: "error" }, e.rule + ": " + e.count + " failed evaluations, first: " + e.first_error));
    if (!data.alerts.length) return el("div", { class: "backtest" }, head, errors, el("p", { class: "ok" }, "It would not have fired (nor gone pending) in this range."));
    const items = data.alerts.map((ep) => el("li", { class: "episode" },
      window.L.labelList(ep.labels, ["alertname"]),
      el("div", {}, "pending " + window.L.fmtTime(ep.pending.from),
        ep.firing ? " · fired " + window.L.fmtTime(ep.firing.from) : " · never fired",
        ep.resolved_at ? " · resolved " + window.L.fmtTime(ep.resolved_at) : ep.firing ? " · still firing" : ""),
      timeline(from, to, ep)));
    return el("div", { class: "backtest" }, head, errors, el("ul", { class: "episodes" }, items));
  }

  async function backtest(rule, out, button) {
    const range = $("#backtest-range").value;
    button.disabled = true;
    out.replaceChildren(el("p", { class: "muted" }, "Replaying the last " + range + "…"));
    try {
      const resp = await api("/api/v1/rules/backtest", { method: "POST", json: { rule_names: [rule.name], from: "now-" + range } });
      out.replaceChildren(backtestReport(resp.data));
    } catch (e) {
      out.replaceChildren(window.L.errorBox(e));
    } finally {
      button.disabled = false;
    }
  }

  function ruleRow(rule) {
    const state = rule.type === "alerting" ? rule.state : rule.health;
    const out = el("div", {});
    const btn = rule.type === "alerting" ? el("button", { type: "button", class: "plain backtest-button" }, "Backtest") : null;
    if (btn) btn.addEventListener("click", () => backtest(rule, out, btn));
    return el("article", { class: "card rule", "data-rule": rule.name },
      el("div", {}, window.L.stateBadge(state, rule.health === "err" ? "err" : state === "firing" ? "firing" : state === "pending" ? "pending" : "ok"), " ",
        el("strong", {}, rule.name), el("span", { class: "muted" }, " " + rule.type)),
      el("a", { href: exploreLink(rule.query), class: "mono expr" }, rule.query),
      el("dl", {},
        rule.duration ? [el("dt", {}, "for"), el("dd", {}, window.L.fmtDuration(rule.duration))] : null,
        el("dt", {}, "last evaluation"), el("dd", {}, rule.lastEvaluation && !rule.lastEvaluation.startsWith("0001") ? window.L.ago(rule.lastEvaluation) : "never"),
        el("dt", {}, "took"), el("dd", {}, (rule.evaluationTime * 1000).toFixed(2) + " ms"),
        rule.type === "alerting" ? [el("dt", {}, "active alerts"), el("dd", {}, String((rule.alerts || []).length))] : null,
        rule.lastError ? [el("dt", {}, "error"), el("dd", { class: "error" }, rule.lastError)] : null),
      btn ? el("div", { class: "actions" }, btn) : null, out);
  }

  async function load() {
    try {
      const resp = await api("/api/v1/rules");
      const groups = resp.data.groups;
      window.L.replace($("#rules"), groups.length ? groups.map((g) => el("section", { class: "group" },
        el("h2", {}, g.name, el("span", { class: "muted" }, " · " + g.file + " · every " + g.interval + "s · last took " + (g.evaluationTime * 1000).toFixed(2) + " ms")),
        g.rules.map(ruleRow))) : el("p", { class: "muted" }, "No rule files are loaded (rules.files in the pipeline file)."));
    } catch (e) {
      $("#rules").replaceChildren(e.status === 404 ? el("p", { class: "muted" }, "The rule engine is off: the pipeline file has no rules: section.") : window.L.errorBox(e));
    }
  }

  load();
})();
