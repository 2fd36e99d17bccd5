// Silences: create one (matchers, duration, comment, author) with a live preview of the
// alerts it would silence, expire one, see the history. All through the notifier's
// Alertmanager API v2, so what this page does is what amtool sees.
"use strict";
(function () {
  const { el, api, $ } = window.L;
  const form = $("#silence-form");
  const f = form.elements;

  if (!f.author.value) f.author.value = localStorage.getItem("lookout.author") || "";

  async function preview() {
    const out = $("#silence-preview");
    let ms;
    try { ms = window.L.parseMatchers(f.matchers.value); } catch (e) { out.replaceChildren(window.L.errorBox(e)); return; }
    if (!ms.length) { out.textContent = "Type matchers to see the alerts they match."; return; }
    const q = new URLSearchParams({ active: "true", silenced: "true", inhibited: "true" });
    for (const m of ms) q.append("filter", window.L.matcherText(m));
    try {
      const alerts = await api("/api/v2/alerts?" + q);
      window.L.replace(out,
        el("p", { id: "preview-count" }, alerts.length + (alerts.length === 1 ? " alert" : " alerts") + " match now."),
        el("ul", {}, alerts.map((a) => el("li", {}, el("strong", {}, a.labels.alertname || ""), window.L.labelList(a.labels, ["alertname"])))));
    } catch (e) { out.replaceChildren(window.L.errorBox(e)); }
  }

  let timer = null;
  f.matchers.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(preview, 250); });

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const result = $("#silence-result");
    try {
      const matchers = window.L.parseMatchers(f.matchers.value);
      if (!matchers.length) throw new Error("give at least one matcher");
      const secs = window.L.parseDuration(f.duration.value.trim());
      const now = new Date();
      const body = {
        matchers: matchers,
        startsAt: now.toISOString(),
        endsAt: new Date(now.getTime() + secs * 1000).toISOString(),
        createdBy: f.author.value.trim(),
        comment: f.comment.value.trim(),
      };
      localStorage.setItem("lookout.author", body.createdBy);
      const resp = await api("/api/v2/silences", { method: "POST", json: body });
      result.className = "ok";
      result.replaceChildren("Silence ", el("a", { href: "#" + resp.silenceID, id: "created-silence" }, resp.silenceID), " created, until " + window.L.fmtTime(body.endsAt) + ".");
      await list();
      await preview();
    } catch (e) {
      result.className = "error";
      result.textContent = e.status === 403 ? "Not allowed: creating a silence needs the editor role. " + e.message.replace(/^403: /, "") : e.message;
    }
  });

  function silenceCard(s) {
    const state = s.status.state;
    const expire = async () => {
      try {
        await api("/api/v2/silence/" + encodeURIComponent(s.id), { method: "DELETE" });
        await list();
        await preview();
      } catch (e) { card.append(window.L.errorBox(e)); }
    };
    const card = el("article", { class: "card silence", id: s.id, "data-state": state },
      el("div", {}, window.L.stateBadge(state, state === "active" ? "suppressed" : state === "pending" ? "pending" : "stopped"), " ",
        el("code", { class: "mono" }, window.L.matchersText(s.matchers))),
      el("dl", {},
        el("dt", {}, "from"), el("dd", {}, window.L.fmtTime(s.startsAt)),
        el("dt", {}, "until"), el("dd", {}, window.L.fmtTime(s.endsAt) + " (" + window.L.ago(s.endsAt) + ")"),
        el("dt", {}, "by"), el("dd", {}, s.createdBy),
        el("dt", {}, "comment"), el("dd", {}, s.comment),
        el("dt", {}, "id"), el("dd", { class: "mono" }, s.id)),
      el("div", { class: "actions" },
        state !== "expired" ? el("button", { type: "button", class: "expire", onclick: expire }, "Expire") : null,
        el("a", { href: "/silences?filter=" + encodeURIComponent(window.L.matchersText(s.matchers)) + "&comment=" + encodeURIComponent(s.comment) }, state === "expired" ? "Recreate" : "Copy")));
    if (location.hash === "#" + s.id) card.style.outline = "2px solid var(--accent)";
    return card;
  }

  async function list() {
    try {
      const all = await api("/api/v2/silences");
      all.sort((a, b) => (a.endsAt < b.endsAt ? 1 : -1));
      const live = all.filter((s) => s.status.state !== "expired");
      const old = all.filter((s) => s.status.state === "expired");
      window.L.replace($("#silences-active"), live.length ? live.map(silenceCard) : el("p", { class: "muted" }, "No active silences."));
      window.L.replace($("#silences-expired"), old.length ? old.slice(0, 100).map(silenceCard) : el("p", { class: "muted" }, "None expired."));
    } catch (e) { $("#silences-active").replaceChildren(window.L.errorBox(e)); }
  }

  list();
  preview();
  setInterval(list, 30000);
})();
