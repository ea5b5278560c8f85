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
  document.addEventListener("DOMContentLoaded", board);
  document.addEventListener("htmx:afterSwap", board);
  window.addEventListener("load", board);
})();
