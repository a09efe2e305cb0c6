/* siteverify-emulator widget script: a stand-in for the hCaptcha, reCAPTCHA, Turnstile,
 * Procaptcha and ByeBot widget scripts, for demos and browser tests. It renders the containers
 * the real scripts render, fills the same hidden form fields and mints its tokens from the
 * emulator that served it. Nothing here is secure, and nothing needs to be: the emulator mints
 * a token for anyone who asks. Plain ES2017, no dependencies, no build step. */
(() => {
  'use strict';

  // Container class and response field of each provider, as the real scripts define them, and
  // what of the page's settings the provider's answer reports (reCAPTCHA: v3 only, see mint).
  const PROVIDERS = [
    { name: 'hcaptcha', selector: '.h-captcha', field: 'h-captcha-response', global: 'hcaptcha' },
    { name: 'recaptcha', selector: '.g-recaptcha', field: 'g-recaptcha-response', global: 'grecaptcha' },
    {
      name: 'turnstile', selector: '.cf-turnstile', field: 'cf-turnstile-response', global: 'turnstile',
      reportsAction: true, reportsCdata: true,
    },
    { name: 'procaptcha', selector: '.procaptcha', field: 'procaptcha-response' },
    // ByeBot documents no container class; this one is the emulator's own choice.
    { name: 'byebot', selector: '.byebot-captcha', field: 'byebot-token' },
  ];

  // document.currentScript is set only while this file first runs, so the emulator's address
  // is read now. The fallbacks keep the script alive under loaders that run it some other way.
  const me = document.currentScript || document.querySelector('script[src*="widget.js"]');
  const src = new URL(me && me.src ? me.src : 'http://127.0.0.1:8787/widget.js', location.href);
  // Everything up to the last `/`, so an emulator behind a path prefix still works.
  const base = src.origin + src.pathname.replace(/\/[^/]*$/, '');
  const params = src.searchParams;
  // reCAPTCHA's `render` is `explicit`, `onload` (the v2 default) or, for v3, the site key.
  const renderParam = params.get('render');
  const recaptchaV3 = Boolean(renderParam) && renderParam !== 'explicit' && renderParam !== 'onload';
  const widgets = {};
  PROVIDERS.forEach((p) => { widgets[p.name] = []; });

  // Calls a page callback given as a function or as the name of a global function. A throwing
  // callback is the page's bug; it is logged, not allowed to break the widget.
  function callPage(callback, arg) {
    const fn = typeof callback === 'function' ? callback : callback && window[callback];
    if (typeof fn !== 'function') return;
    try { fn(arg); } catch (e) { console.error(e); }
  }

  // The score of a v3 token: a person's 0.9, unless the page (or a browser test acting as a
  // bot) set `window.siteverifyEmulator.v3Score` to a number from 0 to 1.
  function v3Score() {
    const hook = window.siteverifyEmulator && window.siteverifyEmulator.v3Score;
    return typeof hook === 'number' && hook >= 0 && hook <= 1 ? hook : 0.9;
  }

  // `extra` holds what the provider's answer reports: an action, cdata, a v3 score.
  async function mint(provider, siteKey, extra) {
    // Exactly the members TokenSpec accepts; undefined ones vanish in JSON.stringify.
    const spec = Object.assign({
      provider, site_key: siteKey || undefined, hostname: location.hostname || undefined,
    }, extra);
    let response;
    try {
      response = await fetch(base + '/tokens', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(spec),
      });
    } catch (e) {
      throw new Error('emulator unreachable at ' + base);
    }
    const body = await response.json().catch(() => ({}));
    if (!response.ok || typeof body.token !== 'string') {
      throw new Error(body.error || 'emulator answered HTTP ' + response.status);
    }
    return body.token;
  }

  // A token the emulator never minted, so the server's verification fails as invalid. Procaptcha
  // gets `0x` + hex: anything else would already be refused as malformed before verification.
  function botToken(provider) {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
    return (provider === 'procaptcha' ? '0x' : 'bot-') + hex;
  }

  function show(w, token, state, text) {
    w.input.value = token;
    w.el.setAttribute('data-emulator-state', state);
    if (w.status) w.status.textContent = text;
    if (w.human) w.human.setAttribute('aria-checked', String(state === 'solved'));
  }

  async function solve(w, human) {
    // Only the latest click counts: an earlier, slower mint must not overwrite a newer token.
    const seq = ++w.seq;
    if (!human) {
      const token = botToken(w.p.name);
      show(w, token, 'bot', 'Bot token set');
      // The page cannot tell a bot from a human; only the server's verification can.
      callPage(w.opts.callback, token);
      return token;
    }
    show(w, '', 'pending', 'Verifying…');
    try {
      const token = await mint(w.p.name, w.opts.sitekey, reported(w));
      if (seq === w.seq) {
        show(w, token, 'solved', 'Verified');
        callPage(w.opts.callback, token);
      }
      return token;
    } catch (e) {
      if (seq === w.seq) {
        show(w, '', 'error', 'Error: ' + e.message);
        callPage(w.opts.errorCallback, e.message);
      }
      throw e;
    }
  }

  // What the real provider's answer would report for this widget. A reCAPTCHA container is
  // the v2 checkbox (no score, no action) unless it is a bound button, v3's pattern.
  function reported(w) {
    if (w.p.name === 'recaptcha') {
      return w.bound ? { action: w.opts.action, score: v3Score() } : {};
    }
    return {
      action: w.p.reportsAction ? w.opts.action : undefined,
      cdata: w.p.reportsCdata ? w.opts.cdata : undefined,
    };
  }

  function button(text, role) {
    const b = document.createElement('button');
    b.type = 'button'; // inside a form, a default button would submit it
    b.className = 'emulator-' + role;
    b.setAttribute('data-emulator', role);
    b.textContent = text;
    return b;
  }

  function addStyle() {
    if (document.getElementById('siteverify-emulator-style')) return;
    const style = document.createElement('style');
    style.id = 'siteverify-emulator-style';
    style.textContent = '.emulator-widget{display:inline-flex;gap:.7em;align-items:center;padding:.6em .9em;' +
      'border:1px solid #bbb;border-radius:4px;background:#f9f9f9;font:14px sans-serif}' +
      '.emulator-human::before{content:"\\2610";margin-right:.4em}' +
      '.emulator-human[aria-checked=true]::before{content:"\\2611";color:#080}' +
      '.emulator-bot{font-size:11px}.emulator-status{color:#555}';
    (document.head || document.documentElement).appendChild(style);
  }

  // Renders one widget; returns its id (its index among the provider's widgets, as reCAPTCHA's
  // ids are). Rendering the same element twice returns the first id.
  function render(p, el, opts) {
    const known = widgets[p.name].findIndex((w) => w.el === el);
    if (known >= 0) return known;
    const w = { p, el, opts, seq: 0 };
    w.input = document.createElement('input');
    w.input.type = 'hidden';
    w.input.name = opts.field || p.field;
    widgets[p.name].push(w);
    w.bound = el.tagName === 'BUTTON' || el.tagName === 'INPUT';
    if (w.bound) {
      // A submit button carrying the class (reCAPTCHA v3's and invisible widgets' pattern):
      // clicking it solves, and the page's callback submits the form.
      if (el.form) el.form.appendChild(w.input); else el.insertAdjacentElement('afterend', w.input);
      el.addEventListener('click', (ev) => { ev.preventDefault(); solve(w, true).catch(() => {}); });
    } else {
      addStyle();
      const box = document.createElement('div');
      box.className = 'emulator-widget';
      box.title = 'siteverify-emulator: ' + p.name;
      w.human = button('I am human', 'human');
      w.human.setAttribute('role', 'checkbox');
      const bot = button('Simulate a bot', 'bot');
      w.status = document.createElement('span');
      w.status.className = 'emulator-status';
      w.status.setAttribute('data-emulator', 'status');
      w.status.setAttribute('role', 'status');
      box.append(w.human, bot, w.status, w.input);
      el.appendChild(box);
      // Failures show in the status text; nothing is left to escape as an unhandled rejection.
      w.human.addEventListener('click', () => { solve(w, true).catch(() => {}); });
      bot.addEventListener('click', () => { solve(w, false); });
    }
    show(w, '', 'idle', '');
    return widgets[p.name].length - 1;
  }

  function fromData(p, el) {
    const d = el.dataset;
    return {
      sitekey: d.sitekey, action: d.action, cdata: d.cdata,
      callback: d.callback, errorCallback: d.errorCallback,
      field: p.name === 'turnstile' ? d.responseFieldName : undefined,
    };
  }

  function lookup(selector) {
    try {
      return document.getElementById(selector) || document.querySelector(selector);
    } catch (e) {
      return null; // not a valid selector: no such widget
    }
  }

  // A widget by id (index), container element, element id or CSS selector; the first by default.
  function find(p, id) {
    const list = widgets[p.name];
    if (id === undefined || id === null) return list[0];
    if (typeof id === 'number') return list[id];
    const el = typeof id === 'string' ? lookup(id) : id;
    return list.find((w) => w.el === el);
  }

  function api(p) {
    return {
      render(container, opts) {
        const el = typeof container === 'string' ? lookup(container) : container;
        if (!el || !el.tagName) { console.error('siteverify-emulator: no container', container); return undefined; }
        const o = opts || {};
        return render(p, el, {
          sitekey: o.sitekey, action: o.action, cdata: o.cdata, callback: o.callback,
          errorCallback: o['error-callback'], field: o['response-field-name'],
        });
      },
      getResponse(id) { const w = find(p, id); return w ? w.input.value : ''; },
      reset(id) { const w = find(p, id); if (w) { w.seq++; show(w, '', 'idle', ''); } },
      ready(callback) { Promise.resolve().then(() => callPage(callback)); },
      // reCAPTCHA v3: execute(siteKey, {action}) mints a fresh scored token with that action
      // and fills no field. Otherwise (v2 invisible, hCaptcha, Turnstile) it solves a rendered
      // widget.
      execute(id, opts) {
        if (p.name === 'recaptcha' && typeof id === 'string' && !find(p, id)) {
          return mint(p.name, id, { action: opts && opts.action, score: v3Score() });
        }
        const w = find(p, id);
        if (!w) return Promise.reject(new Error('siteverify-emulator: no widget ' + id));
        return solve(w, true);
      },
    };
  }

  // Installs the emulated globals. A real provider object (it has `render`) is left alone; a
  // page's own stub, such as Google's documented `grecaptcha.ready` shim, is completed.
  const installed = {};
  PROVIDERS.forEach((p) => {
    if (!p.global) return;
    const existing = window[p.global];
    if (existing && typeof existing.render === 'function') return;
    // A stub's own members are placeholders (Google's `ready` only queues), so ours replace them.
    window[p.global] = Object.assign(existing || {}, api(p));
    installed[p.name] = true;
  });

  function boot() {
    // `render=explicit` leaves the containers to the page's own render calls, as the real scripts do.
    // `render=<site key>` is reCAPTCHA v3, which has no checkbox to render.
    if (renderParam !== 'explicit') {
      PROVIDERS.filter((p) => !(recaptchaV3 && p.name === 'recaptcha')).forEach((p) => {
        document.querySelectorAll(p.selector).forEach((el) => {
          try { render(p, el, fromData(p, el)); } catch (e) { console.error(e); }
        });
      });
    }
    // Callbacks queued before the script loaded: reCAPTCHA's `___grecaptcha_cfg.fns`.
    const cfg = window.___grecaptcha_cfg;
    if (installed.recaptcha && cfg && Array.isArray(cfg.fns)) cfg.fns.forEach((fn) => callPage(fn));
    if (params.get('onload')) callPage(params.get('onload'));
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
  else boot();
})();
