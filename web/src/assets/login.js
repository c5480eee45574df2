// login.js: the login page: trades a user name and password, or the API token, for clonelbd's HttpOnly session cookie.
'use strict';

document.getElementById('login-form').addEventListener('submit', async (ev) => {
	ev.preventDefault();
	const form = ev.target;
	const byUser = form.username.value !== '';
	const formErr = form.querySelector('[data-err=""]');
	for (const e of form.querySelectorAll('[data-err]'))
		e.textContent = '';
	for (const f of form.querySelectorAll('.field.invalid'))
		f.classList.remove('invalid');
	let res, body = null;
	try {
		res = await fetch('/api/login', {
			method: 'POST',
			headers: { 'Content-Type': 'application/json' },
			body: JSON.stringify(byUser
				? { username: form.username.value, password: form.password.value }
				: { token: form.token.value }),
			credentials: 'same-origin',
		});
		if (res.status !== 204)
			body = await res.json().catch(() => null);
	} catch (e) {
		formErr.textContent = `cannot reach clonelbd: ${e.message}`;
		return;
	}
	if (res.status === 204) {
		// Unauthorized visits of any page get this page at that page's URL:
		// reload it, now with the cookie; the login page's own URL goes home.
		// (location.replace() of a URL with a #fragment would not reload.)
		if (location.pathname === '/login.html')
			location.replace(`/${sessionStorage.getItem('clonelb_next') || ''}`);
		else
			location.reload();
		return;
	}
	const msg = (body && body.error) || `HTTP ${res.status}`;
	const field = ['token', 'username', 'password'].find((f) => msg.startsWith(`${f}:`));
	(field ? form.querySelector(`[data-err="${field}"]`) : formErr).textContent = msg;
	form[field || (byUser ? 'password' : 'token')].closest('.field').classList.add('invalid');
});
