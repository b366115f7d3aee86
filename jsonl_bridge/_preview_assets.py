"""The preview page's own style sheet and script, inlined into every page.

The page references nothing outside itself (no CDN, no web font, no image file): its
Content-Security-Policy forbids any fetch but data: images, so a report opened from a
mail or an air-gapped machine looks the same, and a crafted JSONL cannot make it call home.
The script only pages through the cards and toggles views; without it every card shows.
"""

from __future__ import annotations

import base64
import hashlib

PAGE_CSS = """
[hidden]{display:none!important}
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;padding:16px 20px 60px;max-width:960px;
 color:#111;background:#f7f7f9}
h1{font-size:22px;margin:8px 0 4px;overflow-wrap:anywhere}
h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ccd;padding-bottom:4px}
.jb-summary{margin:2px 0;color:#333}
.jb-ok{color:#176b2c;font-weight:600}
.jb-failed{color:#b00;font-weight:600}
nav a{margin-right:14px}
.jb-charts{display:flex;flex-wrap:wrap;gap:14px}
.jb-charts figure{margin:0;background:#fff;border:1px solid #dde;border-radius:6px;padding:8px}
.jb-charts figcaption{font-weight:600;font-size:13px;margin-bottom:4px}
.jb-chart text{font-size:11px;fill:#333}
.jb-bar{fill:#4363d8}
.jb-axis{stroke:#888}
.jb-table{border-collapse:collapse;background:#fff;font-size:13px;width:100%}
.jb-table th,.jb-table td{border:1px solid #dde;padding:4px 6px;text-align:left;vertical-align:top}
.jb-table ul{margin:0;padding-left:16px}
.jb-table tr.jb-error td:first-child{color:#b00;font-weight:600}
.jb-table tr.jb-warning td:first-child{color:#8a5a00;font-weight:600}
.jb-pager{display:none;position:sticky;top:0;background:#f7f7f9;padding:6px 0;z-index:1;
 gap:10px;align-items:center;flex-wrap:wrap;font-size:13px}
.jb-js .jb-pager{display:flex}
.jb-noboxes .jb-boxes{display:none}
code{font-size:13px}
"""

PAGE_SIZE = 20
"""Cards per page: a few dozen thumbnails keep scrolling and rendering quick."""

PAGE_JS = """
(function () {
  "use strict";
  var PAGE = {PAGE_SIZE};
  var root = document.documentElement;
  var cards = Array.prototype.slice.call(document.querySelectorAll("#jb-cards > .jb-card"));
  var onlyFlagged = document.getElementById("jb-flagged-only");
  var showBoxes = document.getElementById("jb-show-boxes");
  var status = document.getElementById("jb-page-status");
  var prev = document.getElementById("jb-prev");
  var next = document.getElementById("jb-next");
  var page = 0;
  function pool() {
    return cards.filter(function (c) {
      return !onlyFlagged.checked || c.hasAttribute("data-flagged");
    });
  }
  function render() {
    var shown = pool();
    var pages = Math.max(1, Math.ceil(shown.length / PAGE));
    page = Math.min(Math.max(page, 0), pages - 1);
    cards.forEach(function (c) { c.hidden = true; });
    shown.slice(page * PAGE, (page + 1) * PAGE).forEach(function (c) { c.hidden = false; });
    status.textContent = "page " + (page + 1) + " of " + pages + " \\u00b7 " + shown.length +
      (shown.length === 1 ? " line" : " lines");
    prev.disabled = page === 0;
    next.disabled = page >= pages - 1;
  }
  function reveal() {
    var id;
    try { id = decodeURIComponent(location.hash.slice(1)); } catch (e) { return; }
    var card = document.getElementById(id);
    if (!card || cards.indexOf(card) < 0) { return; }
    if (!card.hasAttribute("data-flagged")) { onlyFlagged.checked = false; }
    page = Math.floor(pool().indexOf(card) / PAGE);
    render();
    card.scrollIntoView();
  }
  prev.addEventListener("click", function () { page -= 1; render(); });
  next.addEventListener("click", function () { page += 1; render(); });
  onlyFlagged.addEventListener("change", function () { page = 0; render(); });
  showBoxes.addEventListener("change", function () {
    root.classList.toggle("jb-noboxes", !showBoxes.checked);
  });
  window.addEventListener("hashchange", reveal);
  root.classList.add("jb-js");
  render();
  if (location.hash) { reveal(); }
})();
""".replace("{PAGE_SIZE}", str(PAGE_SIZE))


def _script_source(script: str) -> str:
    """The CSP source that lets exactly this inline script run: a script injected by a crafted
    JSONL (were escaping ever to fail) has another hash and is blocked."""
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
    f"script-src {_script_source(PAGE_JS)}; base-uri 'none'; form-action 'none'"
)
