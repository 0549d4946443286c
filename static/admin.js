// chat — the staff admin's script. Loaded with `defer` by the admin pages only. It ticks every
// row checkbox from the header's, and keeps /admin/live current by polling /admin/live.json.
// Nodes are built with createElement + textContent (no innerHTML), and there are no inline
// styles or scripts: the server's CSP forbids them.
"use strict";

(() => {
  // ------------------------------------------------------------------ select all
  for (const all of document.querySelectorAll("[data-select-all]")) {
    const form = all.closest("form");
    const boxes = () => form.querySelectorAll('input[type="checkbox"][name="ids"]');
    all.addEventListener("change", () => {
      for (const box of boxes()) box.checked = all.checked;
    });
    form.addEventListener("change", (ev) => {
      if (ev.target === all) return;
      const list = [...boxes()];
      all.checked = list.length > 0 && list.every((b) => b.checked);
      all.indeterminate = !all.checked && list.some((b) => b.checked);
    });
  }

  // ------------------------------------------------------------------ live connections
  const live = document.getElementById("live");
  if (!live) return;
  const POLL_MS = 2500;
  const source = live.dataset.source;
  const csrf = live.dataset.csrf;
  const tbody = document.getElementById("live-rows");
  const countEl = document.getElementById("live-count");
  const statusEl = document.getElementById("live-status");

  const el = (tag, props = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props)) {
      if (k === "text") node.textContent = v;
      else if (k === "class") node.className = v;
      else node.setAttribute(k, v);
    }
    for (const child of children) node.append(child);
    return node;
  };
  const hidden = (name, value) => el("input", { type: "hidden", name, value: String(value) });
  const form = (action, fields, label, extraClass, title) => {
    const button = el("button", { type: "submit", class: "button small" + extraClass, text: label });
    if (title) button.title = title;
    return el("form", { method: "post", action, class: "admin-inline-form" },
      hidden("csrf_token", csrf), ...fields, button);
  };
  const utc = (iso) => {
    const d = new Date(iso);
    return isNaN(d) ? "" : d.toISOString().slice(0, 19).replace("T", " ");
  };

  const render = (data) => {
    countEl.textContent = String(data.connections);
    const rows = data.rows || [];
    if (rows.length === 0) {
      tbody.replaceChildren(el("tr", {}, el("td", { colspan: "5", class: "admin-empty", text: "Nobody is connected to this node." })));
      return;
    }
    tbody.replaceChildren(...rows.map((r) => {
      const actions = el("div", { class: "admin-row-actions" });
      for (const c of r.conns || []) {
        actions.append(form("/admin/live/disconnect", [hidden("channel", c.channel)], "Close tab", "",
          "connected " + utc(c.since).slice(11) + " UTC"));
      }
      actions.append(form("/admin/live/disconnect-user", [hidden("user_id", r.user_id)],
        "All of " + r.username + "’s", " danger"));
      return el("tr", {},
        el("td", {}, el("strong", { text: r.username })),
        el("td", { text: "#" + r.room }),
        el("td", { class: "num", text: String(r.tabs) }),
        el("td", { class: "admin-nowrap" }, el("time", { datetime: r.since, text: utc(r.since) })),
        el("td", {}, actions));
    }));
  };

  let timer = 0;
  const poll = async () => {
    timer = 0;
    try {
      const res = await fetch(source, { headers: { Accept: "application/json" }, cache: "no-store", credentials: "same-origin" });
      const type = res.headers.get("Content-Type") || "";
      if (!res.ok || !type.includes("json")) {
        // Logged out or no longer staff: stop, and say so instead of showing stale rows.
        statusEl.textContent = "stopped updating (" + res.status + "); reload the page";
        return;
      }
      render(await res.json());
      statusEl.textContent = "updated " + new Date().toLocaleTimeString();
    } catch (err) {
      statusEl.textContent = "cannot reach the server; retrying";
    }
    schedule();
  };
  const schedule = () => {
    if (!timer && !document.hidden) timer = setTimeout(poll, POLL_MS);
  };
  // No polling in a background tab; catch up at once when it comes back.
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) {
      clearTimeout(timer);
      timer = 0;
    } else if (!timer) {
      poll();
    }
  });
  schedule();
})();
