// facegate web page: small progressive enhancements, no build step.
"use strict";

function $(sel, root) { return (root || document).querySelector(sel); }
function $all(sel, root) { return Array.from((root || document).querySelectorAll(sel)); }

async function api(method, url, body) {
  const resp = await fetch(url, { method: method, body: body, credentials: "same-origin" });
  if (resp.status === 401) { location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search); throw new Error("login required"); }
  let data = null;
  const ct = resp.headers.get("Content-Type") || "";
  if (ct.startsWith("application/json")) { data = await resp.json(); }
  return { ok: resp.ok, status: resp.status, data: data };
}

function setMsg(el, text, kind) {
  if (!el) return;
  el.textContent = text || "";
  el.className = el.className.replace(/\b(ok|error|warn)\b/g, "").trim() + (kind ? " " + kind : "");
}

// ---- photo lists with per-photo results ----

function photoList(listEl) {
  const items = [];
  return {
    items: items,
    add(blob, name) {
      const li = document.createElement("li");
      const img = document.createElement("img");
      img.src = URL.createObjectURL(blob);
      img.alt = name;
      const cap = document.createElement("div");
      cap.className = "file-name";
      cap.textContent = name;
      const res = document.createElement("div");
      res.className = "result";
      const rm = document.createElement("button");
      rm.type = "button"; rm.className = "secondary remove"; rm.textContent = "Remove";
      const item = { blob: blob, name: name, li: li, res: res };
      rm.addEventListener("click", () => { items.splice(items.indexOf(item), 1); li.remove(); });
      li.append(img, cap, res, rm);
      listEl.append(li);
      items.push(item);
    },
    clear() { items.splice(0).forEach(it => it.li.remove()); },
    // show puts each server verdict next to its photo; returns true when all were stored without warnings.
    show(results) {
      let clean = true;
      (results || []).forEach((r, i) => {
        const it = items[i];
        if (!it) return;
        if (r.ok) {
          it.res.className = "result ok";
          it.res.textContent = "stored";
          if (r.warning) {
            clean = false;
            const w = document.createElement("div");
            w.className = "warning"; w.textContent = "Warning: " + r.warning;
            it.res.append(w);
          }
        } else {
          clean = false;
          it.res.className = "result error";
          it.res.textContent = "Not stored: " + r.error;
        }
      });
      return clean;
    },
  };
}

function initPeople() {
  const form = $("#add-form");
  if (!form) return;
  const maxBytes = parseFloat(form.dataset.maxBytes || "10") * 1048576;
  const list = photoList($("#previews"));
  const input = $("#photos");
  const msg = $("#add-msg");
  input.addEventListener("change", () => {
    Array.from(input.files).forEach(f => list.add(f, f.name));
    input.value = "";
  });
  const cap = $("#capture");
  if (cap) cap.addEventListener("click", async () => {
    cap.disabled = true;
    try {
      const resp = await fetch("/api/capture", { credentials: "same-origin" });
      if (!resp.ok) { const d = await resp.json().catch(() => ({})); setMsg(msg, d.error || "capture failed", "error"); return; }
      const blob = await resp.blob();
      list.add(blob, "camera-" + new Date().toISOString().slice(11, 19).replace(/:/g, "") + ".jpg");
      setMsg(msg, "");
    } finally { cap.disabled = false; }
  });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const name = $("#person-name").value.trim();
    if (!name) { setMsg(msg, "Enter a name.", "error"); return; }
    if (list.items.length === 0) { setMsg(msg, "Choose or capture at least one photo.", "error"); return; }
    const fd = new FormData();
    fd.append("name", name);
    list.items.forEach(it => {
      it.res.className = "result"; it.res.textContent = it.blob.size > maxBytes ? "too large, the server will refuse it" : "checking…";
      fd.append("image", it.blob, it.name);
    });
    const btn = $("#add-submit");
    btn.disabled = true;
    setMsg(msg, "Checking photos…");
    try {
      const r = await api("POST", "/api/people", fd);
      const clean = list.show(r.data && r.data.photos);
      if (r.ok && r.data && r.data.person) {
        const p = r.data.person;
        if (clean && !r.data.warning) { setMsg(msg, "Added " + p.name + ".", "ok"); location.reload(); return; }
        setMsg(msg, "Added " + p.name + " (#" + p.id + ")" + (clean ? ". " : " with the photos marked stored. ") +
          (r.data.warning ? "Warning: " + r.data.warning + ". " : ""), "warn");
        const a = document.createElement("a");
        a.href = "/"; a.textContent = "Show the list";
        msg.append(a);
      } else {
        setMsg(msg, (r.data && r.data.error) || ("failed: HTTP " + r.status), "error");
      }
    } catch (e) { setMsg(msg, String(e), "error"); }
    finally { btn.disabled = false; }
  });

  const people = $("#people");
  people.addEventListener("click", async (ev) => {
    const btn = ev.target.closest("button[data-action]");
    if (!btn) return;
    const li = btn.closest("li.person");
    const id = li.dataset.id;
    const m = $(".person-msg", li);
    if (btn.dataset.action === "enable") {
      const body = new URLSearchParams({ enabled: btn.dataset.enabled });
      const r = await api("POST", "/api/people/" + id + "/enabled", body);
      if (r.ok) { location.reload(); } else { setMsg(m, (r.data && r.data.error) || "failed", "error"); }
    } else if (btn.dataset.action === "delete") {
      if (!confirm("Delete " + li.dataset.name + " and all their photos?")) return;
      const r = await api("DELETE", "/api/people/" + id);
      if (r.ok) { li.remove(); } else { setMsg(m, (r.data && r.data.error) || "failed", "error"); }
    }
  });
  people.addEventListener("submit", async (ev) => {
    const f = ev.target.closest("form.validity");
    if (!f) return;
    ev.preventDefault();
    const li = f.closest("li.person");
    const m = $(".person-msg", li);
    const r = await api("POST", "/api/people/" + li.dataset.id + "/validity", new URLSearchParams(new FormData(f)));
    if (r.ok) { var words = r.data.status.replace(/_/g, " "); setMsg(m, "Saved: " + words + ".", "ok"); $(".badge", li).textContent = words; li.dataset.status = r.data.status; }
    else { setMsg(m, (r.data && r.data.error) || "failed", "error"); }
  });
  people.addEventListener("change", async (ev) => {
    const inp = ev.target.closest("input.add-photos");
    if (!inp || inp.files.length === 0) return;
    const li = inp.closest("li.person");
    const m = $(".person-msg", li);
    const pl = photoList($(".person-results", li));
    pl.clear();
    const fd = new FormData();
    Array.from(inp.files).forEach(f => { pl.add(f, f.name); fd.append("image", f, f.name); });
    inp.value = "";
    setMsg(m, "Checking photos…");
    const r = await api("POST", "/api/people/" + li.dataset.id + "/photos", fd);
    const clean = pl.show(r.data && r.data.photos);
    if (r.ok && clean) { location.reload(); return; }
    setMsg(m, r.ok ? "Photos marked stored were added." : ((r.data && r.data.error) || "failed"), r.ok ? "warn" : "error");
  });
}

// ---- live view ----

function initLive() {
  const state = $("#door-state");
  const stream = $("#stream");
  if (stream) {
    stream.addEventListener("error", () => { setTimeout(() => { stream.src = "/api/stream?t=" + Date.now(); }, 2000); });
  }
  if (!state) return;
  const contact = $("#door-contact"), alarms = $("#door-alarms"), msg = $("#door-msg");
  async function poll() {
    try {
      const r = await api("GET", "/api/door");
      if (r.ok) {
        const d = r.data;
        state.textContent = d.door;
        state.className = "badge " + d.door;
        contact.textContent = "contact: " + d.contact;
        const a = [];
        if (d.forced_open) a.push("door forced open");
        if (d.held_open) a.push("door held open");
        setMsg(alarms, a.length ? "ALARM: " + a.join(", ") : "", a.length ? "error" : "");
      }
    } catch (e) { /* keep polling */ }
  }
  poll();
  setInterval(poll, 1000);
  $("#unlock").addEventListener("click", async (ev) => {
    ev.target.disabled = true;
    try {
      const r = await api("POST", "/api/unlock");
      setMsg(msg, r.ok ? "Unlocked for " + r.data.seconds + " s." : ((r.data && r.data.error) || "failed"), r.ok ? "ok" : "error");
      poll();
    } finally { ev.target.disabled = false; }
  });
  $all("#sim-open, #sim-close").forEach(b => b.addEventListener("click", async () => {
    const r = await api("POST", "/api/door/contact", new URLSearchParams({ open: b.dataset.open }));
    setMsg(msg, r.ok ? "" : ((r.data && r.data.error) || "failed"), r.ok ? "" : "error");
    poll();
  }));
  const ex = $("#sim-exit");
  if (ex) ex.addEventListener("click", async () => {
    const r = await api("POST", "/api/door/exit");
    setMsg(msg, r.ok ? "Exit button pressed." : ((r.data && r.data.error) || "failed"), r.ok ? "ok" : "error");
    poll();
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const page = document.body.dataset.page;
  if (page === "people") initPeople();
  if (page === "live") initLive();
});
