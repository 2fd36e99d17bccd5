// Pipeline: the component graph as configured (sources → transforms → sinks), one
// column per depth, with live rates computed from two polls of /api/v1/pipeline.
"use strict";
(function () {
  const { el, api, $ } = window.L;
  const POLL_MS = 2000;
  let last = null;

  function depths(components) {
    const byId = new Map(components.map((c) => [c.id, c]));
    const memo = new Map();
    const depth = (c, seen) => {
      if (memo.has(c.id)) return memo.get(c.id);
      if (seen.has(c.id)) return 0;
      seen.add(c.id);
      const parents = c.inputs.map((i) => byId.get(i.split(".")[0])).filter(Boolean);
      const d = parents.length ? 1 + Math.max(...parents.map((p) => depth(p, seen))) : 0;
      memo.set(c.id, d);
      return d;
    };
    components.forEach((c) => depth(c, new Set()));
    return memo;
  }

  function rate(now, before, key, secs) {
    if (!before || secs <= 0) return null;
    return Math.max(0, (now.counters[key] - before.counters[key]) / secs);
  }

  function node(c, before, secs) {
    const r = (k) => rate(c, before, k, secs);
    const evIn = r("received_events"), evOut = r("sent_events"), bIn = r("received_bytes"), bOut = r("sent_bytes");
    const errs = r("errors");
    const fmtEv = (v) => (v === null ? "–" : window.L.fmtNum(v) + "/s");
    const fmtB = (v) => (v === null ? "–" : window.L.fmtBytes(v) + "/s");
    const b = c.buffer;
    const fill = b && b.max_events ? b.events / b.max_events : b && b.max_bytes ? b.bytes / b.max_bytes : null;
    return el("article", { class: "card node", id: "c-" + c.id, "data-kind": c.kind, "data-events-in": evIn === null ? "" : evIn, "data-events-out": evOut === null ? "" : evOut },
      el("h3", {}, c.id, " ", window.L.stateBadge(c.state, c.state)),
      el("div", { class: "muted" }, c.kind + " · " + c.type + (c.inputs.length ? " · ← " + c.inputs.join(", ") : "")),
      c.reason ? el("p", { class: "error" }, c.reason) : null,
      el("div", { class: "nums" },
        el("span", {}, "in ", el("b", { class: "rate-in" }, fmtEv(evIn))), el("span", {}, fmtB(bIn)),
        el("span", {}, "out ", el("b", { class: "rate-out" }, fmtEv(evOut))), el("span", {}, fmtB(bOut)),
        el("span", {}, "errors ", el("b", { class: c.counters.errors ? "error" : "" }, window.L.fmtNum(c.counters.errors))), el("span", {}, errs ? fmtEv(errs) : ""),
        el("span", {}, "dropped ", window.L.fmtNum(c.counters.dropped_events + c.counters.discarded_events)),
        el("span", {}, "failed ", window.L.fmtNum(c.counters.failed_events + c.counters.dead_letter_events))),
      b ? el("div", { class: "buffer" },
        el("div", { class: "meter", title: "buffer fill" }, el("span", { style: "width:" + Math.min(100, (fill || 0) * 100).toFixed(1) + "%" })),
        el("small", { class: "muted" }, "buffer " + b.events + (b.max_events ? " / " + b.max_events : "") + " events" + (b.bytes ? ", " + window.L.fmtBytes(b.bytes) : ""))) : null);
  }

  // Lines from each input to its consumer, when the columns stand side by side.
  function edges(container, components) {
    const old = container.querySelector("svg.edges");
    if (old) old.remove();
    const box = container.getBoundingClientRect();
    const columns = container.querySelectorAll(".column");
    if (columns.length < 2 || columns[1].getBoundingClientRect().left <= columns[0].getBoundingClientRect().left) return;
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("class", "edges");
    svg.setAttribute("width", container.scrollWidth);
    svg.setAttribute("height", container.scrollHeight);
    for (const c of components) {
      const to = document.getElementById("c-" + c.id);
      for (const input of c.inputs) {
        const from = document.getElementById("c-" + input.split(".")[0]);
        if (!from || !to) continue;
        const a = from.getBoundingClientRect(), b = to.getBoundingClientRect();
        const x1 = a.right - box.left + container.scrollLeft, y1 = a.top + a.height / 2 - box.top;
        const x2 = b.left - box.left + container.scrollLeft, y2 = b.top + b.height / 2 - box.top;
        const path = document.createElementNS(ns, "path");
        const mid = (x1 + x2) / 2;
        path.setAttribute("d", "M" + x1 + "," + y1 + " C" + mid + "," + y1 + " " + mid + "," + y2 + " " + x2 + "," + y2);
        svg.append(path);
      }
    }
    container.prepend(svg);
  }

  async function poll() {
    try {
      const resp = await api("/api/v1/pipeline");
      const d = resp.data;
      const secs = last ? d.time - last.time : 0;
      const before = last ? new Map(last.components.map((c) => [c.id, c])) : new Map();
      const depth = depths(d.components);
      const columns = [];
      for (const c of d.components) {
        const i = depth.get(c.id) || 0;
        (columns[i] = columns[i] || []).push(node(c, before.get(c.id), secs));
      }
      window.L.replace($("#pipeline-graph"), columns.filter(Boolean).map((col) => el("div", { class: "column" }, col)));
      edges($("#pipeline-graph"), d.components);
      window.L.replace($("#services"), d.others.length ? el("div", { class: "labels" }, d.others.map((o) =>
        el("span", { class: "label" }, o.id + " (" + o.type + ") ", window.L.stateBadge(o.state, o.state), o.reason ? " " + o.reason : ""))) : null);
      last = d;
    } catch (e) {
      $("#pipeline-graph").replaceChildren(window.L.errorBox(e));
    }
  }

  poll();
  setInterval(poll, POLL_MS);
})();
