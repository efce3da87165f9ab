// Compose enhancements: the business type-ahead and a local "today". The form works without them.
(function () {
  "use strict";
  // The server only knows UTC; in the evening west of Greenwich, "today" is the person's own date.
  var happened = document.querySelector("input[data-server-today]");
  if (happened && happened.value === happened.dataset.serverToday) {
    var now = new Date();
    happened.value = new Date(now.getTime() - now.getTimezoneOffset() * 60000).toISOString().slice(0, 10);
  }

  // The type-ahead is an ARIA combobox: focus stays in the field, the arrows move through the
  // options, Enter picks one, Escape closes the list; a tap or a click picks one too.
  var input = document.querySelector("[data-typeahead]");
  var form = document.getElementById("compose");
  if (!input || !form) { return; }
  var list = document.getElementById("business-options");
  var status = document.getElementById("business-status");
  var hidden = form.querySelector("input[name=business_id][type=hidden]");
  if (!hidden) {
    hidden = document.createElement("input");
    hidden.type = "hidden";
    hidden.name = "business_id";
    input.after(hidden);
  }
  var timer = null;
  var active = -1;

  function options() { return list.querySelectorAll("[role=option]"); }

  function close() {
    list.hidden = true;
    list.textContent = "";
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  }

  function choose(item) {
    input.value = item.name;
    hidden.value = item.id;
    hidden.dataset.name = item.name;
    hidden.dataset.handle = item.handle || "";
    close();
    if (status) { status.textContent = item.name + " chosen."; }
    form.dispatchEvent(new Event("change"));
  }

  function addNew() {
    var details = form.querySelector(".new-business");
    details.open = true;
    form.querySelector("[name=new_business_name]").value = input.value;
    close();
    form.querySelector("[name=new_business_website]").focus();
    form.dispatchEvent(new Event("input"));
  }

  function option(id, text, pick) {
    var li = document.createElement("li");
    li.id = id;
    li.setAttribute("role", "option");
    li.setAttribute("aria-selected", "false");
    li.textContent = text;
    li.pick = pick;
    // Keep focus in the field, so picking doesn't close the list before the click lands.
    li.addEventListener("mousedown", function (event) { event.preventDefault(); });
    li.addEventListener("click", function () { pick(); });
    list.appendChild(li);
  }

  function show(results) {
    list.textContent = "";
    active = -1;
    input.removeAttribute("aria-activedescendant");
    results.forEach(function (item, i) {
      option("business-option-" + i, item.name, function () { choose(item); });
    });
    option("business-option-new", "Add “" + input.value.trim() + "” as a new business", addNew);
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
    if (status) {
      status.textContent = (results.length === 1 ? "1 business found" : results.length + " businesses found") +
        ". Use the arrow keys to choose.";
    }
  }

  function move(to) {
    var items = options();
    active = (to + items.length) % items.length;
    items.forEach(function (li, i) { li.setAttribute("aria-selected", i === active ? "true" : "false"); });
    input.setAttribute("aria-activedescendant", items[active].id);
    items[active].scrollIntoView({ block: "nearest" });
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
    if (event.altKey || event.ctrlKey || event.metaKey) { return; }
    var open = !list.hidden && options().length > 0;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      if (!open) { search(); return; }
      move(event.key === "ArrowDown" ? active + 1 : (active < 0 ? -1 : active - 1));
    } else if (event.key === "Enter" && open && active >= 0) {
      event.preventDefault();
      options()[active].pick();
    } else if (event.key === "Escape" && open) {
      event.preventDefault();
      close();
    }
  });
  input.addEventListener("blur", function () {
    setTimeout(function () { if (document.activeElement !== input) { close(); } }, 150);
  });
})();

// How much of the story's room is used, as the person types.
(function () {
  "use strict";
  var form = document.getElementById("compose");
  var body = form && form.querySelector("textarea[data-counter]");
  var shown = document.getElementById("body-count");
  if (!body || !shown) { return; }
  var max = parseInt(body.dataset.counter, 10);

  function update() {
    var used = body.value.length;
    shown.textContent = used.toLocaleString("en") + " / " + max.toLocaleString("en") + " characters";
    shown.classList.toggle("near", used > max * 0.9);
  }

  shown.hidden = false;
  update();
  form.addEventListener("input", update);
  form.addEventListener("change", update);
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

// The Bluesky preview: the same story, counted as Bluesky counts (graphemes and UTF-8 bytes,
// the link as shown). The server composes it again when the post is sent.
(function () {
  "use strict";
  var preview = document.getElementById("bluesky-preview");
  var form = document.getElementById("compose");
  if (!preview || !form) { return; }
  var data = preview.dataset;
  var text = preview.querySelector(".status-text");
  var output = document.getElementById("bluesky-count");
  var bytesOutput = document.getElementById("bluesky-bytes");
  var max = parseInt(data.max, 10);
  var maxBytes = parseInt(data.maxBytes, 10);
  var segmenter = window.Intl && Intl.Segmenter ? new Intl.Segmenter() : null;
  var encoder = window.TextEncoder ? new TextEncoder() : null;
  var handleShape = /^@?([a-z0-9]([a-z0-9\-]*[a-z0-9])?\.)+[a-z][a-z0-9\-]*$/i;

  function graphemes(value) {
    if (!segmenter) { return Array.from(value); }
    var parts = [];
    for (var part of segmenter.segment(value)) { parts.push(part.segment); }
    return parts;
  }

  function size(value) {
    return encoder ? encoder.encode(value).length : unescape(encodeURIComponent(value)).length;
  }

  function field(name) {
    var element = form.elements[name];
    return element && element.value ? element.value.trim() : "";
  }

  function about() {
    var newName = field("new_business_name");
    if (newName) {
      var handle = field("new_business_bluesky");
      return handleShape.test(handle) ? "@" + handle.replace(/^@/, "").toLowerCase() : newName;
    }
    return data.about;
  }

  function fits(value) {
    return graphemes(value).length <= max && size(value) <= maxBytes;
  }

  function update() {
    var kind = form.querySelector("input[name=kind]:checked");
    var hashtag = kind && kind.value === "complaint" ? data.hashtagComplaint : data.hashtagPraise;
    var end = about() + " " + hashtag + "\n" + data.link;
    var story = field("body");
    var post = story ? story + "\n\n" + end : end;
    var over = !fits(post);
    if (over) {
      // Shorten the story with "…", never the rest, as the server will.
      var parts = graphemes(story);
      var low = 0;
      var high = parts.length;
      while (low < high) {
        var middle = Math.floor((low + high + 1) / 2);
        var tried = parts.slice(0, middle).join("").trimEnd() + "…\n\n" + end;
        if (fits(tried)) { low = middle; } else { high = middle - 1; }
      }
      post = low ? parts.slice(0, low).join("").trimEnd() + "…\n\n" + end : end;
    }
    text.textContent = post;
    output.textContent = graphemes(post).length;
    bytesOutput.textContent = size(post).toLocaleString("en");
    preview.classList.toggle("over", over);
  }

  form.addEventListener("input", update);
  form.addEventListener("change", update);
})();

// Never lose a word: the draft is kept on the device as the person types, and comes back after a
// reload, a crash or a closed tab. A post made offline waits in the outbox (app.js) and goes,
// once, when the connection returns; the submission key makes sending it again harmless.
(function () {
  "use strict";
  var form = document.getElementById("compose");
  var outbox = window.praisewallOutbox;
  if (!form || !outbox || !form.dataset.draft) { return; }
  var storageKey = "praisewall:draft:" + form.dataset.user + ":" + form.dataset.draft;
  var keyInput = form.querySelector("input[name=submission_key]");
  var note = document.getElementById("draft-note");
  var status = document.getElementById("outbox");
  var button = form.querySelector("button[type=submit]");
  var leaving = false;
  var gone = false; // sent: nothing left to keep
  var timer = null;

  function newKey() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }

  function fields() {
    var data = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.name === "csrf_token" || el.name === "submission_key" || el.disabled) { return; }
      if (el.type === "radio") {
        if (el.checked) { data[el.name] = el.value; }
      } else if (el.type === "checkbox") {
        data[el.name] = el.checked;
      } else if (el.type !== "submit" && el.type !== "button") {
        data[el.name] = el.value;
      }
    });
    return data;
  }

  function fill(data) {
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || !Object.prototype.hasOwnProperty.call(data, el.name)) { return; }
      if (el.type === "radio") {
        el.checked = el.value === data[el.name];
      } else if (el.type === "checkbox") {
        el.checked = data[el.name] === true;
      } else if (el.type !== "submit" && el.type !== "button" && el.name !== "csrf_token") {
        el.value = data[el.name];
      }
    });
    var details = form.querySelector(".new-business");
    if (details && data.new_business_name) { details.open = true; }
    form.dispatchEvent(new Event("input"));
    form.dispatchEvent(new Event("change"));
  }

  function words(data) {
    return ((data.body || "") + (data.make_right || "")).trim() !== "";
  }

  var initial = JSON.stringify(fields());

  function changed() { return JSON.stringify(fields()) !== initial; }

  function saveNow() {
    clearTimeout(timer);
    if (gone) { return; }
    if (!changed()) {
      var old = outbox.read(storageKey, null);
      if (old && (!keyInput || old.key === keyInput.value)) { outbox.write(storageKey, null); }
      return;
    }
    outbox.write(storageKey, {
      key: keyInput ? keyInput.value : null,
      base: initial,
      fields: fields(),
      savedAt: new Date().toISOString()
    });
  }

  function forget() {
    clearTimeout(timer);
    outbox.write(storageKey, null);
  }

  // Come back to the words left here, unless the page already holds someone's text.
  var saved = outbox.read(storageKey, null);
  var fresh = form.hasAttribute("data-fresh");
  // A new post comes back into an empty form; an edit only onto the version it was made from.
  var fits = form.dataset.draft === "new" ? !words(fields()) : saved && saved.base === initial;
  if (saved && fresh && form.dataset.draft !== "new" && !fits) {
    outbox.write(storageKey, null); // an edit of a version since replaced
  } else if (saved && saved.fields && fresh && fits && JSON.stringify(saved.fields) !== initial) {
    fill(saved.fields);
    if (keyInput && saved.key) { keyInput.value = saved.key; }
    if (note) { note.hidden = false; }
  }
  if (keyInput && !/^[A-Za-z0-9-]{1,64}$/.test(keyInput.value)) { keyInput.value = newKey(); }

  if (note) {
    note.querySelector("[data-discard]").addEventListener("click", function () {
      forget();
      form.reset();
      if (keyInput) { keyInput.value = newKey(); }
      note.hidden = true;
      form.dispatchEvent(new Event("input"));
      form.dispatchEvent(new Event("change"));
      form.querySelector("textarea[name=body]").focus();
    });
  }

  function entry() {
    var pairs = [];
    new FormData(form).forEach(function (value, name) {
      if (name !== "csrf_token" && typeof value === "string") { pairs.push([name, value]); }
    });
    return {
      key: keyInput.value,
      user: form.dataset.user,
      action: form.action,
      draft: storageKey,
      fields: pairs
    };
  }

  function queued() {
    var waiting = keyInput && outbox.find(keyInput.value);
    return waiting && JSON.stringify(waiting.fields) === JSON.stringify(entry().fields);
  }

  function wait() {
    outbox.put(entry());
    if (status) { status.scrollIntoView({ block: "nearest" }); }
  }

  function onChange() {
    clearTimeout(timer);
    timer = setTimeout(saveNow, 300);
    // A waiting post follows the edits made to it before it goes.
    if (keyInput && outbox.find(keyInput.value) && !outbox.find(keyInput.value).needsFix) { wait(); }
  }

  form.addEventListener("input", onChange);
  form.addEventListener("change", onChange);
  window.addEventListener("pagehide", saveNow);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") { saveNow(); }
  });
  window.addEventListener("beforeunload", function (event) {
    saveNow();
    if (leaving || !changed() || !words(fields()) || queued()) { return; }
    event.preventDefault();
    event.returnValue = "";
  });

  function submitNatively() {
    leaving = true;
    saveNow();
    HTMLFormElement.prototype.submit.call(form);
  }

  function go(url) {
    leaving = true;
    gone = true;
    forget();
    window.location.assign(url);
  }

  // Edits are sent as ordinary forms; a new post may have to wait for a connection.
  form.addEventListener("submit", function (event) {
    if (!keyInput) { leaving = true; return; }
    event.preventDefault();
    if (navigator.onLine === false) { wait(); return; }
    if (button) { button.disabled = true; }
    outbox.send(entry(), form.elements.csrf_token ? form.elements.csrf_token.value : "")
      .then(function (result) {
        if (button) { button.disabled = false; }
        if (result.state === "sent") {
          outbox.remove(keyInput.value);
          go(result.url);
        } else if (result.state === "offline") {
          wait();
        } else {
          // Let the server's own page say what's wrong, with every word still in the form.
          outbox.remove(keyInput.value);
          submitNatively();
        }
      });
  });

  document.addEventListener("praisewall:sent", function (event) {
    if (keyInput && event.detail.key === keyInput.value) { go(event.detail.url); }
  });
  document.addEventListener("praisewall:rejected", function (event) {
    if (keyInput && event.detail.key === keyInput.value) {
      outbox.remove(keyInput.value);
      submitNatively();
    }
  });

  // "Fix it" from the outbox: put the waiting post back in the form and let the server say why.
  var fix = new URLSearchParams(window.location.search).get("outbox");
  var broken = fix && keyInput && outbox.find(fix);
  if (broken && broken.user === form.dataset.user) {
    var data = {};
    broken.fields.forEach(function (pair) { data[pair[0]] = pair[1]; });
    Array.prototype.forEach.call(form.elements, function (el) {
      if (el.type === "checkbox" && el.name) { data[el.name] = Object.prototype.hasOwnProperty.call(data, el.name); }
    });
    fill(data);
    keyInput.value = broken.key;
    outbox.remove(broken.key);
    submitNatively();
  }
})();
