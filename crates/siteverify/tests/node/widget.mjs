// Runs the emulator's widget script (siteverify-emulator/src/widget.js) in Node, on a minimal
// stand-in for the DOM, so that its ALTCHA solver (crypto.subtle, as in a browser) can be
// checked against our verifier in `cargo test`, without a browser. The browser test drives
// the same script in Chromium end to end.
//
// stdin: {script: <path>, challenges: [<challenge JSON>...]}. For each challenge one
// <altcha-widget challenge='...'> is rendered, then "I am human" is clicked on a first copy
// and "Simulate a bot" on a second. stdout: [{human: {state, status, name, token},
// bot: {...}}...].

import { readFileSync } from 'node:fs';
import vm from 'node:vm';

class Element {
	constructor(tag, attributes = {}) {
		this.tagName = tag.toUpperCase();
		this.attributes = { ...attributes };
		this.children = [];
		this.listeners = {};
		this.dataset = {};
		this.textContent = '';
	}
	getAttribute(name) {
		return name in this.attributes ? this.attributes[name] : null;
	}
	setAttribute(name, value) {
		this.attributes[name] = String(value);
	}
	append(...children) {
		this.children.push(...children);
	}
	appendChild(child) {
		this.children.push(child);
		return child;
	}
	addEventListener(type, listener) {
		(this.listeners[type] ||= []).push(listener);
	}
	dispatchEvent(event) {
		for (const listener of this.listeners[event.type] || []) listener(event);
		return true;
	}
	click() {
		this.dispatchEvent({ type: 'click', preventDefault() {} });
	}
	find(predicate) {
		for (const child of this.children) {
			if (predicate(child)) return child;
			const deeper = child.find && child.find(predicate);
			if (deeper) return deeper;
		}
		return null;
	}
}

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const input = JSON.parse(Buffer.concat(chunks).toString());

const widgets = input.challenges.flatMap((challenge) => [
	new Element('altcha-widget', { challenge: JSON.stringify(challenge) }),
	new Element('altcha-widget', { challenge: JSON.stringify(challenge), name: 'pow' }),
]);
const head = new Element('head');
globalThis.window = globalThis;
globalThis.location = new URL('http://127.0.0.1:9/signup');
globalThis.document = {
	readyState: 'complete',
	currentScript: null,
	head,
	documentElement: head,
	createElement: (tag) => new Element(tag),
	getElementById: () => null,
	querySelector: () => null,
	// Only the ALTCHA containers exist on this page.
	querySelectorAll: (selector) => (selector.includes('altcha-widget') ? widgets : []),
};

vm.runInThisContext(readFileSync(input.script, 'utf8'), { filename: 'widget.js' });

const button = (el, role) => el.find((c) => c.getAttribute && c.getAttribute('data-emulator') === role);
const settled = async (el) => {
	// A guard against a hang, not a timing assertion: a solve that never ends fails here.
	const deadline = Date.now() + 120_000;
	while (['idle', 'pending'].includes(el.getAttribute('data-emulator-state'))) {
		if (Date.now() > deadline) throw new Error('the widget never settled');
		await new Promise((resolve) => setTimeout(resolve, 5));
	}
	const field = el.find((c) => c.tagName === 'INPUT');
	return {
		state: el.getAttribute('data-emulator-state'),
		status: button(el, 'status').textContent,
		name: field.name,
		token: field.value,
	};
};

const results = [];
for (let i = 0; i < widgets.length; i += 2) {
	button(widgets[i], 'human').click();
	button(widgets[i + 1], 'bot').click();
	results.push({ human: await settled(widgets[i]), bot: await settled(widgets[i + 1]) });
}
process.stdout.write(JSON.stringify(results));
