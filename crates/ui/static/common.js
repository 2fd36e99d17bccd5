// Lookout UI: helpers every page uses. Plain JavaScript, no build step.
// Data from the API is put into the page with textContent / attributes only, never as HTML.
"use strict";
(function () {
  const L = {};

  // el("a", {href: "/x", class: "c"}, "text", child, ...): a DOM node.
  L.el = function (tag, attrs, ...children) {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") n.className = v;
      else if (k.startsWith("on")) n.addEventListener(k.slice(2), v);
      else n.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      n.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return n;
  };

  L.$ = (sel) => document.querySelector(sel);

  L.replace = function (node, ...children) {
    node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  };

  // fetch + JSON; throws Error with the API's message on a non-2xx answer.
  L.api = async function (path, opts) {
    const o = Object.assign({ credentials: "same-origin", headers: {} }, opts || {});
    if (o.json !== undefined) {
      o.body = JSON.stringify(o.json);
      o.headers["content-type"] = "application/json";
      delete o.json;
    }
    const resp = await fetch(path, o);
    const text = await resp.text();
    let body = null;
    try { body = text ? JSON.parse(text) : null; } catch (_) { body = null; }
    if (!resp.ok) {
      const msg = (body && (body.error || body.message)) || text || resp.statusText;
      const e = new Error(resp.status + ": " + String(msg).trim());
      e.status = resp.status;
      throw e;
    }
    return body;
  };

  L.fmtTime = function (t) {
    const d = t instanceof Date ? t : new Date(t);
    if (isNaN(d)) return String(t);
    return d.toLocaleString(undefined, { hour12: false });
  };

  L.fmtDuration = function (secs) {
    secs = Math.max(0, Math.round(secs));
    if (secs < 60) return secs + "s";
    const m = Math.floor(secs / 60), s = secs % 60;
    if (m < 60) return m + "m" + (s ? " " + s + "s" : "");
    const h = Math.floor(m / 60), mm = m % 60;
    if (h < 48) return h + "h" + (mm ? " " + mm + "m" : "");
    return Math.floor(h / 24) + "d " + (h % 24) + "h";
  };

  L.ago = function (t) {
    const secs = (Date.now() - new Date(t).getTime()) / 1000;
    return secs >= 0 ? L.fmtDuration(secs) + " ago" : "in " + L.fmtDuration(-secs);
  };

  L.fmtNum = function (v) {
    if (v === null || v === undefined || isNaN(v)) return "–";
    const a = Math.abs(v);
    if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(2);
    if (a >= 1000) return (v / 1000).toFixed(a >= 1e5 ? 0 : 1) + "k";
    return String(Math.round(v * 100) / 100);
  };

  L.fmtBytes = function (v) {
    if (v === null || v === undefined || isNaN(v)) return "–";
    const units = ["B", "kB", "MB", "GB", "TB"];
    let i = 0;
    while (Math.abs(v) >= 1000 && i < units.length - 1) { v /= 1000; i++; }
    return (i ? v.toFixed(1) : Math.round(v)) + " " + units[i];
  };

  // Alertmanager's matcher syntax: `{a="b", c=~"d.*"}` or `a=b, c!="x"` (braces optional).
  L.parseMatchers = function (text) {
    let s = String(text || "").trim();
    if (s.startsWith("{") && s.endsWith("}")) s = s.slice(1, -1);
    const out = [];
    const re = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|[^,]*)\s*(,|$)/y;
    let pos = 0;
    while (pos < s.length) {
      re.lastIndex = pos;
      const m = re.exec(s);
      if (!m) throw new Error("cannot read a matcher at: " + s.slice(pos));
      let value = m[3].trim();
      if (value.startsWith('"')) value = JSON.parse(value);
      out.push({ name: m[1], value: value, isRegex: m[2].includes("~"), isEqual: !m[2].startsWith("!") });
      pos = re.lastIndex;
      if (m[4] === "") break;
    }
    return out;
  };

  L.matcherText = function (m) {
    const neg = m.isEqual === false;
    const op = m.isRegex ? (neg ? "!~" : "=~") : (neg ? "!=" : "=");
    return m.name + op + JSON.stringify(m.value);
  };

  L.matchersText = function (ms) {
    return "{" + ms.map(L.matcherText).join(", ") + "}";
  };

  // Labels (an object) as a silence filter: {a="b", c="d"}.
  L.labelsFilter = function (labels) {
    return L.matchersText(Object.keys(labels).sort().map((k) => ({ name: k, value: labels[k], isRegex: false, isEqual: true })));
  };

  L.labelList = function (labels, skip) {
    return L.el("div", { class: "labels" },
      Object.keys(labels || {}).sort().filter((k) => !(skip || []).includes(k))
        .map((k) => L.el("span", { class: "label mono" }, k + "=" + labels[k])));
  };

  L.stateBadge = function (state, cls) {
    return L.el("span", { class: "state " + (cls || state) }, state);
  };

  // Prometheus duration (5m, 1h30m, 2d, 1w) in seconds.
  L.parseDuration = function (text) {
    const re = /(\d+)(ms|s|m|h|d|w|y)/g;
    const unit = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800, y: 31536000 };
    let total = 0, seen = "";
    for (const m of String(text).matchAll(re)) { total += Number(m[1]) * unit[m[2]]; seen += m[0]; }
    if (!seen || seen !== String(text).trim()) throw new Error("not a duration: " + text + " (e.g. 2h, 30m, 1d)");
    return total;
  };

  // A time-series chart (uPlot): xs in unix seconds, series [{label, values}].
  L.chart = function (container, xs, series, opts) {
    const palette = ["#0b63ce", "#c62828", "#2e7d32", "#b26a00", "#6a5acd", "#00838f", "#ad1457", "#558b2f"];
    container.replaceChildren();
    const width = Math.max(280, container.clientWidth || 600);
    const o = Object.assign({
      width: width,
      height: Math.round(Math.min(320, Math.max(200, width * 0.45))),
      series: [{}].concat(series.map((s, i) => ({
        label: s.label, stroke: s.stroke || palette[i % palette.length], width: 1.5,
        paths: s.step ? uPlot.paths.stepped({ align: 1 }) : undefined, spanGaps: false,
      }))),
      legend: { live: true },
      scales: { x: { time: true } },
      axes: [{ stroke: "#888" }, { stroke: "#888", size: 60 }],
    }, opts || {});
    const plot = new uPlot(o, [xs].concat(series.map((s) => s.values)), container);
    const onResize = () => plot.setSize({ width: Math.max(280, container.clientWidth), height: o.height });
    window.addEventListener("resize", onResize);
    return plot;
  };

  L.errorBox = function (err) {
    return L.el("p", { class: "error", role: "alert" }, String(err && err.message ? err.message : err));
  };

  window.L = L;
})();
