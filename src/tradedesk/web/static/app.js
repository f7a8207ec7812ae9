// Streams a turn into its message box: text deltas, tool calls and results, then the final reply; then
// fetches the page's parts the turn changed (header, status, recent jobs, approvals badge) as HTMX
// out-of-band swaps, so the page stays true without a reload.
(function () {
  "use strict";
  function inHistory(attr, id) { return id != null && document.querySelector("#messages [" + attr + '="' + CSS.escape(String(id)) + '"]'); }
  function refresh(box) { if (box.dataset.live && window.htmx) window.htmx.ajax("GET", box.dataset.live, { swap: "none" }); }
  function el(tag, cls, text) { var e = document.createElement(tag); if (cls) e.className = cls; if (text != null) e.textContent = text; return e; }
  function call(tool, args) { return tool + "(" + Object.keys(args || {}).map(function (k) { return k + "=" + JSON.stringify(args[k]); }).join(", ") + ")"; }
  function follow(box) {
    if (box.dataset.started) return;
    box.dataset.started = "1";
    var text = box.querySelector(".text"), tools = box.querySelector(".tools"), meta = box.querySelector(".meta");
    var source = new EventSource(box.dataset.events);
    source.addEventListener("delta", function (e) { text.textContent += JSON.parse(e.data).text; meta.textContent = "writing…"; });
    source.addEventListener("tool_call", function (e) {
      var d = JSON.parse(e.data), li = el("li", "tool call");
      if (inHistory("data-call", d.call_id)) return;  // a resumed turn replays the call the history already shows
      li.id = "call-" + d.call_id; li.appendChild(el("span", "tag", "tool")); li.appendChild(document.createTextNode(" "));
      li.appendChild(el("code", null, call(d.tool, d.args))); tools.appendChild(li); meta.textContent = "using " + d.tool + "…";
    });
    source.addEventListener("tool_result", function (e) {
      var d = JSON.parse(e.data), li = el("li", "tool result");
      if (inHistory("data-result", d.call_id)) return;
      li.appendChild(el("span", "tag", "result")); li.appendChild(document.createTextNode(" "));
      var shown = JSON.stringify(d.result); li.appendChild(el("code", null, shown.length > 400 ? shown.slice(0, 399) + "…" : shown));
      tools.appendChild(li);
    });
    source.addEventListener("reply", function (e) {
      var d = JSON.parse(e.data); source.close(); box.classList.remove("streaming");
      if (d.reply != null) text.textContent = d.reply;
      var parts = [];
      if (d.usage) parts.push(d.usage.total_tokens + " tokens");
      if (d.cost != null) parts.push("cost $" + d.cost);
      if (d.skills && d.skills.length) parts.push("skills: " + d.skills.map(function (s) { return s.name; }).join(", "));
      if (d.status === "waiting_approval") parts.push("waiting for your approval");
      meta.textContent = parts.join(" · ");
      if (d.status === "waiting_approval") { var a = el("a", null, " Approve or deny →"); a.href = "/approvals"; meta.appendChild(a); }
      if (d.status === "cancelled") meta.textContent = "cancelled";
      refresh(box);
    });
    source.addEventListener("error", function (e) {
      if (e.data) { meta.textContent = ""; meta.appendChild(el("span", "error", JSON.parse(e.data).error)); }
      else if (source.readyState === EventSource.CLOSED) { meta.textContent = "connection lost: reload to see the reply"; }
      source.close(); box.classList.remove("streaming"); refresh(box);
    });
  }
  function scan() { document.querySelectorAll("[data-events]").forEach(follow); var empty = document.getElementById("no-messages"); if (empty && document.querySelector(".msg")) empty.remove(); }
  document.addEventListener("DOMContentLoaded", scan);
  document.addEventListener("htmx:afterSwap", scan);
})();
