// Passkeys: sign up, sign in and add one with the browser's WebAuthn. The buttons stay hidden
// unless the browser can make passkeys; without this script every other form works as plain HTML.
(function () {
  "use strict";
  if (!window.PublicKeyCredential || !navigator.credentials || !window.fetch) { return; }

  // --- Base64url, the way the server writes bytes in JSON. ---

  function toBytes(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) { base64 += "="; }
    var raw = window.atob(base64);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i += 1) { bytes[i] = raw.charCodeAt(i); }
    return bytes.buffer;
  }

  function toText(buffer) {
    var bytes = new Uint8Array(buffer);
    var raw = "";
    for (var i = 0; i < bytes.length; i += 1) { raw += String.fromCharCode(bytes[i]); }
    return window.btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function withIds(list) {
    return (list || []).map(function (item) {
      return { type: item.type, id: toBytes(item.id), transports: item.transports };
    });
  }

  function creationOptions(options) {
    options.challenge = toBytes(options.challenge);
    options.user.id = toBytes(options.user.id);
    options.excludeCredentials = withIds(options.excludeCredentials);
    return options;
  }

  function requestOptions(options) {
    options.challenge = toBytes(options.challenge);
    options.allowCredentials = withIds(options.allowCredentials);
    return options;
  }

  function credentialJSON(credential) {
    var answer = credential.response;
    var response = { clientDataJSON: toText(answer.clientDataJSON) };
    if (answer.attestationObject) {
      response.attestationObject = toText(answer.attestationObject);
      if (answer.getTransports) { response.transports = answer.getTransports(); }
    } else {
      response.authenticatorData = toText(answer.authenticatorData);
      response.signature = toText(answer.signature);
      if (answer.userHandle) { response.userHandle = toText(answer.userHandle); }
    }
    return {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      response: response,
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {}
    };
  }

  // --- Talking to the server: JSON both ways, the form's CSRF token in a header. ---

  function send(url, token, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": token },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (response.status === 429) {
          throw new Error("Too many tries for now. Wait a few minutes and try again.");
        }
        if (!response.ok) {
          throw new Error(data.error || "That didn't work (the page may have expired). Reload it and try again.");
        }
        return data;
      });
    });
  }

  function explain(error) {
    if (error && error.name === "NotAllowedError") {
      return "No passkey was used: the request was cancelled or timed out. Try again when you're ready.";
    }
    if (error && error.name === "InvalidStateError") {
      return "This device already holds a passkey for your account.";
    }
    if (error && error.name === "SecurityError") {
      return "This address can't use passkeys. Open the site at its usual address.";
    }
    return (error && error.message) || "Something went wrong. Try again.";
  }

  function fieldsOf(form) {
    var fields = {};
    var username = form.elements.namedItem("username");
    var name = form.querySelector("[data-passkey-name]");
    var remember = form.elements.namedItem("remember");
    if (username && username.value) { fields.username = username.value; }
    if (name) { fields.name = name.value; }
    if (remember) { fields.remember = remember.checked; }
    return fields;
  }

  function start(button) {
    var form = button.form;
    var area = button.closest("[data-passkey-area]");
    var status = area.querySelector("[data-passkey-status]");
    var tokenField = form.querySelector("input[name$='csrf_token']");
    var token = tokenField ? tokenField.value : "";
    var kind = button.dataset.passkey;
    var fields = fieldsOf(form);
    button.disabled = true;
    status.className = "passkey-status";
    status.textContent = "Waiting for your passkey…";
    send(button.dataset.options, token, fields).then(function (options) {
      if (kind === "signin") {
        return navigator.credentials.get({ publicKey: requestOptions(options) });
      }
      return navigator.credentials.create({ publicKey: creationOptions(options) });
    }).then(function (credential) {
      fields.credential = credentialJSON(credential);
      return send(button.dataset.verify, token, fields);
    }).then(function (data) {
      status.textContent = "Done. One moment…";
      window.location.assign(data.redirect);
    }).catch(function (error) {
      status.className = "passkey-status error";
      status.textContent = explain(error);
      button.disabled = false;
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-passkey-area]"), function (area) {
    area.hidden = false;
  });
  Array.prototype.forEach.call(document.querySelectorAll("[data-passkey-missing]"), function (note) {
    note.hidden = true;
  });
  Array.prototype.forEach.call(document.querySelectorAll("button[data-passkey]"), function (button) {
    button.addEventListener("click", function () { start(button); });
  });
})();
