/* siteverify-emulator widget script: a stand-in for the hCaptcha, reCAPTCHA, Turnstile,
 * Procaptcha, ByeBot, Friendly Captcha, reCAPTCHA Enterprise and ALTCHA widget scripts, for demos and browser tests. It renders the
 * containers the real scripts render, fills the same hidden form fields and mints its tokens
 * from the emulator that served it. Nothing here is secure, and nothing needs to be: the
 * emulator mints a token for anyone who asks. ALTCHA is the exception: its challenges come from
 * the page's own server, which verifies the solution itself, so they are really solved here.
 * Plain ES2017, no dependencies, no build step. */
(() => {
  'use strict';

  // document.currentScript is set only while this file first runs, so the emulator's address
  // is read now. The fallbacks keep the script alive under loaders that run it some other way.
  const me = document.currentScript ||
    document.querySelector('script[src*="widget.js"], script[src*="enterprise.js"]');
  const src = new URL(me && me.src ? me.src : 'http://127.0.0.1:8787/widget.js', location.href);
  const ENTERPRISE = /(^|\/)enterprise\.js$/.test(src.pathname);

  // Container class and response field of each provider, as the real scripts define them, and
  // what of the page's settings the provider's answer reports (reCAPTCHA: v3 only, see mint).
  const PROVIDERS = [
    { name: 'hcaptcha', selector: '.h-captcha', field: 'h-captcha-response', global: 'hcaptcha' },
    // Served as `enterprise.js` (Google's reCAPTCHA Enterprise script is
    // https://www.google.com/recaptcha/enterprise.js), the same containers and globals mint
    // reCAPTCHA Enterprise tokens, scored whether checkbox or not, and `grecaptcha.enterprise`
    // is the API.
    {
      name: ENTERPRISE ? 'recaptcha-enterprise' : 'recaptcha', recaptcha: true,
      selector: '.g-recaptcha', field: 'g-recaptcha-response', global: 'grecaptcha',
    },
    {
      name: 'turnstile', selector: '.cf-turnstile', field: 'cf-turnstile-response', global: 'turnstile',
      reportsAction: true, reportsCdata: true,
    },
    { name: 'procaptcha', selector: '.procaptcha', field: 'procaptcha-response' },
    // ByeBot documents no container class; this one is the emulator's own choice.
    { name: 'byebot', selector: '.byebot-captcha', field: 'byebot-token' },
    { name: 'friendlycaptcha', selector: '.frc-captcha', field: 'frc-captcha-response' },
  ];

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
    if (w.p.recaptcha) {
      return w.bound || ENTERPRISE ? { action: w.opts.action, score: v3Score() } : {};
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
        if (p.recaptcha && typeof id === 'string' && !find(p, id)) {
          return mint(p.name, id, { action: opts && opts.action, score: v3Score() });
        }
        const w = find(p, id);
        if (!w) return Promise.reject(new Error('siteverify-emulator: no widget ' + id));
        return solve(w, true);
      },
    };
  }

  // ---- ALTCHA ------------------------------------------------------------------------------
  // A self-hosted proof of work: the page's server issues a signed challenge at `challengeurl`
  // and verifies the solution itself, so nothing can be minted and the work is really done,
  // with the browser's own crypto.subtle, in both of ALTCHA's protocols: the classic one
  // (find `number` with SHA(salt + number) = challenge) and v2 (derive keys from
  // nonce ‖ counter until one starts with keyPrefix; SHA-* and PBKDF2/SHA-*).
  const ALTCHA_SELECTOR = 'altcha-widget, [data-altcha]';
  const altchaWidgets = [];

  function toHex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  function fromHex(text) {
    if (typeof text !== 'string' || text.length % 2 || /[^0-9a-f]/i.test(text)) {
      throw new Error('not hex: ' + text);
    }
    const out = new Uint8Array(text.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(i * 2, 2), 16);
    return out;
  }

  async function digest(hash, bytes) {
    return new Uint8Array(await crypto.subtle.digest(hash, bytes));
  }

  // The challenge, from `challengeurl` (altcha 2.x's attribute) or `challenge` (3.x's: a URL
  // or the JSON itself). Only the page's own origin is asked: the challenge route is the
  // page's server, and a cross-origin one would be a misconfigured demo, not something to
  // paper over with CORS.
  async function altchaChallenge(w) {
    const el = w.el;
    const source = el.getAttribute('challengeurl') || el.getAttribute('challenge') ||
      el.getAttribute('data-challengeurl');
    if (!source) throw new Error('no challengeurl');
    if (source.trim().charAt(0) === '{') return JSON.parse(source);
    const url = new URL(source, location.href);
    if (url.origin !== location.origin) throw new Error('challengeurl is not same-origin');
    let response;
    try {
      response = await fetch(url.href, { credentials: 'same-origin', cache: 'no-store' });
    } catch (e) {
      throw new Error('challenge route unreachable');
    }
    if (!response.ok) throw new Error('challenge route answered HTTP ' + response.status);
    return response.json();
  }

  async function solveClassic(c, bot) {
    const max = typeof c.maxnumber === 'number' ? c.maxnumber : 1e6;
    const encoder = new TextEncoder();
    const start = performance.now();
    let number = bot ? max + 1 : -1; // a bot claims a number it never checked
    for (let n = 0; !bot && n <= max; n++) {
      if (toHex(await digest(c.algorithm, encoder.encode(c.salt + n))) === c.challenge) {
        number = n;
        break;
      }
    }
    if (number < 0) throw new Error('no solution up to maxnumber');
    return {
      algorithm: c.algorithm, challenge: c.challenge, number, salt: c.salt,
      signature: c.signature, took: Math.round(performance.now() - start),
    };
  }

  async function deriveKey(p, salt, password) {
    const algorithm = String(p.algorithm);
    const length = p.keyLength || 32;
    if (algorithm.indexOf('PBKDF2/') === 0) {
      const key = await crypto.subtle.importKey('raw', password, 'PBKDF2', false, ['deriveBits']);
      const bits = await crypto.subtle.deriveBits(
        { name: 'PBKDF2', hash: algorithm.slice(7), salt, iterations: Math.max(1, p.cost) },
        key, length * 8);
      return new Uint8Array(bits);
    }
    if (/^SHA-(256|384|512)$/.test(algorithm)) {
      const first = new Uint8Array(salt.length + password.length);
      first.set(salt);
      first.set(password, salt.length);
      let key = await digest(algorithm, first);
      for (let i = 1; i < Math.max(1, p.cost); i++) key = await digest(algorithm, key);
      return key.slice(0, length);
    }
    throw new Error('unsupported algorithm ' + algorithm);
  }

  async function solveV2(c, bot) {
    const p = c.parameters;
    const nonce = fromHex(p.nonce);
    const salt = fromHex(p.salt);
    // The counter follows the nonce as a big-endian 32-bit integer.
    const password = new Uint8Array(nonce.length + 4);
    password.set(nonce);
    const view = new DataView(password.buffer);
    const start = performance.now();
    for (let counter = 0; counter <= 0xffffffff; counter++) {
      view.setUint32(nonce.length, counter, false);
      const key = toHex(await deriveKey(p, salt, password));
      // A bot skips the work: it sends the first key that misses the prefix, genuine for its
      // counter, so only a server that checks the prefix refuses it (altcha-lib 2.3.1 does not).
      if (bot !== (key.indexOf(String(p.keyPrefix).toLowerCase()) === 0)) {
        return {
          challenge: { parameters: p, signature: c.signature },
          solution: { counter, derivedKey: key, time: Math.round(performance.now() - start) },
        };
      }
    }
    throw new Error('no solution');
  }

  async function solveAltcha(w, human) {
    const seq = ++w.seq;
    show(w, '', 'pending', human ? 'Verifying…' : 'Simulating a bot…');
    try {
      const c = await altchaChallenge(w);
      const payload = c && typeof c.parameters === 'object' ? await solveV2(c, !human)
        : await solveClassic(c, !human);
      // The widget's value: base64 of the payload's JSON (all ASCII, so btoa is enough).
      const token = btoa(JSON.stringify(payload));
      if (seq === w.seq) {
        show(w, token, human ? 'solved' : 'bot', human ? 'Verified' : 'Bot token set');
        // The real widget's event, so page code written for it runs here too.
        w.el.dispatchEvent(new CustomEvent('verified', { detail: { payload: token } }));
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

  function renderAltcha(el) {
    if (altchaWidgets.some((w) => w.el === el)) return;
    const d = el.dataset || {};
    const w = {
      p: { name: 'altcha' }, el, seq: 0,
      opts: { callback: d.callback, errorCallback: d.errorCallback },
    };
    w.input = document.createElement('input');
    w.input.type = 'hidden';
    w.input.name = el.getAttribute('name') || d.name || 'altcha';
    altchaWidgets.push(w);
    addStyle();
    const box = document.createElement('div');
    box.className = 'emulator-widget';
    box.title = 'siteverify-emulator: altcha';
    w.human = button('I am human', 'human');
    w.human.setAttribute('role', 'checkbox');
    const bot = button('Simulate a bot', 'bot');
    w.status = document.createElement('span');
    w.status.className = 'emulator-status';
    w.status.setAttribute('data-emulator', 'status');
    w.status.setAttribute('role', 'status');
    box.append(w.human, bot, w.status, w.input);
    el.appendChild(box);
    w.human.addEventListener('click', () => { solveAltcha(w, true).catch(() => {}); });
    bot.addEventListener('click', () => { solveAltcha(w, false).catch(() => {}); });
    show(w, '', 'idle', '');
    // altcha's `auto="onload"`: solve at once, no click.
    if (el.getAttribute('auto') === 'onload') solveAltcha(w, true).catch(() => {});
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
    if (p.recaptcha && ENTERPRISE) window[p.global].enterprise = api(p);
    installed[p.name] = true;
  });

  function boot() {
    // `render=explicit` leaves the containers to the page's own render calls, as the real scripts do.
    // `render=<site key>` is reCAPTCHA v3, which has no checkbox to render.
    if (renderParam !== 'explicit') {
      PROVIDERS.filter((p) => !(recaptchaV3 && p.recaptcha)).forEach((p) => {
        document.querySelectorAll(p.selector).forEach((el) => {
          try { render(p, el, fromData(p, el)); } catch (e) { console.error(e); }
        });
      });
      document.querySelectorAll(ALTCHA_SELECTOR).forEach((el) => {
        try { renderAltcha(el); } catch (e) { console.error(e); }
      });
    }
    // Callbacks queued before the script loaded: reCAPTCHA's `___grecaptcha_cfg.fns`.
    const cfg = window.___grecaptcha_cfg;
    const recaptchaInstalled = PROVIDERS.some((p) => p.recaptcha && installed[p.name]);
    if (recaptchaInstalled && cfg && Array.isArray(cfg.fns)) cfg.fns.forEach((fn) => callPage(fn));
    if (params.get('onload')) callPage(params.get('onload'));
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
  else boot();
})();
