// login.js: the login page: trades the token for clonelbd's HttpOnly session cookie.
'use strict';

document.getElementById('login-form').addEventListener('submit', async (ev) => {
	ev.preventDefault();
	const form = ev.target;
	const fieldErr = form.querySelector('[data-err="token"]');
	const formErr = form.querySelector('[data-err=""]');
	fieldErr.textContent = formErr.textContent = '';
	let res, body = null;
	try {
		res = await fetch('/api/login', {
			method: 'POST',
			headers: { 'Content-Type': 'application/json' },
			body: JSON.stringify({ token: form.token.value }),
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
	(msg.startsWith('token:') ? fieldErr : formErr).textContent = msg;
	form.token.closest('.field').classList.add('invalid');
});
