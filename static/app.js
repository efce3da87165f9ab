// On every page: the service worker, the outbox of posts waiting for a connection, and sharing.
// Everything here is an extra: without it, pages and forms work as plain HTML.
(function () {
  "use strict";
  var script = document.currentScript;
  var OUTBOX = "praisewall:outbox";
  var RETRY_FIRST = 5000;
  var RETRY_MOST = 60000;

  if (script && script.dataset.sw && "serviceWorker" in navigator) {
    window.addEventListener("load", function () {
      navigator.serviceWorker.register(script.dataset.sw).catch(function () {});
    });
  }

  // --- Storage that may be missing (private browsing) or full: never let it break the page. ---

  function read(name, fallback) {
    try {
      var value = window.localStorage.getItem(name);
      return value ? JSON.parse(value) : fallback;
    } catch (error) {
      return fallback;
    }
  }

  function write(name, value) {
    try {
      if (value === null) {
        window.localStorage.removeItem(name);
      } else {
        window.localStorage.setItem(name, JSON.stringify(value));
      }
      return true;
    } catch (error) {
      return false;
    }
  }

  // --- The outbox: posts made without a connection, sent once it returns. ---

  function entries() { return read(OUTBOX, []); }

  function save(list) { return write(OUTBOX, list.length ? list : null); }

  function find(key) {
    return entries().filter(function (entry) { return entry.key === key; })[0] || null;
  }

  function put(entry) {
    // The same draft queued again replaces itself: one key, one post.
    var list = entries().filter(function (other) { return other.key !== entry.key; });
    entry.queuedAt = entry.queuedAt || new Date().toISOString();
    list.push(entry);
    var ok = save(list);
    render();
    schedule(RETRY_FIRST);
    return ok;
  }

  function remove(key) {
    save(entries().filter(function (entry) { return entry.key !== key; }));
    render();
  }

  function update(key, changes) {
    save(entries().map(function (entry) {
      return entry.key === key ? Object.assign(entry, changes) : entry;
    }));
  }

  function clearDraft(entry) {
    var draft = entry.draft && read(entry.draft, null);
    if (draft && draft.key === entry.key) { write(entry.draft, null); }
  }

  // Send one post. The server answers JSON for a post made (or made before, with this key).
  function send(entry, token) {
    var body = new URLSearchParams();
    entry.fields.forEach(function (pair) {
      if (pair[0] !== "csrf_token") { body.append(pair[0], pair[1]); }
    });
    if (token) { body.append("csrf_token", token); }
    return fetch(entry.action, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { Accept: "application/json" }
    }).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      if (response.ok && type.indexOf("application/json") === 0) {
        return response.json().then(function (data) { return { state: "sent", url: data.url }; });
      }
      if (response.status === 422 || response.status === 413) {
        return { state: "rejected", status: response.status };
      }
      return { state: "other", status: response.status };
    }, function () {
      return { state: "offline" };
    });
  }

  var sending = false;
  var problem = null; // null, "login" or "server": why waiting posts didn't go when online
  var sent = null; // the last waiting post sent from this page
  var timer = null;
  var delay = RETRY_FIRST;

  function schedule(wait) {
    clearTimeout(timer);
    if (entries().some(function (entry) { return !entry.needsFix; })) {
      timer = setTimeout(flush, wait);
    }
  }

  function withLock(work) {
    // Tabs take turns, so two of them don't send the same post at once (the key would save
    // it anyway, but one request is kinder than two).
    if (navigator.locks && navigator.locks.request) {
      return navigator.locks.request("praisewall-outbox", work);
    }
    return work();
  }

  function announce(name, detail) {
    document.dispatchEvent(new CustomEvent(name, { detail: detail }));
  }

  function sendAll(token, user) {
    return entries().filter(function (entry) { return !entry.needsFix && entry.user === user; })
      .reduce(function (chain, entry) {
        return chain.then(function () {
          if (!find(entry.key)) { return null; } // another tab sent it meanwhile
          return send(entry, token).then(function (result) {
            if (result.state === "sent") {
              clearDraft(entry);
              remove(entry.key);
              sent = result.url;
              announce("praisewall:sent", { key: entry.key, url: result.url });
            } else if (result.state === "rejected") {
              update(entry.key, { needsFix: true });
              announce("praisewall:rejected", { key: entry.key });
            } else if (result.state === "offline") {
              throw new Error("offline");
            } else {
              problem = "server";
              throw new Error("server");
            }
          });
        });
      }, Promise.resolve());
  }

  function flush() {
    clearTimeout(timer);
    if (sending || !entries().some(function (entry) { return !entry.needsFix; })) {
      render();
      return Promise.resolve();
    }
    if (navigator.onLine === false) {
      render();
      return Promise.resolve();
    }
    sending = true;
    problem = null;
    return withLock(function () {
      return fetch(script && script.dataset.csrf || "/csrf-token", {
        credentials: "same-origin",
        cache: "no-store",
        headers: { Accept: "application/json" }
      }).then(function (response) {
        if (!response.ok) { problem = "server"; throw new Error("server"); }
        return response.json();
      }).then(function (info) {
        if (!info.user) { problem = "login"; return null; }
        return sendAll(info.csrf_token, info.user);
      });
    }).then(function () {
      delay = RETRY_FIRST;
    }, function () {
      delay = Math.min(delay * 2, RETRY_MOST);
    }).then(function () {
      sending = false;
      render();
      if (problem !== "login") { schedule(delay); }
    });
  }

  // --- What the person sees: a live region saying what is waiting. ---

  function region() {
    var element = document.getElementById("outbox");
    if (!element) {
      var main = document.querySelector("main");
      if (!main) { return null; }
      element = document.createElement("p");
      element.id = "outbox";
      element.className = "flash outbox";
      element.setAttribute("role", "status");
      element.setAttribute("aria-live", "polite");
      element.hidden = true;
      main.insertBefore(element, main.firstChild);
    }
    return element;
  }

  function link(text, href) {
    var a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    return a;
  }

  function render() {
    var element = region();
    if (!element) { return; }
    var list = entries();
    var waiting = list.filter(function (entry) { return !entry.needsFix; }).length;
    var broken = list.filter(function (entry) { return entry.needsFix; });
    element.textContent = "";
    if (waiting) {
      var one = waiting === 1;
      var when = problem === "login" ? "log in to send " + (one ? "it" : "them")
        : (one ? "it" : "they") + " will send when " +
          (problem === "server" ? "Praisewall answers again" : "you're back online");
      element.append((one ? "1 post" : waiting + " posts") + " waiting — " + when);
      if (problem === "login") {
        element.append(" ");
        element.appendChild(link("Log in", "/login?next=" + encodeURIComponent(location.pathname)));
      }
    } else if (broken.length) {
      element.append("A post that was waiting needs a fix before it can go. ");
      var first = broken[0];
      element.appendChild(link("Fix it", first.action + "?outbox=" + encodeURIComponent(first.key)));
    } else if (sent) {
      element.append("Your waiting post was sent. ");
      element.appendChild(link("See it", sent));
    }
    element.hidden = !element.textContent;
  }

  window.praisewallOutbox = {
    put: put,
    find: find,
    remove: remove,
    send: send,
    flush: flush,
    read: read,
    write: write
  };

  window.addEventListener("online", flush);
  window.addEventListener("offline", render);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") { flush(); }
  });
  window.addEventListener("storage", function (event) {
    if (event.key === OUTBOX) { render(); }
  });
  flush();

  // --- Sharing: the phone's share sheet where there is one, and copying the link. ---

  document.querySelectorAll("[data-share]").forEach(function (button) {
    if (!navigator.share) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.share({ title: button.dataset.title, text: button.dataset.text, url: button.dataset.url })
        .catch(function () {}); // closing the share sheet is not an error
    });
  });

  document.querySelectorAll("[data-copy]").forEach(function (button) {
    var input = document.getElementById(button.dataset.copy);
    var said = document.getElementById(button.dataset.copy + "-said");
    if (!input) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      function done(text) { if (said) { said.textContent = text; } }
      function fallback() {
        input.select();
        try {
          done(document.execCommand("copy") ? "Copied." : "Select the link and copy it.");
        } catch (error) {
          done("Select the link and copy it.");
        }
      }
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(input.value).then(function () { done("Copied."); }, fallback);
      } else {
        fallback();
      }
    });
  });
})();
