// Explore: a PromQL box with metric-name completion, the graph over the chosen range
// (query_range, drawn with uPlot) and the table of the instant query. The URL is
// Prometheus's /graph?g0.expr=…&g0.tab=…&g0.range_input=… so generatorURLs open here.
"use strict";
(function () {
  const { el, api, $ } = window.L;
  const form = $("#query-form");
  const box = $("#expr");
  const list = $("#completions");
  const MAX_SERIES = 50;
  let names = [];
  let choice = -1;

  if (form.elements["g0.tab"].value === "1") $("#table-section").after($("#graph-section"));

  function labelsText(metric) {
    const name = metric.__name__ || "";
    const rest = Object.keys(metric).filter((k) => k !== "__name__").sort().map((k) => k + "=" + JSON.stringify(metric[k]));
    return name + (rest.length || !name ? "{" + rest.join(", ") + "}" : "");
  }

  function showError(e) {
    const p = $("#query-error");
    p.hidden = !e;
    p.textContent = e ? e.message : "";
  }

  async function table(expr) {
    const resp = await api("/api/v1/query?" + new URLSearchParams({ query: expr }));
    const d = resp.data;
    let rows;
    if (d.resultType === "vector") rows = d.result.map((r) => [labelsText(r.metric), r.value[1]]);
    else if (d.resultType === "matrix") rows = d.result.map((r) => [labelsText(r.metric), r.values.map((v) => v[1] + " @" + v[0]).join("\n")]);
    else rows = [["", String(d.result[1])]];
    window.L.replace($("#table"), rows.length
      ? el("div", { class: "scroll" }, el("table", { id: "result-table" },
        el("thead", {}, el("tr", {}, el("th", {}, "series"), el("th", {}, "value"))),
        el("tbody", {}, rows.map(([k, v]) => el("tr", {}, el("td", { class: "mono" }, k), el("td", { class: "mono" }, v))))))
      : el("p", { class: "muted", id: "result-empty" }, "Empty result: no series match now."));
  }

  async function graph(expr) {
    const secs = window.L.parseDuration(form.elements["g0.range_input"].value);
    const end = Math.floor(Date.now() / 1000);
    const start = end - secs;
    const step = Math.max(1, Math.ceil(secs / 300));
    const resp = await api("/api/v1/query_range?" + new URLSearchParams({ query: expr, start: start, end: end, step: step }));
    const d = resp.data;
    const info = $("#graph-info");
    if (d.resultType !== "matrix") { info.textContent = "Not a range result (" + d.resultType + ")."; return; }
    const series = d.result.slice(0, MAX_SERIES);
    const xs = [];
    for (let t = start; t <= end; t += step) xs.push(t);
    const index = new Map(xs.map((t, i) => [t, i]));
    const ys = series.map((s) => {
      const vals = new Array(xs.length).fill(null);
      for (const [t, v] of s.values) {
        const i = index.get(Math.round(t));
        if (i !== undefined) vals[i] = Number(v);
      }
      return { label: labelsText(s.metric), values: vals };
    });
    if (!ys.length) { $("#graph").replaceChildren(); info.textContent = "No data in the last " + form.elements["g0.range_input"].value + "."; return; }
    window.L.chart($("#graph"), xs, ys);
    info.textContent = d.result.length + " series" + (d.result.length > MAX_SERIES ? " (first " + MAX_SERIES + " drawn)" : "") + ", step " + step + "s.";
  }

  async function run() {
    const expr = box.value.trim();
    if (!expr) return;
    showError(null);
    const results = await Promise.allSettled([graph(expr), table(expr)]);
    const failed = results.find((r) => r.status === "rejected");
    if (failed) showError(failed.reason);
  }

  // Completion of the metric name being typed.
  function word() {
    const before = box.value.slice(0, box.selectionStart);
    const m = before.match(/[a-zA-Z_:][a-zA-Z0-9_:]*$/);
    return m ? m[0] : "";
  }

  function closeList() { list.hidden = true; choice = -1; }

  function suggest() {
    const w = word();
    if (w.length < 2) return closeList();
    const lw = w.toLowerCase();
    const hits = names.filter((n) => n.toLowerCase().startsWith(lw) && n !== w)
      .concat(names.filter((n) => !n.toLowerCase().startsWith(lw) && n.toLowerCase().includes(lw))).slice(0, 12);
    if (!hits.length) return closeList();
    choice = -1;
    window.L.replace(list, hits.map((n) => el("li", { role: "option", onmousedown: (ev) => { ev.preventDefault(); accept(n); } }, n)));
    list.hidden = false;
  }

  function accept(name) {
    const pos = box.selectionStart;
    const start = pos - word().length;
    box.value = box.value.slice(0, start) + name + box.value.slice(pos);
    box.selectionStart = box.selectionEnd = start + name.length;
    closeList();
    box.focus();
  }

  function move(delta) {
    const items = list.querySelectorAll("li");
    if (!items.length) return;
    choice = (choice + delta + items.length) % items.length;
    items.forEach((li, i) => li.setAttribute("aria-selected", String(i === choice)));
  }

  box.addEventListener("input", suggest);
  box.addEventListener("blur", () => setTimeout(closeList, 100));
  box.addEventListener("keydown", (ev) => {
    const open = !list.hidden;
    if (open && ev.key === "ArrowDown") { ev.preventDefault(); move(1); }
    else if (open && ev.key === "ArrowUp") { ev.preventDefault(); move(-1); }
    else if (open && (ev.key === "Tab" || ev.key === "Enter") && (choice >= 0 || ev.key === "Tab")) {
      ev.preventDefault();
      const items = list.querySelectorAll("li");
      accept(items[Math.max(0, choice)].textContent);
    } else if (open && ev.key === "Escape") closeList();
    else if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); form.requestSubmit(); }
  });

  api("/api/v1/label/__name__/values").then((r) => { names = r.data || []; }).catch(() => { names = []; });
  run();
})();
