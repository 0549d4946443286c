// chat — client for the room page. Loaded with `defer` on every page; does nothing unless #chat
// exists. Every node is built with createElement + textContent: message data never touches
// innerHTML. No inline styles either (the server's CSP forbids them): state is shown by classes,
// the `hidden` attribute and data- attributes.
"use strict";

// Every page outside a room (lobby, admin): server-rendered <time datetime> elements are in UTC;
// show them in the reader's local time, with the UTC value kept as the tooltip.
(() => {
  if (document.getElementById("chat")) return; // the room page localises its own
  for (const t of document.querySelectorAll("time[datetime]")) {
    const d = new Date(t.getAttribute("datetime"));
    if (isNaN(d.getTime())) continue;
    t.title = t.textContent;
    t.textContent = d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  }
})();

(() => {
  const chat = document.getElementById("chat");
  if (!chat) return;

  // ------------------------------------------------------------------ settings & elements
  const RECONNECT_MIN_MS = 500;
  const RECONNECT_MAX_MS = 15000;
  const TYPING_SEND_EVERY_MS = 3000;
  const TYPING_EXPIRES_MS = 4000;
  const READ_EVERY_MS = 1000;
  const GROUP_WINDOW_MS = 5 * 60 * 1000;
  const BOTTOM_SLACK_PX = 80;
  const ERROR_SHOW_MS = 5000;
  const RESEND_FALLBACK_MS = 3000;
  const SEND_TIMEOUT_MS = 15000;
  const GAP_WAIT_MS = 1000;

  const me = chat.dataset.user || "";
  const wsPath = chat.dataset.wsPath || "";
  const historyLimit = parseInt(chat.dataset.historyLimit, 10) || 50;
  let lastId = parseInt(chat.dataset.lastId, 10) || 0;
  let firstId = parseInt(chat.dataset.firstId, 10) || 0;
  // The page has every message of the room up to seq (a room numbers its messages 1, 2, 3...).
  // Across nodes messages can arrive a little out of order, and one can be lost while the
  // channel layer is away; a seq above seq+1 is a gap, and if it outlives GAP_WAIT_MS the page
  // asks the server for what follows seq. Reconnects resume from seq, never from an id.
  let seq = parseInt(chat.dataset.lastSeq, 10) || 0;
  const aheadSeqs = new Set(); // seqs received above seq+1
  let gapTimer = null;
  let gapFrom = -1; // the seq the open gap follows: a gap is timed from when it opened
  const deletedIds = new Set(); // a gap's replay may carry a message deleted meanwhile

  const $ = (id) => document.getElementById(id);
  const statusEl = $("status");
  const onlineEl = $("online");
  const onlineCountEl = $("online-count");
  const typingEl = $("typing");
  const list = $("messages");
  const olderBtn = $("older");
  const newMarker = $("new-marker");
  const errorsEl = $("errors");
  const composer = $("composer");
  const input = $("message-input");

  const byId = new Map(); // message id -> <li>
  const pending = new Map(); // client_id -> outbox item {client_id, message, li, sentOn, failed}
  const outbox = []; // items in send order
  const edits = new Map(); // message id -> text before an edit the server has not confirmed yet

  let hasMore = olderBtn ? !olderBtn.hidden : false;
  let historyLoading = false;
  let unseen = 0; // messages that arrived while the tab was hidden (shown in the title)
  const baseTitle = document.title;

  // ------------------------------------------------------------------ small helpers
  const pad2 = (n) => String(n).padStart(2, "0");
  const hhmm = (d) => pad2(d.getHours()) + ":" + pad2(d.getMinutes());
  const dayKey = (d) => d.getFullYear() + "-" + (d.getMonth() + 1) + "-" + d.getDate();

  function dayLabel(d) {
    const today = new Date();
    const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
    if (dayKey(d) === dayKey(today)) return "Today";
    if (dayKey(d) === dayKey(yesterday)) return "Yesterday";
    const opts = { weekday: "long", month: "long", day: "numeric" };
    if (d.getFullYear() !== today.getFullYear()) opts.year = "numeric";
    return d.toLocaleDateString(undefined, opts);
  }

  function fullDate(d) {
    return d.toLocaleString(undefined, { dateStyle: "full", timeStyle: "short" });
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  // A message's client id is a UUID whose first 48 bits are the time in milliseconds (the
  // version 7 layout): the server's deduplicating index on (user, client id) then grows at
  // its end, as the messages do, instead of at a random place, which made storing a batch
  // about 1.4x slower (BenchmarkSaveMessages, ids=random against ids=time).
  function uuid() {
    const b = new Uint8Array(16);
    if (window.crypto && crypto.getRandomValues) crypto.getRandomValues(b);
    else for (let i = 0; i < 16; i++) b[i] = Math.floor(Math.random() * 256);
    let ms = Date.now();
    for (let i = 5; i >= 0; i--) {
      b[i] = ms % 256;
      ms = Math.floor(ms / 256);
    }
    b[6] = (b[6] & 0x0f) | 0x70;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  function hueOf(name) {
    let h = 0;
    for (const ch of name) h = (h * 31 + ch.codePointAt(0)) >>> 0;
    return h % 8;
  }

  function avatar(name) {
    const a = el("span", "avatar hue-" + hueOf(name), Array.from(name)[0] || "?");
    a.setAttribute("aria-hidden", "true");
    return a;
  }

  const parseDate = (s) => {
    const d = s ? new Date(s) : new Date();
    return isNaN(d.getTime()) ? new Date() : d;
  };

  const msgId = (li) => parseInt(li.dataset.id, 10) || 0;
  const msgTime = (li) => Number(li.dataset.ts) || 0;

  // ------------------------------------------------------------------ status line
  let statusTimer = null;
  function setStatus(state, text) {
    statusEl.dataset.state = state;
    statusEl.textContent = text;
  }

  // ------------------------------------------------------------------ error area
  let errorTimer = null;
  function showError(text, ms = ERROR_SHOW_MS) {
    errorsEl.textContent = text;
    clearTimeout(errorTimer);
    if (ms > 0) errorTimer = setTimeout(() => { errorsEl.textContent = ""; }, ms);
  }

  function errorText(frame) {
    if (frame.code === "rate_limited") {
      const secs = Math.max(1, Math.ceil((Number(frame.retry_after_ms) || 1000) / 1000));
      return "slow down, retry in " + secs + "s";
    }
    return frame.detail || frame.code || "something went wrong";
  }

  // ------------------------------------------------------------------ scrolling
  const atBottom = () => list.scrollHeight - list.scrollTop - list.clientHeight <= BOTTOM_SLACK_PX;

  function scrollToBottom() {
    list.scrollTop = list.scrollHeight;
    newMarker.hidden = true;
  }

  // ------------------------------------------------------------------ message nodes
  // Adds what the server-rendered markup lacks: avatar, own class, local time, actions.
  function decorate(li) {
    const user = li.dataset.user || "";
    if (!li.querySelector(".avatar")) li.prepend(avatar(user));
    if (user === me) li.classList.add("own");
    const t = li.querySelector("time");
    if (t) {
      const d = parseDate(t.getAttribute("datetime"));
      li.dataset.ts = String(d.getTime());
      t.textContent = hhmm(d);
      t.title = fullDate(d);
    }
    if (user === me && !li.classList.contains("pending") && !li.querySelector(".actions")) {
      li.append(actionsFor(li));
    }
    return li;
  }

  function renderMessage(m, isPending) {
    const li = el("li", "msg");
    li.dataset.user = m.user || "";
    if (m.id) li.dataset.id = String(m.id);
    if (isPending) {
      li.classList.add("pending");
      li.dataset.clientId = m.client_id;
    }
    li.append(el("span", "author", m.user || ""), " ");
    const t = el("time");
    t.setAttribute("datetime", m.created_at || new Date().toISOString());
    li.append(t, " ", el("span", "body", m.message || ""));
    if (m.edited_at) li.append(" ", editedLabel(m.edited_at));
    return decorate(li);
  }

  function editedLabel(at) {
    const span = el("span", "edited", "(edited)");
    if (at) span.title = "edited " + fullDate(parseDate(at));
    return span;
  }

  function actionsFor(li) {
    const box = el("span", "actions");
    const edit = el("button", "edit", "Edit");
    edit.type = "button";
    edit.setAttribute("aria-label", "Edit message");
    edit.addEventListener("click", () => startEdit(li));
    const del = el("button", "delete danger", "Delete");
    del.type = "button";
    del.setAttribute("aria-label", "Delete message");
    del.title = "Delete (Shift+click skips the confirmation)";
    del.addEventListener("click", (e) => {
      if (e.shiftKey) deleteMessage(li);
      else confirmDelete(li, box);
    });
    box.append(edit, del);
    return box;
  }

  function confirmDelete(li, box) {
    const keep = Array.from(box.childNodes);
    const label = el("span", "confirm-label", "Delete this message?");
    const yes = el("button", "danger delete-confirm", "Delete");
    yes.type = "button";
    const no = el("button", "delete-cancel", "Cancel");
    no.type = "button";
    const onKey = (e) => {
      if (e.key === "Escape") {
        e.preventDefault();
        restore();
      }
    };
    const restore = () => {
      box.removeEventListener("keydown", onKey);
      box.classList.remove("confirming");
      box.replaceChildren(...keep);
      keep[1].focus();
    };
    yes.addEventListener("click", () => deleteMessage(li));
    no.addEventListener("click", restore);
    box.addEventListener("keydown", onKey);
    box.classList.add("confirming");
    box.replaceChildren(label, yes, no);
    yes.focus();
  }

  // Places li among the confirmed messages by id; pending ones always stay last.
  function insertById(li) {
    const id = msgId(li);
    let before = null;
    for (let node = list.lastElementChild; node; node = node.previousElementSibling) {
      if (!node.classList.contains("msg")) continue;
      if (node.classList.contains("pending") || (node.classList.contains("failed") && !node.dataset.id)) {
        before = node;
        continue;
      }
      if (msgId(node) > id) { before = node; continue; }
      break;
    }
    // do not wedge a message between a day separator and its first message
    if (before && before.previousElementSibling && before.previousElementSibling.classList.contains("day-separator")) {
      before = before.previousElementSibling;
    }
    list.insertBefore(li, before);
  }

  // Marks consecutive messages (same author, same day, within 5 minutes) and keeps one day
  // separator in front of the first message of every local day.
  function regroup() {
    let prevMsg = null;
    let prevDay = null;
    let node = list.firstElementChild;
    while (node) {
      const next = node.nextElementSibling;
      if (node.classList.contains("day-separator")) {
        const keep = next && next.classList.contains("msg") &&
          dayKey(new Date(msgTime(next))) === node.dataset.day && node.dataset.day !== prevDay;
        if (!keep) node.remove();
        node = next;
        continue;
      }
      if (!node.classList.contains("msg")) { node = next; continue; }
      const d = new Date(msgTime(node));
      const day = dayKey(d);
      if (day !== prevDay) {
        const prev = node.previousElementSibling;
        if (!(prev && prev.classList.contains("day-separator") && prev.dataset.day === day)) {
          list.insertBefore(daySeparator(d), node);
        }
      }
      const continued = prevMsg !== null &&
        prevMsg.dataset.user === node.dataset.user &&
        day === prevDay &&
        !prevMsg.classList.contains("failed") &&
        msgTime(node) - msgTime(prevMsg) < GROUP_WINDOW_MS;
      node.classList.toggle("continued", continued);
      prevMsg = node;
      prevDay = day;
      node = next;
    }
  }

  function daySeparator(d) {
    const li = el("li", "day-separator");
    li.dataset.day = dayKey(d);
    const t = el("time", null, dayLabel(d));
    const midnight = new Date(d.getFullYear(), d.getMonth(), d.getDate());
    t.setAttribute("datetime", midnight.getFullYear() + "-" + pad2(midnight.getMonth() + 1) + "-" + pad2(midnight.getDate()));
    li.append(t);
    return li;
  }

  function refreshDayLabels() {
    for (const sep of list.querySelectorAll(".day-separator")) {
      const next = sep.nextElementSibling;
      if (next && next.classList.contains("msg")) sep.firstChild.textContent = dayLabel(new Date(msgTime(next)));
    }
  }

  function recomputeBounds() {
    for (const li of byId.values()) {
      const id = msgId(li);
      if (id > lastId) lastId = id;
      if (id && (!firstId || id < firstId)) firstId = id;
    }
  }

  // ------------------------------------------------------------------ sequence and gaps
  function noteSeq(value) {
    const s = Number(value) || 0;
    if (s <= seq) return;
    if (s === seq + 1) seq = s;
    else aheadSeqs.add(s);
    advanceSeq();
  }

  function advanceSeq() {
    while (aheadSeqs.has(seq + 1)) { aheadSeqs.delete(seq + 1); seq++; }
    for (const s of aheadSeqs) if (s <= seq) aheadSeqs.delete(s);
    if (aheadSeqs.size === 0) { clearTimeout(gapTimer); gapTimer = null; gapFrom = -1; return; }
    // A gap that moved on (its first missing message arrived, a later one is missing) is a
    // new gap: it gets its own moment to fill by itself before the page asks.
    if (gapFrom !== seq) {
      clearTimeout(gapTimer);
      gapFrom = seq;
      gapTimer = setTimeout(checkGap, GAP_WAIT_MS);
    }
  }

  function checkGap() {
    gapTimer = null;
    if (aheadSeqs.size === 0) return;
    sendFrame({ type: "catchup", since_seq: seq });
    gapTimer = setTimeout(checkGap, GAP_WAIT_MS); // ask again if the answer did not close it
  }

  function onCatchup(f) {
    const through = Number(f.last_seq) || 0;
    if (through > seq) seq = through;
    advanceSeq();
    if (Number(f.last_id) > lastId) lastId = Number(f.last_id);
  }

  // ------------------------------------------------------------------ incoming messages
  // Returns "added" when a message not shown before was added, "replaced" when a node already
  // shown was swapped for the server's version, and "" when nothing changed.
  function upsertMessage(m) {
    const id = Number(m.id) || 0;
    if (!id || deletedIds.has(id)) return "";
    const p = m.client_id ? pending.get(m.client_id) : null;
    if (p) {
      // our own message came back: the confirmed node replaces the optimistic one
      settle(p);
      const li = renderMessage(m, false);
      const existing = byId.get(id);
      if (existing && existing !== p.li) existing.remove();
      p.li.remove();
      byId.set(id, li);
      insertById(li);
    } else if (byId.has(id)) {
      const existing = byId.get(id);
      if (existing.dataset.local === "1" && !existing.classList.contains("editing")) {
        // placed by an ack: swap in the server's version (its timestamp is authoritative)
        const li = renderMessage(m, false);
        existing.replaceWith(li);
        byId.set(id, li);
        return "replaced";
      }
      return "";
    } else {
      const li = renderMessage(m, false);
      byId.set(id, li);
      insertById(li);
    }
    if (id > lastId) lastId = id;
    if (!firstId || id < firstId) firstId = id;
    return "added";
  }

  function onChatMessage(m) {
    noteSeq(m.seq);
    const stick = atBottom();
    const isNew = Number(m.id) > lastId;
    const mine = m.user === me;
    const change = upsertMessage(m);
    if (!change) return;
    regroup();
    if (change !== "added") return;
    if (m.user) typingStopped(m.user);
    if (stick) scrollToBottom();
    else if (isNew) newMarker.hidden = false;
    if (isNew && !mine) noteUnseen();
    scheduleRead();
  }

  function onAck(frame) {
    const p = pending.get(frame.client_id);
    const id = Number(frame.id) || 0;
    if (!p) return;
    if (!id) { settle(p); p.li.remove(); regroup(); return; } // a resend of a message deleted since
    if (!frame.duplicate) noteSeq(frame.seq); // shown from here on, whether or not its broadcast arrives
    settle(p);
    if (byId.has(id)) { p.li.remove(); return; }
    const li = p.li;
    li.classList.remove("pending", "failed");
    delete li.dataset.clientId;
    li.dataset.id = String(id);
    li.dataset.local = "1";
    li.removeAttribute("title");
    const note = li.querySelector(".failed-note");
    if (note) note.remove();
    li.remove();
    byId.set(id, li);
    insertById(li);
    decorate(li);
    if (id > lastId) lastId = id;
    if (!firstId || id < firstId) firstId = id;
    regroup();
    scheduleRead();
  }

  function onHistory(frame) {
    historyLoading = false;
    olderBtn.disabled = false;
    olderBtn.textContent = "Load older messages";
    const msgs = Array.isArray(frame.messages) ? frame.messages : [];
    const fromBottom = list.scrollHeight - list.scrollTop;
    list.setAttribute("aria-busy", "true");
    let added = 0;
    for (const m of msgs) if (upsertMessage(m) === "added") added++;
    regroup();
    list.scrollTop = list.scrollHeight - fromBottom;
    list.removeAttribute("aria-busy");
    // has_more is authoritative; a page with nothing new in it ends paging so we never loop
    const more = typeof frame.has_more === "boolean" ? frame.has_more : msgs.length >= historyLimit;
    hasMore = more && added > 0;
    olderBtn.hidden = !hasMore || !firstId;
  }

  function onEdit(frame) {
    edits.delete(Number(frame.id));
    const li = byId.get(Number(frame.id));
    if (!li) return;
    li.classList.remove("saving");
    const body = li.querySelector(".body");
    if (body && typeof frame.message === "string") body.textContent = frame.message;
    let label = li.querySelector(".edited");
    if (!label) {
      label = editedLabel(frame.edited_at);
      const t = li.querySelector("time");
      (body || t).after(label);
    } else if (frame.edited_at) {
      label.title = "edited " + fullDate(parseDate(frame.edited_at));
    }
  }

  function onDelete(frame) {
    const id = Number(frame.id);
    deletedIds.add(id);
    edits.delete(id);
    const li = byId.get(id);
    if (!li) return;
    const hadFocus = li.contains(document.activeElement);
    byId.delete(id);
    li.remove();
    regroup();
    if (id === firstId) { firstId = 0; recomputeBounds(); }
    if (hadFocus) input.focus();
  }

  function onError(frame) {
    if (frame.in_reply_to === "catchup") return; // the gap check asks again by itself
    const text = errorText(frame);
    const p = frame.client_id ? pending.get(frame.client_id) : null;
    if (p) {
      markFailed(p, text);
      return;
    }
    showError(text);
    // an edit or delete in flight was refused (e.g. edit window closed): undo what we showed
    for (const [id, original] of edits) {
      const li = byId.get(id);
      const body = li && li.querySelector(".body");
      if (body) body.textContent = original;
    }
    edits.clear();
    for (const li of list.querySelectorAll(".msg.saving")) li.classList.remove("saving");
  }

  function onReload(frame) {
    stopped = true;
    clearTimeout(reconnectTimer);
    showError((frame.reason ? frame.reason + " — " : "") + "reloading to catch up…", 0);
    setTimeout(() => location.reload(), 1000);
  }

  // ------------------------------------------------------------------ presence & typing
  function onPresence(frame) {
    const users = Array.isArray(frame.users) ? frame.users.map(String) : [];
    const nodes = users.map((name) => {
      const li = el("li");
      li.append(avatar(name), el("span", "name", name));
      if (name === me) li.append(el("span", "you", "(you)"));
      return li;
    });
    onlineEl.replaceChildren(...nodes);
    onlineCountEl.textContent = users.length ? String(users.length) : "";
    for (const name of typers.keys()) if (!users.includes(name)) typingStopped(name);
  }

  const typers = new Map(); // user -> expiry timer
  function onTyping(frame) {
    const user = String(frame.user || "");
    if (!user || user === me) return;
    clearTimeout(typers.get(user));
    typers.set(user, setTimeout(() => typingStopped(user), TYPING_EXPIRES_MS));
    renderTyping();
  }

  function typingStopped(user) {
    if (!typers.has(user)) return;
    clearTimeout(typers.get(user));
    typers.delete(user);
    renderTyping();
  }

  function renderTyping() {
    const names = Array.from(typers.keys());
    let text = "";
    if (names.length === 1) text = names[0] + " is typing…";
    else if (names.length === 2) text = names[0] + " and " + names[1] + " are typing…";
    else if (names.length === 3) text = names[0] + ", " + names[1] + " and " + names[2] + " are typing…";
    else if (names.length > 3) text = "Several people are typing…";
    if (typingEl.textContent !== text) typingEl.textContent = text;
  }

  // ------------------------------------------------------------------ sending
  function sendFrame(obj) {
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    try {
      ws.send(JSON.stringify(obj));
      return true;
    } catch (_) {
      return false;
    }
  }

  function sendMessage(text) {
    const clientId = uuid();
    const li = renderMessage({ user: me, message: text, created_at: new Date().toISOString(), client_id: clientId }, true);
    const item = { client_id: clientId, message: text, li, sentOn: 0, failed: false };
    list.append(li);
    regroup();
    scrollToBottom();
    outbox.push(item);
    pending.set(clientId, item);
    flush();
  }

  // Sends every queued message that has not gone out on this connection yet.
  function flush() {
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    for (const item of outbox) {
      if (item.failed || item.sentOn) continue;
      if (!sendFrame({ type: "chat.message", message: item.message, client_id: item.client_id })) return;
      item.sentOn = connSerial;
      item.sentAt = Date.now();
    }
  }

  // After a reconnect the catch-up replays anything the server stored, replacing those pending
  // items by client_id; whatever is still pending was lost with the old socket and goes again.
  function resendLost() {
    clearTimeout(resendTimer);
    for (const item of outbox) if (!item.failed && item.sentOn && item.sentOn !== connSerial) item.sentOn = 0;
    flush();
  }

  // A message the server neither stored nor refused within a while on a live socket is marked
  // failed so it can be retried (while disconnected, items just wait for the reconnect).
  setInterval(() => {
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    const now = Date.now();
    for (const item of outbox.slice()) {
      if (!item.failed && item.sentOn === connSerial && now - item.sentAt > SEND_TIMEOUT_MS) {
        markFailed(item, "no reply from the server");
      }
    }
  }, 2000);

  function settle(item) {
    pending.delete(item.client_id);
    const i = outbox.indexOf(item);
    if (i >= 0) outbox.splice(i, 1);
  }

  function markFailed(item, text) {
    item.failed = true;
    item.sentOn = 0;
    const li = item.li;
    li.classList.remove("pending");
    li.classList.add("failed");
    li.title = text;
    let note = li.querySelector(".failed-note");
    if (note) note.remove();
    note = el("span", "failed-note");
    const retry = el("button", "retry", "Retry");
    retry.type = "button";
    retry.addEventListener("click", () => {
      item.failed = false;
      li.classList.remove("failed");
      li.classList.add("pending");
      li.removeAttribute("title");
      note.remove();
      regroup();
      flush();
    });
    const discard = el("button", "discard", "Discard");
    discard.type = "button";
    discard.addEventListener("click", () => {
      settle(item);
      li.remove();
      regroup();
      input.focus();
    });
    note.append(el("span", null, "Not sent: " + text), retry, discard);
    li.append(note);
    regroup();
    if (atBottom()) scrollToBottom();
  }

  let lastTypingSent = 0;
  function maybeSendTyping() {
    if (!input.value.trim()) return;
    const now = Date.now();
    if (now - lastTypingSent < TYPING_SEND_EVERY_MS) return;
    if (sendFrame({ type: "typing" })) lastTypingSent = now;
  }

  let lastReadSent = 0;
  let lastReadAt = 0;
  let readTimer = null;
  function scheduleRead() {
    if (document.visibilityState !== "visible" || lastId <= lastReadSent || readTimer) return;
    const wait = Math.max(0, lastReadAt + READ_EVERY_MS - Date.now());
    readTimer = setTimeout(() => {
      readTimer = null;
      if (document.visibilityState !== "visible" || lastId <= lastReadSent) return;
      if (sendFrame({ type: "read", id: lastId })) {
        lastReadSent = lastId;
        lastReadAt = Date.now();
      }
    }, wait);
  }

  function noteUnseen() {
    if (document.visibilityState === "visible") return;
    unseen++;
    document.title = "(" + unseen + ") " + baseTitle;
  }

  function requestHistory() {
    if (historyLoading || !hasMore || !firstId) return;
    if (!sendFrame({ type: "history", before: firstId })) return;
    historyLoading = true;
    olderBtn.disabled = true;
    olderBtn.textContent = "Loading…";
  }

  // ------------------------------------------------------------------ editing
  function startEdit(li) {
    if (li.classList.contains("editing") || !li.dataset.id) return;
    const body = li.querySelector(".body");
    if (!body) return;
    const stick = atBottom();
    li.classList.add("editing");
    const box = el("div", "edit-box");
    const fieldId = "edit-" + li.dataset.id;
    const label = el("label", "visually-hidden", "Edit message");
    label.htmlFor = fieldId;
    const ta = el("textarea");
    ta.id = fieldId;
    ta.maxLength = input.maxLength > 0 ? input.maxLength : 4000;
    ta.rows = Math.min(8, body.textContent.split("\n").length);
    ta.value = body.textContent;
    const hint = el("span", "edit-hint", "Enter to save · Shift+Enter for a new line · Esc to cancel");
    box.append(label, ta, hint);
    body.after(box);
    ta.focus();
    ta.setSelectionRange(ta.value.length, ta.value.length);
    if (stick) scrollToBottom();

    // Escape returns focus to the Edit button; saving returns it to the composer (moving it to a
    // button while Enter is still down would let that Enter press the button again).
    const finish = (saved) => {
      box.remove();
      li.classList.remove("editing");
      const editBtn = li.querySelector(".actions .edit");
      if (saved || !editBtn) {
        enterSent = saved; // the Enter that saved must not also add a line to the composer
        input.focus();
      } else {
        editBtn.focus();
      }
    };
    ta.addEventListener("keydown", (e) => {
      if (e.key === "Escape") {
        e.preventDefault();
        finish(false);
      } else if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
        e.preventDefault();
        const text = ta.value.trim();
        if (!text || text === body.textContent) { finish(true); return; }
        if (!sendFrame({ type: "chat.edit", id: msgId(li), message: text })) {
          showError("You're offline — the edit can be saved once we reconnect.");
          return;
        }
        if (!edits.has(msgId(li))) edits.set(msgId(li), body.textContent);
        body.textContent = text;
        li.classList.add("saving");
        finish(true);
      }
    });
  }

  function deleteMessage(li) {
    const id = msgId(li);
    if (!id) return;
    if (!sendFrame({ type: "chat.delete", id })) {
      showError("You're offline — try deleting again once we reconnect.");
      return;
    }
    li.classList.add("saving");
  }

  // ------------------------------------------------------------------ websocket
  let ws = null;
  let connSerial = 0;
  let attempt = 0;
  let reconnectTimer = null;
  let resendTimer = null;
  let stopped = false;

  function connect() {
    if (stopped) return;
    clearTimeout(reconnectTimer);
    clearInterval(statusTimer);
    reconnectTimer = null;
    if (ws && (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN)) return;
    if (navigator.onLine === false) { setStatus("offline", "offline"); return; }
    setStatus("connecting", "connecting…");
    const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + wsPath + "?since_seq=" + seq;
    let sock;
    try {
      sock = new WebSocket(url);
    } catch (_) {
      scheduleReconnect();
      return;
    }
    ws = sock;
    sock.addEventListener("open", () => {
      if (ws !== sock) return;
      connSerial++;
      attempt = 0;
      lastTypingSent = 0;
      setStatus("connected", "connected");
      flush();
      // items sent on an earlier socket wait for the catch-up (or a short fallback) first
      clearTimeout(resendTimer);
      resendTimer = setTimeout(resendLost, RESEND_FALLBACK_MS);
      scheduleRead();
      if (historyLoading) { historyLoading = false; olderBtn.disabled = false; olderBtn.textContent = "Load older messages"; }
    });
    sock.addEventListener("message", (e) => {
      if (ws !== sock || typeof e.data !== "string") return;
      let frame;
      try { frame = JSON.parse(e.data); } catch (_) { return; }
      if (frame && typeof frame === "object") handleFrame(frame);
    });
    sock.addEventListener("close", (e) => {
      if (ws !== sock) return;
      ws = null;
      if (historyLoading) { historyLoading = false; olderBtn.disabled = false; olderBtn.textContent = "Load older messages"; }
      if (e.code === 1008) {
        // policy close: logged out or account deactivated; retrying cannot help
        stopped = true;
        setStatus("offline", "signed out");
        showError("You were signed out. Reload the page to log in again.", 0);
        return;
      }
      scheduleReconnect();
    });
  }

  function scheduleReconnect() {
    if (stopped) return;
    clearTimeout(reconnectTimer);
    clearInterval(statusTimer);
    if (navigator.onLine === false) { setStatus("offline", "offline"); return; }
    const base = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** attempt);
    const delay = Math.min(RECONNECT_MAX_MS, Math.round(base * (0.8 + Math.random() * 0.4)));
    attempt++;
    const due = Date.now() + delay;
    const tick = () => {
      const secs = Math.max(1, Math.ceil((due - Date.now()) / 1000));
      setStatus("reconnecting", "reconnecting in " + secs + "s…");
    };
    tick();
    statusTimer = setInterval(tick, 250);
    reconnectTimer = setTimeout(connect, delay);
  }

  function reconnectNow() {
    if (stopped) return;
    if (ws && (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN)) return;
    attempt = 0;
    connect();
  }

  function handleFrame(f) {
    switch (f.type) {
      case "chat.message": onChatMessage(f); break;
      case "ack": onAck(f); break;
      case "error": onError(f); break;
      case "history": onHistory(f); break;
      case "catchup":
        onCatchup(f);
        resendLost();
        scheduleRead();
        break;
      case "reload": onReload(f); break;
      case "presence": onPresence(f); break;
      case "typing": onTyping(f); break;
      case "chat.edit": onEdit(f); break;
      case "chat.delete": onDelete(f); break;
      default: break; // unknown frames are ignored
    }
  }

  // ------------------------------------------------------------------ UI wiring
  function submitComposer() {
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    fitInput();
    sendMessage(text);
    lastTypingSent = 0;
  }

  // Grows the composer with its content where CSS field-sizing is unsupported (rows only).
  const fieldSizing = window.CSS && CSS.supports && CSS.supports("field-sizing", "content");
  function fitInput() {
    if (fieldSizing) return;
    input.rows = Math.min(6, Math.max(1, input.value.split("\n").length));
  }

  composer.addEventListener("submit", (e) => {
    e.preventDefault();
    submitComposer();
    input.focus();
  });

  // Set while an Enter that sent the message is held, so no stray line break follows it
  // (some input paths deliver the character even though keydown was cancelled).
  let enterSent = false;
  input.addEventListener("keydown", (e) => {
    enterSent = false;
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      enterSent = true;
      submitComposer();
    } else if (e.key === "ArrowUp" && !input.value) {
      // like most chat apps: ArrowUp in an empty composer edits your last message
      const mine = list.querySelectorAll(".msg.own[data-id]:not(.pending):not(.failed)");
      if (mine.length) {
        e.preventDefault();
        startEdit(mine[mine.length - 1]);
      }
    }
  });

  input.addEventListener("keyup", (e) => { if (e.key === "Enter") enterSent = false; });
  input.addEventListener("beforeinput", (e) => {
    if (enterSent && (e.inputType === "insertLineBreak" || e.inputType === "insertParagraph" ||
        (e.inputType === "insertText" && /^[\r\n]+$/.test(e.data || "")))) e.preventDefault();
  });

  input.addEventListener("input", () => {
    fitInput();
    maybeSendTyping();
  });

  olderBtn.addEventListener("click", requestHistory);

  // touch screens have no hover: tapping one of your messages reveals its Edit / Delete buttons
  list.addEventListener("click", (e) => {
    if (e.target.closest("button, textarea, a")) return;
    const li = e.target.closest(".msg");
    for (const other of list.querySelectorAll(".msg.show-actions")) if (other !== li) other.classList.remove("show-actions");
    if (li && li.classList.contains("own")) li.classList.toggle("show-actions");
  });

  // the long placeholder wraps on phones, where Enter hints matter less anyway
  const narrow = window.matchMedia && window.matchMedia("(max-width: 759px)");
  const fullPlaceholder = input.placeholder;
  const fitPlaceholder = () => { input.placeholder = narrow && narrow.matches ? "Write a message…" : fullPlaceholder; };
  if (narrow) {
    fitPlaceholder();
    if (narrow.addEventListener) narrow.addEventListener("change", fitPlaceholder);
  }

  newMarker.addEventListener("click", () => {
    list.scrollTo({ top: list.scrollHeight, behavior: "smooth" });
    newMarker.hidden = true;
  });

  // When the list gets shorter (error line, phone keyboard, window resize) a reader who was at the
  // bottom stays there.
  let stuck = true;
  if (window.ResizeObserver) {
    new ResizeObserver(() => { if (stuck) list.scrollTop = list.scrollHeight; }).observe(list);
  }

  let userScrolled = false;
  list.addEventListener("scroll", () => {
    stuck = atBottom();
    if (stuck) newMarker.hidden = true;
    if (userScrolled && list.scrollTop < BOTTOM_SLACK_PX) requestHistory();
  }, { passive: true });
  // history loads on scroll only after the reader has actually scrolled (not our own scroll-to-bottom)
  for (const ev of ["wheel", "touchmove", "keydown", "pointerdown"]) {
    list.addEventListener(ev, () => { userScrolled = true; }, { passive: true });
  }

  window.addEventListener("online", reconnectNow);
  // Offline: drop the socket at once rather than wait for TCP to notice; queued and unconfirmed
  // messages go out again after the reconnect that the `online` event starts.
  window.addEventListener("offline", () => {
    clearTimeout(reconnectTimer);
    clearInterval(statusTimer);
    const sock = ws;
    ws = null;
    if (sock) {
      try { sock.close(); } catch (_) { /* already closing */ }
    }
    if (historyLoading) { historyLoading = false; olderBtn.disabled = false; olderBtn.textContent = "Load older messages"; }
    setStatus("offline", "offline");
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState !== "visible") return;
    unseen = 0;
    document.title = baseTitle;
    refreshDayLabels();
    reconnectNow();
    scheduleRead();
  });
  window.addEventListener("pageshow", (e) => { if (e.persisted) reconnectNow(); });

  // ------------------------------------------------------------------ start
  for (const li of list.querySelectorAll(".msg")) {
    decorate(li);
    const id = msgId(li);
    if (id) byId.set(id, li);
  }
  recomputeBounds();
  regroup();
  for (const t of chat.querySelectorAll("time[datetime]")) {
    if (t.closest(".msg, .day-separator")) continue;
    const d = parseDate(t.getAttribute("datetime"));
    t.textContent = hhmm(d);
    t.title = fullDate(d);
  }
  if (!firstId) olderBtn.hidden = true;
  hasMore = !olderBtn.hidden;
  fitInput();
  scrollToBottom();
  connect();
})();
