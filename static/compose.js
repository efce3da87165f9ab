// Compose enhancements: the business type-ahead and a local "today". The form works without them.
(function () {
  "use strict";
  // The server only knows UTC; in the evening west of Greenwich, "today" is the person's own date.
  var happened = document.querySelector("input[data-server-today]");
  if (happened && happened.value === happened.dataset.serverToday) {
    var now = new Date();
    happened.value = new Date(now.getTime() - now.getTimezoneOffset() * 60000).toISOString().slice(0, 10);
  }

  var input = document.querySelector("[data-typeahead]");
  var form = document.getElementById("compose");
  if (!input || !form) { return; }
  var list = document.getElementById("business-options");
  var hidden = form.querySelector("input[name=business_id][type=hidden]");
  if (!hidden) {
    hidden = document.createElement("input");
    hidden.type = "hidden";
    hidden.name = "business_id";
    input.after(hidden);
  }
  var timer = null;
  var active = -1;

  function close() {
    list.hidden = true;
    list.textContent = "";
    input.setAttribute("aria-expanded", "false");
    active = -1;
  }

  function choose(item) {
    input.value = item.name;
    hidden.value = item.id;
    hidden.dataset.name = item.name;
    hidden.dataset.handle = item.handle || "";
    close();
    form.dispatchEvent(new Event("change"));
  }

  function show(results) {
    list.textContent = "";
    results.forEach(function (item, i) {
      var li = document.createElement("li");
      li.id = "business-option-" + i;
      li.setAttribute("role", "option");
      li.textContent = item.name;
      li.addEventListener("mousedown", function (event) { event.preventDefault(); choose(item); });
      li.dataItem = item;
      list.appendChild(li);
    });
    var add = document.createElement("li");
    add.id = "business-option-new";
    add.setAttribute("role", "option");
    add.textContent = "Add “" + input.value + "” as a new business";
    add.addEventListener("mousedown", function (event) {
      event.preventDefault();
      var details = form.querySelector(".new-business");
      details.open = true;
      form.querySelector("[name=new_business_name]").value = input.value;
      close();
      form.querySelector("[name=new_business_website]").focus();
    });
    list.appendChild(add);
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
  }

  function search() {
    var q = input.value.trim();
    if (!q) { close(); return; }
    fetch(input.dataset.typeahead + "?q=" + encodeURIComponent(q), { headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : { results: [] }; })
      .then(function (data) { if (input.value.trim() === q && document.activeElement === input) { show(data.results); } })
      .catch(close);
  }

  input.addEventListener("input", function () {
    hidden.value = "";
    clearTimeout(timer);
    timer = setTimeout(search, 150);
  });
  input.addEventListener("keydown", function (event) {
    var items = list.querySelectorAll("li");
    if (list.hidden || !items.length) { return; }
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      active = (active + (event.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
      items.forEach(function (li, i) { li.setAttribute("aria-selected", i === active ? "true" : "false"); });
      input.setAttribute("aria-activedescendant", items[active].id || "");
    } else if (event.key === "Enter" && active >= 0) {
      event.preventDefault();
      items[active].dispatchEvent(new MouseEvent("mousedown"));
    } else if (event.key === "Escape") {
      close();
    }
  });
  input.addEventListener("blur", function () { setTimeout(close, 100); });
})();

// The status preview: rebuild and count the status as the person types or picks a business.
// The server's count, made again when the post is sent, is the one that decides.
(function () {
  "use strict";
  var preview = document.getElementById("status-preview");
  var form = document.getElementById("compose");
  if (!preview || !form) { return; }
  var data = preview.dataset;
  var text = preview.querySelector(".status-text");
  var output = document.getElementById("status-count");
  var max = parseInt(data.max, 10);
  var urlLength = parseInt(data.urlLength, 10);
  var segmenter = window.Intl && Intl.Segmenter ? new Intl.Segmenter() : null;
  var urls = /https?:\/\/[^\s<>"]+/g;
  var mentions = /(^|[^\/\w])@([a-z0-9_]+)@[a-z0-9.\-]+[a-z0-9]+/gi;
  var handleShape = /^@?[a-z0-9_.\-]+@[a-z0-9\-]+(\.[a-z0-9\-]+)+$/i;

  function graphemes(value) {
    if (!segmenter) { return Array.from(value).length; }
    var n = 0;
    for (var ignored of segmenter.segment(value)) { n += 1; }
    return n;
  }

  function length(value) {
    var counted = value.replace(urls, function (link) {
      // Like Mastodon, leave closing punctuation (and an unmatched bracket) outside the link.
      var trimmed = link.replace(/[.,:;!?'"]+$/, "");
      if (/\)$/.test(trimmed) && (trimmed.match(/\(/g) || []).length < (trimmed.match(/\)/g) || []).length) {
        trimmed = trimmed.slice(0, -1);
      }
      return "x".repeat(urlLength) + link.slice(trimmed.length);
    });
    return graphemes(counted.replace(mentions, "$1@$2"));
  }

  function field(name) {
    var element = form.elements[name];
    return element && element.value ? element.value.trim() : "";
  }

  function about() {
    var newName = field("new_business_name");
    if (newName) {
      var handle = field("new_business_handle");
      return handleShape.test(handle) ? "@" + handle.replace(/^@/, "") : newName;
    }
    var chosen = form.querySelector("input[name=business_id][type=hidden]");
    if (chosen && chosen.value && chosen.dataset.name) {
      return chosen.dataset.handle || chosen.dataset.name;
    }
    return data.about;
  }

  function update() {
    var kind = form.querySelector("input[name=kind]:checked");
    var hashtag = kind && kind.value === "complaint" ? data.hashtagComplaint : data.hashtagPraise;
    var who = about();
    var story = field("body");
    var spoiler = field("spoiler_text");
    var status = (story ? story + "\n\n" : "") + who + " " + hashtag + "\n" + data.link;
    // The server measured the link by its own rules; the rest is counted here.
    var count = (story ? length(story) + 2 : 0) + length(who) + 1 + graphemes(hashtag) + 1 +
      parseInt(data.linkLength, 10) + graphemes(spoiler);
    text.textContent = status;
    output.textContent = count;
    preview.classList.toggle("over", count > max);
  }

  form.addEventListener("input", update);
  form.addEventListener("change", update);
})();
