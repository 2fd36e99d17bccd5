// Alerts: the notifier's groups (as its routing tree groups them) and the rule engine's
// pending alerts (from /api/v1/rules), refreshed every 15 s. `/#/alerts?receiver=…`
// (Alertmanager's UI link, which the default Slack title uses) lands here filtered.
"use strict";
(function () {
  const { el, api, $ } = window.L;
  const form = $("#alert-filter");

  // `#/alerts?receiver=x&silenced=true` → the form.
  function fromHash() {
    const h = location.hash;
    if (!h.startsWith("#/alerts")) return;
    const q = new URLSearchParams(h.slice(h.indexOf("?") + 1 || h.length));
    for (const [k, v] of q) {
      const input = form.elements[k];
      if (!input) continue;
      if (input.type === "checkbox") input.checked = v === "true";
      else input.value = v;
    }
  }

  function filters() {
    const f = form.elements;
    return {
      matchers: window.L.parseMatchers(f.filter.value),
      receiver: f.receiver.value.trim(),
      silenced: f.silenced.checked,
      inhibited: f.inhibited.checked,
      pending: f.pending.checked,
    };
  }

  function matches(ms, labels) {
    return ms.every((m) => {
      const v = labels[m.name] || "";
      const hit = m.isRegex ? new RegExp("^(?:" + m.value + ")$").test(v) : v === m.value;
      return m.isEqual === false ? !hit : hit;
    });
  }

  function evidenceList(ev) {
    if (!ev || !ev.length) return null;
    return el("details", { class: "evidence" }, el("summary", {}, "Evidence (" + ev.length + ")"),
      el("ul", {}, ev.map((e) => {
        const l = e.labels || {};
        return el("li", { class: "mono" },
          l.trace_id ? el("span", {}, "trace ", el("code", {}, l.trace_id), " ") : null,
          l.span_id ? el("span", {}, "span ", el("code", {}, l.span_id), " ") : null,
          l.log ? el("q", {}, l.log) : null,
          e.timestamp ? el("span", { class: "muted" }, " · " + window.L.ago(e.timestamp)) : null);
      })));
  }

  function annotationList(ann) {
    const keys = Object.keys(ann || {});
    if (!keys.length) return null;
    return el("dl", {}, keys.sort().flatMap((k) => [el("dt", {}, k), el("dd", {}, ann[k])]));
  }

  function explorePath(url) {
    try {
      const u = new URL(url, location.href);
      return u.pathname === "/graph" ? u.pathname + u.search : url;
    } catch (_) { return url; }
  }

  function alertCard(a, groupLabels) {
    const st = a.status || {};
    const suppressed = st.state === "suppressed";
    const state = a.pending ? "pending" : suppressed ? (st.silencedBy && st.silencedBy.length ? "silenced" : "inhibited") : "firing";
    const cls = a.pending ? "pending" : suppressed ? "suppressed" : "firing";
    const since = a.startsAt || a.activeAt;
    return el("article", { class: "alert " + cls, "data-alertname": a.labels.alertname || "", "data-state": state },
      el("div", {}, window.L.stateBadge(state, cls), " ", el("strong", {}, a.labels.alertname || "(no alertname)"),
        since ? el("span", { class: "muted" }, " since " + window.L.ago(since)) : null),
      window.L.labelList(a.labels, Object.keys(groupLabels || {}).concat(["alertname"])),
      annotationList(a.annotations),
      evidenceList(a.evidence),
      el("div", { class: "actions" },
        a.generatorURL ? el("a", { href: explorePath(a.generatorURL) }, "Graph") : null,
        el("a", { href: "/silences?filter=" + encodeURIComponent(window.L.labelsFilter(a.labels)), class: "silence-this" }, "Silence this"),
        (st.silencedBy || []).map((id) => el("a", { href: "/silences#" + id }, "silence " + id.slice(0, 8)))));
  }

  function groupCard(title, labels, receiver, alerts) {
    return el("section", { class: "card group" },
      el("h2", {}, title, receiver ? el("span", { class: "muted" }, " → " + receiver) : null),
      alerts.map((a) => alertCard(a, labels)));
  }

  async function refresh() {
    const out = $("#alert-groups"), summary = $("#alert-summary");
    let f;
    try { f = filters(); } catch (e) { summary.replaceChildren(window.L.errorBox(e)); return; }
    const q = new URLSearchParams({ active: "true", silenced: String(f.silenced), inhibited: String(f.inhibited) });
    for (const m of f.matchers) q.append("filter", window.L.matcherText(m));
    if (f.receiver) q.set("receiver", f.receiver);
    try {
      const [groups, pending] = await Promise.all([
        api("/api/v2/alerts/groups?" + q),
        // Pending alerts live in the rule engine (with their rule's expression for a graph link).
        f.pending && !f.receiver ? api("/api/v1/rules?type=alert").catch((e) => (e.status === 404 ? null : Promise.reject(e))) : null,
      ]);
      const nodes = [];
      let firing = 0, suppressed = 0;
      for (const g of groups) {
        for (const a of g.alerts) (a.status && a.status.state === "suppressed" ? suppressed++ : firing++);
        const title = Object.keys(g.labels).length ? Object.entries(g.labels).map(([k, v]) => k + "=" + v).join(", ") : "(not grouped)";
        nodes.push(groupCard(title, g.labels, g.receiver && g.receiver.name, g.alerts));
      }
      const rules = ((pending && pending.data && pending.data.groups) || []).flatMap((g) => g.rules);
      const pend = rules.flatMap((r) => (r.alerts || [])
        .filter((a) => a.state === "pending" && matches(f.matchers, a.labels))
        .map((a) => Object.assign({}, a, { pending: true, generatorURL: "/graph?g0.expr=" + encodeURIComponent(r.query) + "&g0.tab=1" })));
      const byName = {};
      for (const a of pend) (byName[a.labels.alertname] = byName[a.labels.alertname] || []).push(a);
      for (const name of Object.keys(byName).sort()) nodes.push(groupCard("pending: " + name, { alertname: name }, null, byName[name]));
      // The count in the tab's title: readable on a phone's tab switcher.
      document.title = (firing ? "(" + firing + ") " : "") + "Alerts · Lookout";
      summary.textContent = firing + " firing, " + suppressed + " suppressed, " + pend.length + " pending" +
        (f.receiver ? " (receiver " + f.receiver + ")" : "") + " · updated " + new Date().toLocaleTimeString(undefined, { hour12: false });
      window.L.replace(out, nodes.length ? nodes : el("p", { class: "ok" }, "Nothing is firing."));
    } catch (e) {
      summary.replaceChildren(window.L.errorBox(e));
    }
  }

  async function receivers() {
    try {
      const rs = await api("/api/v2/receivers");
      window.L.replace($("#receivers"), rs.map((r) => el("option", { value: r.name })));
    } catch (_) { /* the filter still works typed in */ }
  }

  form.addEventListener("submit", (ev) => { ev.preventDefault(); refresh(); });
  form.addEventListener("change", () => refresh());
  window.addEventListener("hashchange", () => { fromHash(); refresh(); });
  fromHash();
  receivers();
  refresh();
  setInterval(refresh, 15000);
})();
