/**
 * The Bundles and Channels page's script, inline and framework-free: the Cynet Activation
 * dialog (open, normalized URL preview, Connect, the plugin's errors in place).
 *
 * The page gives it, as JSON in #activation-data: the dev host route that signs and forwards
 * Connect to the plugin. The browser never sees the signing secret.
 */

/**
 * The URL preview follows the plugin's rule (src/activation/org-url.ts): the host is what comes
 * after an optional https:// and before the first / ? # or \; it must end in cynet.com with one
 * label (or label.api) before it; the result is https://<label>.api.cynet.com, lower case.
 * Only a preview: the plugin's answer to Connect is what counts.
 */
export const ACTIVATION_JS = String.raw`
(function () {
  var dataEl = document.getElementById("activation-data");
  var dialog = document.getElementById("activation-dialog");
  if (!dataEl || !dialog) return;
  var data = JSON.parse(dataEl.textContent || "{}");
  var form = dialog.querySelector("form");
  var formError = document.getElementById("activation-error");
  var submit = form.querySelector("button[type=submit]");
  var submitLabel = submit.textContent;
  var preview = document.getElementById("orgUrl-normalized");

  function normalizeOrgUrl(value) {
    var typed = String(value || "").trim();
    if (typed === "" || /[\s\u0000-\u001f\u007f]/.test(typed)) return null;
    var scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(typed);
    if (scheme && scheme[1].toLowerCase() !== "https") return null;
    var rest = scheme ? typed.slice(scheme[0].length) : typed.replace(/^\/\//, "");
    var authority = rest.split(/[\/?#\\]/, 1)[0] || "";
    if (authority === "" || /[@:]/.test(authority)) return null;
    var host = authority.toLowerCase().replace(/\.$/, "");
    if (!/^[a-z0-9.-]+$/.test(host)) return null;
    var labels = host.split(".");
    if (labels.some(function (l) { return !/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(l) || l.indexOf("xn--") === 0; })) return null;
    if (labels.length < 3 || labels[labels.length - 2] !== "cynet" || labels[labels.length - 1] !== "com") return null;
    var sub = labels.slice(0, -2);
    var label = sub.length === 2 && sub[1] === "api" ? sub[0] : sub.length === 1 ? sub[0] : null;
    if (!label || label === "api" || label === "www") return null;
    return "https://" + label + ".api.cynet.com";
  }

  function updatePreview() {
    if (!preview) return;
    var input = form.elements.namedItem("orgUrl");
    var url = normalizeOrgUrl(input ? input.value : "");
    preview.textContent = url || "(type your organization's cynet.com address)";
    preview.dataset.valid = url ? "true" : "false";
  }

  function fieldParts(name) {
    var input = form.elements.namedItem(name);
    var error = document.getElementById("f-" + name + "-error");
    return { input: input && input.tagName === "INPUT" ? input : null, error: error };
  }

  function clearErrors() {
    formError.hidden = true;
    formError.textContent = "";
    (data.fields || []).forEach(function (name) {
      var p = fieldParts(name);
      if (p.input) p.input.removeAttribute("aria-invalid");
      if (p.error) { p.error.hidden = true; p.error.textContent = ""; }
    });
  }

  function showError(body, status) {
    var message = body && typeof body.message === "string" ? body.message : "The plugin answered HTTP " + status + ".";
    var field = body && typeof body.field === "string" ? body.field.split(".")[0] : null;
    var p = field ? fieldParts(field) : null;
    if (p && p.input && p.error) {
      p.error.textContent = message;
      p.error.hidden = false;
      p.input.setAttribute("aria-invalid", "true");
      p.input.focus();
    } else {
      formError.textContent = message;
      formError.hidden = false;
      formError.focus();
    }
  }

  function open(opener) {
    clearErrors();
    var prefill = opener && opener.dataset.prefill ? JSON.parse(opener.dataset.prefill) : {};
    (data.fields || []).forEach(function (name) {
      var input = fieldParts(name).input;
      if (!input) return;
      input.value = input.type === "password" ? "" : (prefill[name] || "");
    });
    updatePreview();
    dialog.showModal();
    var first = form.querySelector("input");
    if (first) first.focus();
  }

  document.querySelectorAll("[data-open-activation]").forEach(function (button) {
    button.addEventListener("click", function () { open(button); });
  });
  dialog.querySelectorAll("[data-close]").forEach(function (button) {
    button.addEventListener("click", function () { dialog.close(); });
  });
  form.addEventListener("input", function (e) {
    if (e.target && e.target.name === "orgUrl") updatePreview();
    if (e.target && e.target.getAttribute("aria-invalid") === "true") {
      var p = fieldParts(e.target.name);
      e.target.removeAttribute("aria-invalid");
      if (p.error) { p.error.hidden = true; p.error.textContent = ""; }
    }
  });

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    clearErrors();
    var body = {};
    (data.fields || []).forEach(function (name) {
      var input = fieldParts(name).input;
      if (input) body[name] = input.value;
    });
    submit.disabled = true;
    submit.textContent = data.busyLabel || "Connecting…";
    form.setAttribute("aria-busy", "true");
    fetch(data.endpoint, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })
      .then(function (response) {
        return response.text().then(function (text) {
          var json = null;
          try { json = text ? JSON.parse(text) : null; } catch (err) { json = null; }
          return { ok: response.ok, status: response.status, json: json };
        });
      })
      .then(function (answer) {
        if (answer.ok) {
          dialog.close();
          var status = answer.json && answer.json.status === "active" ? "Active" : String(answer.json && answer.json.status);
          location.assign(data.returnTo + "?tone=ok&notice=" + encodeURIComponent(data.channelName + " is connected. Status: " + status + "."));
          return;
        }
        showError(answer.json, answer.status);
      })
      .catch(function (err) {
        showError({ message: "The dev host could not be reached: " + err.message }, 0);
      })
      .finally(function () {
        submit.disabled = false;
        submit.textContent = submitLabel;
        form.removeAttribute("aria-busy");
      });
  });
})();
`;
