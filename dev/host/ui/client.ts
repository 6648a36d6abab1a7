/**
 * The Bundles and Channels page's scripts, inline and framework-free: the Cynet Activation
 * dialog (open, normalized URL preview, Connect, the plugin's errors in place), and the channel
 * row that redraws itself while a sync runs.
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
    var message = body && typeof body.message === "string" ? body.message : status === 0 ? "The dev host could not be reached." : "Something went wrong on the way to " + (data.channelName || "the plugin") + "; try again.";
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

  // Delegated: the channel row is redrawn while a sync runs, and its buttons with it.
  document.addEventListener("click", function (e) {
    var opener = e.target && e.target.closest ? e.target.closest("[data-open-activation]") : null;
    if (opener) open(opener);
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
          // The dev host set the notice ("Connected to Cynet") in a cookie with its answer.
          dialog.close();
          location.assign(data.returnTo);
          return;
        }
        showError(answer.json, answer.status);
      })
      .catch(function (err) {
        showError(null, 0);
      })
      .finally(function () {
        submit.disabled = false;
        submit.textContent = submitLabel;
        form.removeAttribute("aria-busy");
      });
  });
})();
`;

/** How often the channel row asks for the plugin's status while a sync runs: live enough to watch, light on the plugin. */
export const STATUS_POLL_INTERVAL_MS = 3_000;
/** Most refreshes one page load makes (5 minutes at 3 s): a sync that takes longer is seen on reload, and a forgotten tab stops asking. */
export const MAX_STATUS_POLLS = 100;

/**
 * While the row says data-live="true", asks the dev host (#channel-live's endpoint, which signs
 * and forwards GET /status, /sync/runs and /deliveries) for the row and the activity section
 * again, every intervalMs, at most maxPolls times; it stops as soon as the answer says settled.
 * Focus inside the row survives the redraw; the new "Last sync" is announced politely.
 */
export const CHANNEL_LIVE_JS = String.raw`
(function () {
  var dataEl = document.getElementById("channel-live");
  if (!dataEl) return;
  var data = JSON.parse(dataEl.textContent || "{}");
  var announcer = document.getElementById("channel-live-announcer");
  var polls = 0;

  function row() { return document.querySelector("tr[data-channel]"); }

  function focusedIndex(el) {
    var active = document.activeElement;
    if (!el || !active || !el.contains(active)) return -1;
    return Array.prototype.indexOf.call(el.querySelectorAll("button, a, input"), active);
  }

  function swap(answer) {
    var old = row();
    if (!old) return;
    var index = focusedIndex(old);
    var before = old.querySelector("[data-last-sync]");
    var beforeText = before ? before.textContent : "";
    old.outerHTML = answer.row;
    var fresh = row();
    var activity = document.getElementById("channel-activity");
    if (activity && typeof answer.activity === "string") activity.innerHTML = answer.activity;
    if (window.devHostLocalTimes) { window.devHostLocalTimes(fresh); if (activity) window.devHostLocalTimes(activity); }
    if (index >= 0 && fresh) {
      var target = fresh.querySelectorAll("button, a, input")[index];
      if (target) target.focus();
    }
    var after = fresh ? fresh.querySelector("[data-last-sync]") : null;
    if (announcer && after && after.textContent !== beforeText) announcer.textContent = "Last sync: " + after.textContent;
  }

  function stopped() {
    var current = row();
    var note = current ? current.querySelector("[data-live-note]") : null;
    if (note) note.textContent = "Stopped refreshing; reload the page to see how the sync goes on.";
  }

  function poll() {
    if (polls >= data.maxPolls) return stopped();
    polls += 1;
    fetch(data.endpoint, { headers: { accept: "application/json" }, cache: "no-store" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (answer) {
        if (answer && typeof answer.row === "string") swap(answer);
        if (answer && answer.live === false) return;
        setTimeout(poll, data.intervalMs);
      })
      .catch(function () { setTimeout(poll, data.intervalMs); });
  }

  if (data.live) setTimeout(poll, data.intervalMs);
})();
`;
