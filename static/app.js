// Loomwork generated app: small behaviours on top of server-rendered pages and htmx. No build step.
(function () {
  "use strict";
  function csrf() { var m = document.querySelector('meta[name="csrf-token"]'); return m ? m.content : ""; }

  // "/" focuses the global search; Esc closes open menus.
  document.addEventListener("keydown", function (e) {
    var tag = (e.target && e.target.tagName) || "";
    if (e.key === "/" && !/INPUT|TEXTAREA|SELECT/.test(tag)) { e.preventDefault(); var s = document.getElementById("global-search"); if (s) s.focus(); }
    if (e.key === "Escape") { document.querySelectorAll("details[open]").forEach(function (d) { d.open = false; }); }
  });

  // The phone menu.
  document.addEventListener("click", function (e) {
    var toggle = e.target.closest && e.target.closest("#menu-toggle");
    if (!toggle) return;
    var nav = document.getElementById("nav");
    var open = nav.classList.toggle("open");
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
  });

  // The column chooser writes the chosen columns into one parameter.
  document.addEventListener("change", function (e) {
    if (!e.target.matches || !e.target.matches('.column-chooser input[name="col"]')) return;
    var chosen = Array.prototype.map.call(document.querySelectorAll('.column-chooser input[name="col"]:checked'), function (b) { return b.value; });
    document.getElementById("columns-value").value = chosen.join(",");
  });
  document.addEventListener("submit", function (e) {
    if (e.target.id !== "list-controls") return;
    e.target.querySelectorAll('input[name="col"]').forEach(function (b) { b.disabled = true; });
    e.target.querySelectorAll("input, textarea").forEach(function (i) { if (!i.value && i.type !== "checkbox") i.disabled = true; });
  });

  // The filter builder writes the expression language into the filter box (the box is the truth).
  function literal(field, value) {
    if (["integer", "decimal", "currency", "percent"].indexOf(field.type) >= 0 && /^-?[0-9]+(\.[0-9]+)?$/.test(value)) return value;
    if (field.type === "boolean") return /^(true|yes|1|是)$/i.test(value) ? "true" : "false";
    if (field.options) {
      var hit = field.options.filter(function (o) { return o.id === value || o.label === value; })[0];
      if (hit) value = hit.id;
    }
    return "'" + value.replace(/'/g, "''") + "'";
  }
  document.addEventListener("click", function (e) {
    if (!e.target.matches || !e.target.matches(".b-add")) return;
    var builder = e.target.closest(".builder");
    var fields = JSON.parse(builder.getAttribute("data-fields"));
    var name = builder.querySelector(".b-field").value;
    var field = fields.filter(function (f) { return f.name === name; })[0];
    var op = builder.querySelector(".b-op").value;
    var value = builder.querySelector(".b-value").value.trim();
    var part;
    if (op === "is null" || op === "is not null") part = name + (op === "is null" ? " = null" : " != null");
    else if (op === "contains") part = "contains(" + name + ", " + literal({ type: "text" }, value) + ")";
    else part = name + " " + op + " " + literal(field, value);
    var box = builder.querySelector("textarea");
    box.value = box.value.trim() ? box.value.trim() + " and " + part : part;
  });

  // Board: drag a card to another column = the same move as "Move to…" (the server decides).
  function board() {
    var root = document.getElementById("board");
    if (!root || !window.Sortable || root.getAttribute("data-movable") !== "true") return;
    root.querySelectorAll("ol.cards").forEach(function (list) {
      if (list._sortable) return;
      list._sortable = window.Sortable.create(list, {
        group: "board", animation: 120, forceFallback: true, filter: "select, button, a, input, label", preventOnFilter: false,
        onEnd: function (evt) {
          var to = evt.to.getAttribute("data-option");
          if (evt.from === evt.to) return;
          var card = evt.item;
          var values = { by: root.getAttribute("data-by"), to: to, version: card.getAttribute("data-version"), csrf_token: csrf() };
          htmx.ajax("POST", "/app/" + root.getAttribute("data-object") + "/" + card.getAttribute("data-id") + "/move",
            { target: "#board", swap: "outerHTML", values: values });
        }
      });
    });
  }

  // Forms: the server says which fields are shown and required now (POST form-state, htmx);
  // the inputs themselves are never replaced, so typing and focus are undisturbed.
  function applyState(box) {
    var form = document.getElementById("record-form");
    if (!form || !box) return;
    var shown = (box.getAttribute("data-visible") || "").split(" ");
    var needed = (box.getAttribute("data-required") || "").split(" ");
    var sections = (box.getAttribute("data-sections") || "").split(" ");
    var formulas = {};
    try { formulas = JSON.parse(box.getAttribute("data-formulas") || "{}"); } catch (err) { formulas = {}; }
    Object.keys(formulas).forEach(function (id) { var out = document.getElementById(id); if (out) out.textContent = formulas[id]; });
    // a field not shown is disabled too: its inputs are not posted (a crafted post naming it is refused)
    form.querySelectorAll("fieldset[data-section]").forEach(function (s) { s.hidden = s.disabled = sections.indexOf(s.getAttribute("data-section")) < 0; });
    form.querySelectorAll(":scope .field[data-field], :scope .lines-editor[data-field]").forEach(function (el) {
      if (el.closest("tr.line")) return;  // a line's fields follow the line's own values (shown on save)
      var name = el.getAttribute("data-field");
      el.hidden = el.disabled = shown.indexOf(name) < 0;
      var mark = el.querySelector(".req");
      if (mark) mark.hidden = needed.indexOf(name) < 0;
      el.querySelectorAll("input, select, textarea").forEach(function (i) {
        if (needed.indexOf(name) >= 0) i.setAttribute("aria-required", "true"); else i.removeAttribute("aria-required");
      });
    });
  }
  document.addEventListener("htmx:afterSwap", function (e) { if (e.target && e.target.id === "form-state") applyState(e.target); });
  document.addEventListener("htmx:oobAfterSwap", function (e) { if (e.target && e.target.id === "form-state") applyState(e.target); });
  document.body && document.body.addEventListener("htmx:afterSettle", function () { applyState(document.getElementById("form-state")); });

  // Suggestions answer the input that asked: one that left the input (a choice was made) is dropped.
  document.addEventListener("htmx:beforeSwap", function (e) {
    var target = e.detail.target;
    if (!target || !target.classList || !target.classList.contains("choices")) return;
    var asker = target.parentNode.querySelector('input[type="search"]');
    if (asker && asker !== document.activeElement) e.detail.shouldSwap = false;
  });

  // Lookups: pick a suggestion (click or Enter) to fill the hidden id.
  function choose(option) {
    var box = option.closest(".lookup");
    box.querySelector(".lookup-id").value = option.getAttribute("data-id");
    var search = box.querySelector('input[type="search"]');
    search.value = option.textContent.trim();
    search.setAttribute("aria-expanded", "false");
    option.closest(".choices").innerHTML = "";
    box.querySelector(".lookup-id").dispatchEvent(new Event("change", { bubbles: true }));
  }
  document.addEventListener("click", function (e) {
    var option = e.target.closest && e.target.closest(".choices .choice");
    if (option) { e.preventDefault(); choose(option); }
  });
  document.addEventListener("keydown", function (e) {
    var search = e.target;
    if (!search.closest || !search.closest(".lookup") || search.type !== "search") return;
    var list = search.closest(".lookup").querySelector(".choices");
    var options = Array.prototype.slice.call(list.querySelectorAll(".choice"));
    if (e.key === "ArrowDown" && options.length) { e.preventDefault(); options[0].focus(); }
    if (e.key === "Enter") { e.preventDefault(); if (options.length) choose(options[0]); }
  });
  document.addEventListener("keydown", function (e) {
    var option = e.target.closest && e.target.closest(".choices .choice");
    if (!option) return;
    if (e.key === "Enter") { e.preventDefault(); choose(option); }
    if (e.key === "ArrowDown" && option.nextElementSibling) { e.preventDefault(); option.nextElementSibling.focus(); }
    if (e.key === "ArrowUp") { e.preventDefault(); (option.previousElementSibling || option.closest(".lookup").querySelector('input[type="search"]')).focus(); }
  });
  document.addEventListener("input", function (e) {
    if (e.target.closest && e.target.closest(".lookup") && e.target.type === "search") {
      e.target.closest(".lookup").querySelector(".lookup-id").value = "";  // typed text is not a choice
      e.target.setAttribute("aria-expanded", "true");
    }
  });

  // Mentions: picking a person inserts the markup that mentions them into the comment.
  document.addEventListener("click", function (e) {
    var choice = e.target.closest && e.target.closest(".mention-choice");
    if (!choice) return;
    var box = document.getElementById("comment-body");
    var mention = choice.getAttribute("data-mention") + " ";
    var at = box.selectionStart || box.value.length;
    box.value = box.value.slice(0, at) + (at && !/\s$/.test(box.value.slice(0, at)) ? " " : "") + mention + box.value.slice(at);
    choice.closest(".choices").innerHTML = "";
    document.getElementById("mention-search").value = "";
    box.focus();
  });

  // Child tables: add, remove and reorder lines; the order on the page is the order saved.
  function nextIndex(editor) {
    var max = -1;
    editor.querySelectorAll("tr.line").forEach(function (r) { var i = parseInt(r.getAttribute("data-index"), 10); if (i > max) max = i; });
    return max + 1;
  }
  document.addEventListener("click", function (e) {
    var t = e.target;
    if (!t.closest) return;
    var add = t.closest(".add-line");
    if (add) {
      var editor = add.closest(".lines-editor");
      var index = String(nextIndex(editor));
      var html = editor.querySelector("template.line-template").innerHTML.split("__INDEX__").join(index);
      var body = editor.querySelector("tbody");
      body.insertAdjacentHTML("beforeend", html);
      if (window.htmx) htmx.process(body.lastElementChild);
      var first = body.lastElementChild.querySelector("input:not([type=hidden]), select");
      if (first) first.focus();
      return;
    }
    var row = t.closest("tr.line");
    if (!row) return;
    if (t.closest(".remove-line")) { var form = row.closest("form"); row.remove(); if (form) form.dispatchEvent(new Event("change", { bubbles: true })); }
    else if (t.closest(".line-up") && row.previousElementSibling) row.parentNode.insertBefore(row, row.previousElementSibling);
    else if (t.closest(".line-down") && row.nextElementSibling) row.parentNode.insertBefore(row.nextElementSibling, row);
  });

  // Attachments: uploaded at once through the files API, with progress.
  document.addEventListener("change", function (e) {
    var input = e.target;
    if (!input.matches || !input.matches("input.upload") || !input.files.length) return;
    var file = input.files[0];
    var field = input.closest(".field");
    var bar = field.querySelector(".upload-progress");
    var status = field.querySelector(".upload-status");
    var xhr = new XMLHttpRequest();
    xhr.open("PUT", input.getAttribute("data-url") + "?name=" + encodeURIComponent(file.name));
    xhr.setRequestHeader("Content-Type", file.type || "application/octet-stream");
    xhr.setRequestHeader("X-CSRF-Token", csrf());
    bar.hidden = false;
    xhr.upload.onprogress = function (p) { if (p.lengthComputable) bar.value = Math.round(100 * p.loaded / p.total); };
    xhr.onload = function () {
      var ok = xhr.status >= 200 && xhr.status < 300;
      var message = file.name;
      if (!ok) { try { message = JSON.parse(xhr.responseText).errors[0].msg; } catch (err) { message = String(xhr.status); } }
      status.textContent = message;
      status.classList.toggle("field-error", !ok);
      if (ok) { bar.value = 100; var v = document.querySelector('input[name="_version"]'); try { v.value = JSON.parse(xhr.responseText).data.version; } catch (err) {} }
    };
    xhr.send(file);
  });
  document.addEventListener("DOMContentLoaded", board);
  document.addEventListener("htmx:afterSwap", board);
  window.addEventListener("load", board);
})();
