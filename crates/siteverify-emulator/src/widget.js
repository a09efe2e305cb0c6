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
  // in both of ALTCHA's protocols: the classic one (find `number` with SHA(salt + number) =
  // challenge; SHA-256 hashed here, other hashes by crypto.subtle) and v2 (derive keys from
  // nonce ‖ counter until one starts with keyPrefix; SHA-* and PBKDF2/SHA-*, crypto.subtle).
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

  // SHA-256 in plain JavaScript, for the classic protocol's search: crypto.subtle answers each
  // digest asynchronously, and at tens of thousands of tiny digests the round trips are most
  // of the time (~10 µs each, several times that on a phone). Checked against crypto.subtle
  // by the tests, and by the server, which verifies every solution.
  const SHA256_K = new Int32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
  ]);
  const SHA256_IV = new Int32Array([
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
  ]);
  const shaW = new Int32Array(64);
  let shaBuf = new Uint8Array(128);
  const shaOut = new Int32Array(8);

  // The digest of `msg` as eight big-endian words (signed, as JavaScript's bit operators give
  // them), in a buffer reused by the next call. No allocation per call: the search makes
  // tens of thousands.
  function sha256Words(msg) {
    const end = ((msg.length + 9 + 63) >>> 6) << 6;
    if (shaBuf.length < end) shaBuf = new Uint8Array(end);
    const buf = shaBuf;
    buf.fill(0, 0, end);
    buf.set(msg);
    buf[msg.length] = 0x80;
    const bits = msg.length * 8;
    buf[end - 5] = Math.floor(bits / 0x100000000) & 0xff;
    buf[end - 4] = (bits >>> 24) & 0xff;
    buf[end - 3] = (bits >>> 16) & 0xff;
    buf[end - 2] = (bits >>> 8) & 0xff;
    buf[end - 1] = bits & 0xff;
    const w = shaW, K = SHA256_K;
    let h0 = SHA256_IV[0], h1 = SHA256_IV[1], h2 = SHA256_IV[2], h3 = SHA256_IV[3];
    let h4 = SHA256_IV[4], h5 = SHA256_IV[5], h6 = SHA256_IV[6], h7 = SHA256_IV[7];
    for (let at = 0; at < end; at += 64) {
      for (let i = 0; i < 16; i++) {
        const j = at + i * 4;
        w[i] = (buf[j] << 24) | (buf[j + 1] << 16) | (buf[j + 2] << 8) | buf[j + 3];
      }
      for (let i = 16; i < 64; i++) {
        const x = w[i - 15], y = w[i - 2];
        const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
        const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
        w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
      }
      let a = h0, b = h1, c = h2, d = h3, e = h4, f = h5, g = h6, k = h7;
      for (let i = 0; i < 64; i++) {
        const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
        const t1 = (k + s1 + ((e & f) ^ (~e & g)) + K[i] + w[i]) | 0;
        const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
        const t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
        k = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
      }
      h0 = (h0 + a) | 0; h1 = (h1 + b) | 0; h2 = (h2 + c) | 0; h3 = (h3 + d) | 0;
      h4 = (h4 + e) | 0; h5 = (h5 + f) | 0; h6 = (h6 + g) | 0; h7 = (h7 + k) | 0;
    }
    const out = shaOut;
    out[0] = h0; out[1] = h1; out[2] = h2; out[3] = h3;
    out[4] = h4; out[5] = h5; out[6] = h6; out[7] = h7;
    return out;
  }

  function wordsOf(bytes) {
    const words = [];
    for (let i = 0; i + 3 < bytes.length; i += 4) {
      words.push((bytes[i] << 24) | (bytes[i + 1] << 16) | (bytes[i + 2] << 8) | bytes[i + 3]);
    }
    return words;
  }

  // Lets the page paint and take input between stretches of hashing (a macrotask, without
  // setTimeout's 4 ms clamp).
  function breathe() {
    return new Promise((resolve) => {
      const channel = new MessageChannel();
      channel.port1.onmessage = () => {
        channel.port1.close();
        resolve();
      };
      channel.port2.postMessage(null);
    });
  }

  // Does `hash(salt + n)` give `target` for some n in from..=to? Gives n, or -1.
  async function searchClassic(algorithm, salt, target, from, to) {
    const encoder = new TextEncoder();
    if (algorithm.toUpperCase() === 'SHA-256') {
      const saltBytes = encoder.encode(salt);
      const msg = new Uint8Array(saltBytes.length + 20);
      msg.set(saltBytes);
      if (target.length !== 32) return -1;
      const want = wordsOf(target);
      for (let n = from; n <= to; n++) {
        const digits = String(n);
        for (let i = 0; i < digits.length; i++) msg[saltBytes.length + i] = digits.charCodeAt(i);
        const h = sha256Words(msg.subarray(0, saltBytes.length + digits.length));
        if (h[0] === want[0] && h[1] === want[1] && h[2] === want[2] && h[3] === want[3] &&
          h[4] === want[4] && h[5] === want[5] && h[6] === want[6] && h[7] === want[7]) {
          return n;
        }
        if ((n & 8191) === 8191) await breathe();
      }
      return -1;
    }
    // Other hashes through crypto.subtle, a batch in flight at once to overlap the round trips.
    const BATCH = 64;
    for (let n = from; n <= to; n += BATCH) {
      const batch = [];
      for (let m = n; m <= Math.min(to, n + BATCH - 1); m++) {
        batch.push(digest(algorithm, encoder.encode(salt + m)));
      }
      const found = (await Promise.all(batch)).findIndex((hash) =>
        hash.length === target.length && hash.every((byte, i) => byte === target[i]));
      if (found >= 0) return n + found;
    }
    return -1;
  }

  async function solveClassic(c, bot) {
    const max = typeof c.maxnumber === 'number' ? c.maxnumber : 1e6;
    const start = performance.now();
    // A bot claims a number it never checked.
    const number = bot ? max + 1 : await searchClassic(c.algorithm, c.salt, fromHex(c.challenge), 0, max);
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
