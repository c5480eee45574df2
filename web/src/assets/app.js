// app.js: clonelb's web UI: traffic clone profiles, virtual services and live clone stats, on the REST API.
'use strict';

// The only cloud of a Linux server SE (schema.c: cloud_ref). With one cloud
// the form chooses it and shows no Set Cloud selector, as the reference UI does.
const CLOUDS = ['Default-Cloud'];
const POLL_MS = 1000;
const CHART_POINTS = 60;

/* ---------- DOM and API helpers ---------- */

// h('div', {class: 'x', onclick: f}, 'text', child): builds an element.
// Text always goes in as text nodes, so API data is never parsed as HTML.
function h(tag, props, ...kids) {
	const e = document.createElement(tag);
	for (const [k, v] of Object.entries(props || {})) {
		if (v === null || v === undefined || v === false)
			continue;
		if (k.startsWith('on'))
			e.addEventListener(k.slice(2), v);
		else if (k === 'value' || k === 'checked' || k === 'selected')
			e[k] = v;
		else if (k === 'style')
			Object.assign(e.style, v); // CSSOM: allowed by the page's CSP, unlike style=
		else
			e.setAttribute(k, v === true ? '' : v);
	}
	for (const kid of kids.flat(Infinity)) {
		if (kid === null || kid === undefined || kid === false)
			continue;
		e.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
	}
	return e;
}

const SVG_NS = 'http://www.w3.org/2000/svg';
function s(tag, attrs, ...kids) {
	const e = document.createElementNS(SVG_NS, tag);
	for (const [k, v] of Object.entries(attrs || {}))
		e.setAttribute(k, v);
	for (const kid of kids.flat())
		e.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
	return e;
}

class ApiError extends Error {
	constructor(status, message) {
		super(message);
		this.status = status;
	}
}

// Answers write references as URLs ("/api/pool/<uuid>#web" with
// ?include_name, docs/api.md "Reference forms"); the UI shows and sends
// names, which the API takes as references too.
function refName(x) {
	if (Array.isArray(x))
		return x.map(refName);
	if (typeof x !== 'string' || !/^(https?:\/\/[^/]*)?\/api\//.test(x))
		return x;
	const hash = x.indexOf('#');
	return hash >= 0 ? x.slice(hash + 1) : x.slice(x.lastIndexOf('/') + 1);
}

function refNames(v) {
	if (Array.isArray(v))
		return v.map(refNames);
	if (!v || typeof v !== 'object')
		return v;
	const out = {};
	for (const [k, x] of Object.entries(v)) {
		if (k === 'url')
			continue;
		out[k] = k.endsWith('_ref') || k.endsWith('_refs') ? refName(x) : refNames(x);
	}
	return out;
}

// One REST call. Resolves to the parsed body; rejects with ApiError carrying
// the API's own message. A 401 means the session cookie is gone: log in again.
async function api(method, path, body) {
	const opts = { method, credentials: 'same-origin', headers: {} };
	// A change must show the session's CSRF token, which only this page can read.
	const csrf = /(?:^|;\s*)csrftoken=([^;]*)/.exec(document.cookie);
	if (method !== 'GET' && csrf)
		opts.headers['X-CSRFToken'] = csrf[1];
	if (path.startsWith('/api/'))
		path += (path.includes('?') ? '&' : '?') + 'include_name';
	if (body !== undefined) {
		opts.headers['Content-Type'] = 'application/json';
		opts.body = JSON.stringify(body);
	}
	let res;
	try {
		res = await fetch(path, opts);
	} catch (e) {
		throw new ApiError(0, `cannot reach clonelbd: ${e.message}`);
	}
	if (res.status === 401 || res.status === 419) {
		// Come back to this page after logging in again.
		sessionStorage.setItem('clonelb_next', location.hash);
		location.href = '/login.html';
		throw new ApiError(401, 'not logged in');
	}
	const text = await res.text();
	let data = null;
	try {
		data = text ? JSON.parse(text) : null;
	} catch (e) {
		data = text;
	}
	if (!res.ok)
		throw new ApiError(res.status, (data && data.error) || `${method} ${path}: HTTP ${res.status}`);
	return refNames(data);
}

const enc = encodeURIComponent;

/* ---------- errors next to their fields ---------- */

// "clone_servers[2].mac: invalid ..." -> "clone_servers[2].mac". The API
// starts every message with the path of the field it is about.
function errorPath(msg) {
	const m = /^([A-Za-z_]\w*(?:\[\d+\])?(?:\.[A-Za-z_]\w*(?:\[\d+\])?)*): /.exec(msg);
	return m ? m[1] : '';
}

// Shorter paths that contain @path: a.b[1].c, a.b[1], a.b, a.
function pathAncestors(path) {
	const out = [];
	let p = path;
	while (p) {
		out.push(p);
		const m = /^(.*)(\[\d+\]|\.[^.[]+)$/.exec(p);
		p = m ? m[1] : '';
	}
	return out;
}

function clearErrors(root) {
	for (const e of root.querySelectorAll('.err'))
		e.textContent = '';
	for (const e of root.querySelectorAll('.invalid'))
		e.classList.remove('invalid');
}

// Puts @msg in the error slot of the most specific field it names, or in
// the form's own slot (data-err="") when no field of @root matches.
function placeError(root, msg) {
	for (const p of [...pathAncestors(errorPath(msg)), '']) {
		const slot = root.querySelector(`.err[data-err="${CSS.escape(p)}"]`);
		// A hidden field (Subnet of a network without subnets) cannot show
		// it; a field on a hidden tab can: the caller shows that tab.
		if (slot && !slot.closest('[hidden]:not(.tab)')) {
			slot.textContent = msg;
			const f = slot.closest('.field');
			if (f)
				f.classList.add('invalid');
			return slot;
		}
	}
	root.prepend(h('div', { class: 'err form-err', role: 'alert' }, msg));
	return null;
}

// A labelled field with its error slot for API path @path.
function field(label, input, path, hint) {
	const id = input.id || (input.id = `f-${path.replace(/[^\w]/g, '_')}`);
	return h('div', { class: 'field' },
		h('label', { for: id }, label), input,
		hint ? h('div', { class: 'hint' }, hint) : null,
		h('div', { class: 'err', 'data-err': path, role: 'alert' }));
}

function formError() {
	return h('div', { class: 'err form-err', 'data-err': '', role: 'alert' });
}

/* ---------- pages and routing ---------- */

const main = document.getElementById('main');
let timers = [];
let generation = 0; // bumps on every navigation; stale async work checks it

function every(ms, fn) {
	const id = setInterval(fn, ms);
	timers.push(id);
}

function crumbs(...parts) {
	return h('div', { class: 'crumbs' }, parts.map((p, i) =>
		[i ? ' › ' : '', typeof p === 'string' ? p : h('a', { href: p[1] }, p[0])]));
}

function page(title, ...kids) {
	main.replaceChildren(h('h1', {}, title), ...kids);
}

function fmtAddr(a) {
	return a && a.addr ? a.addr : '';
}

// "[x::y]:port" for an IPv6 address: its colons stay apart from the port's.
function fmtAddrPort(a, port) {
	const t = fmtAddr(a);
	return t.includes(':') ? `[${t}]:${port}` : `${t}:${port}`;
}

function fmtSubnet(sn) {
	return sn && sn.ip_addr ? `${sn.ip_addr.addr}/${sn.mask}` : '';
}

function encapText(cs) {
	const t = (cs.encap_type || 'CLONE_ENCAP_NONE').replace(/^CLONE_ENCAP_/, '');
	if (t === 'NONE')
		return 'None';
	const extra = 'vni' in cs ? ` VNI ${cs.vni}` : 'erspan_session_id' in cs ? ` session ${cs.erspan_session_id}` : '';
	return `${t.replace('_', ' ')}${extra}`;
}

function fmtTime(iso) {
	if (!iso)
		return '';
	const d = new Date(iso);
	return isNaN(d) ? iso : `${d.toLocaleString()} (${iso})`;
}

const routes = [
	[/^\/templates\/profiles\/trafficclone$/, profileList],
	[/^\/templates\/profiles\/trafficclone\/create$/, () => profileForm(null)],
	[/^\/templates\/profiles\/trafficclone\/edit\/(.+)$/, (n) => profileForm(n)],
	[/^\/applications\/virtualservices$/, vsList],
	[/^\/applications\/virtualservices\/edit\/(.+)$/, (n) => vsForm(n)],
	[/^\/applications\/virtualservices\/stats\/(.+)$/, (n) => vsStats(n)],
];

async function route() {
	for (const t of timers)
		clearInterval(t);
	timers = [];
	generation++;
	const path = location.hash.replace(/^#/, '') || '/applications/virtualservices';
	for (const a of document.querySelectorAll('header nav a'))
		a.classList.toggle('active', path.startsWith(a.getAttribute('href').slice(1)));
	for (const [re, fn] of routes) {
		const m = re.exec(path);
		if (m) {
			try {
				await fn(...m.slice(1).map(decodeURIComponent));
			} catch (e) {
				if (e.status !== 401)
					page('Error', h('p', { class: 'err' }, e.message));
			}
			return;
		}
	}
	location.hash = '#/applications/virtualservices';
}

/* ---------- Templates > Profiles > Traffic Clone ---------- */

async function profileList() {
	const gen = generation;
	const [profiles, vss] = await Promise.all([
		api('GET', '/api/trafficcloneprofile'), api('GET', '/api/virtualservice')]);
	if (gen !== generation)
		return;
	const usedBy = {};
	for (const vs of vss.results)
		if (vs.traffic_clone_profile_ref)
			(usedBy[vs.traffic_clone_profile_ref] ||= []).push(vs.name);

	const rows = profiles.results.map((p) => {
		const err = h('div', { class: 'err', 'data-err': '', role: 'alert' });
		const del = h('button', { class: 'danger small', 'data-action': 'delete' }, 'Delete');
		let armed = false;
		// Two clicks, the second labelled "Confirm": no modal dialog to dismiss.
		del.addEventListener('click', async () => {
			clearErrors(row);
			if (!armed) {
				armed = true;
				del.textContent = 'Confirm delete';
				return;
			}
			try {
				await api('DELETE', `/api/trafficcloneprofile/${enc(p.uuid)}`);
				row.remove();
			} catch (e) {
				err.textContent = e.message;
				armed = false;
				del.textContent = 'Delete';
			}
		});
		const row = h('tr', { 'data-name': p.name },
			h('td', {}, h('a', { href: `#/templates/profiles/trafficclone/edit/${enc(p.name)}` }, p.name)),
			h('td', {}, String((p.clone_servers || []).length)),
			h('td', {}, (p.clone_servers || []).map((cs) =>
				h('div', {}, fmtAddr(cs.ip_address), cs.mac ? ` (${cs.mac})` : ''))),
			h('td', {}, p.preserve_client_ip ? 'Yes' : 'No'),
			h('td', {}, p.cloud_ref || ''),
			h('td', {}, (usedBy[p.name] || []).join(', ')),
			h('td', { class: 'actions' },
				h('a', { class: 'button small', href: `#/templates/profiles/trafficclone/edit/${enc(p.name)}` }, 'Edit'),
				del, err));
		return row;
	});
	page('Traffic Clone Profiles',
		crumbs('Templates', 'Profiles', 'Traffic Clone'),
		h('div', { class: 'toolbar' },
			h('a', { class: 'button primary', id: 'create-profile', href: '#/templates/profiles/trafficclone/create' }, 'Create')),
		h('table', { class: 'list', id: 'profiles' },
			h('thead', {}, h('tr', {}, ['Name', 'Clone Servers', 'Addresses', 'Preserve Client IP', 'Cloud', 'Used by', ''].map((t) => h('th', {}, t)))),
			h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: 7, class: 'muted' }, 'No traffic clone profiles yet.')))));
}

// The SE interface a stored clone server leaves by: its network_ref, else
// the interface whose subnet is its subnet.
function networkOf(cs, ifaces) {
	if (cs.network_ref)
		return cs.network_ref;
	const sn = fmtSubnet(cs.subnet);
	const i = ifaces.find((x) => x.subnets.includes(sn));
	return i ? i.name : '';
}

async function profileForm(name) {
	const gen = generation;
	const [prof, ifaces] = await Promise.all([
		name ? api('GET', `/api/trafficcloneprofile/${enc(name)}`) : null,
		api('GET', '/api/se/interfaces').catch(() => []),
	]);
	if (gen !== generation)
		return;
	// The servers as the API will get them; edited entries are rebuilt from
	// the sub-form, the others go back exactly as stored.
	const servers = structuredClone((prof && prof.clone_servers) || []);
	let editing = null; // index in servers being edited, servers.length for a new one

	const nameIn = h('input', { id: 'profile-name', value: prof ? prof.name : '', autocomplete: 'off' });
	const preserveIn = h('input', { id: 'preserve-client-ip', type: 'checkbox', checked: !!(prof && prof.preserve_client_ip) });
	const plainIn = h('input', { id: 'plaintext-for-tls-pools', type: 'checkbox', checked: !!(prof && prof.plaintext_for_tls_pools) });
	const cloudIn = h('select', { id: 'cloud' }, CLOUDS.map((c) =>
		h('option', { value: c, selected: prof ? prof.cloud_ref === c : c === CLOUDS[0] }, c)));
	const cloudField = CLOUDS.length > 1
		? field('Set Cloud', cloudIn, 'cloud_ref')
		: h('div', { class: 'field' }, h('label', {}, 'Cloud'),
			h('div', { class: 'static', id: 'cloud-name' }, CLOUDS[0]),
			h('div', { class: 'err', 'data-err': 'cloud_ref', role: 'alert' }));

	const tbody = h('tbody');
	const sub = h('div', { class: 'subform', id: 'clone-server-form', hidden: true });
	const traffic = profileTrafficFields(prof); // clonefields.js: filters, snaplen, budget
	const saveBtn = h('button', { class: 'primary', id: 'save-profile', type: 'submit' }, 'Save');
	const form = h('form', { id: 'profile-form', novalidate: true },
		field('Name', nameIn, 'name'),
		cloudField,
		h('div', { class: 'field check' }, preserveIn, h('label', { for: 'preserve-client-ip' }, 'Preserve Client IP'),
			h('div', { class: 'hint' }, 'Clones carry the client\'s IP address instead of the SE\'s back-end address.'),
			h('div', { class: 'err', 'data-err': 'preserve_client_ip', role: 'alert' })),
		h('div', { class: 'field check' }, plainIn, h('label', { for: 'plaintext-for-tls-pools' }, 'Plaintext for TLS Pools'),
			h('div', { class: 'hint' }, 'When the pool speaks TLS, clone servers get each connection as a synthesized plaintext TCP flow instead of the encrypted frames.'),
			h('div', { class: 'err', 'data-err': 'plaintext_for_tls_pools', role: 'alert' })),
		h('h2', {}, 'Clone Servers'),
		h('table', { class: 'list', id: 'clone-servers' },
			h('thead', {}, h('tr', {}, ['#', 'Network', 'Subnet', 'IP Address', 'MAC Address', 'Encapsulation', ''].map((t) => h('th', {}, t)))),
			tbody),
		h('div', { class: 'err', 'data-err': 'clone_servers', role: 'alert' }),
		h('div', { class: 'toolbar' }, h('button', { type: 'button', id: 'add-clone-server', onclick: () => openSub(servers.length) }, 'Add')),
		sub,
		traffic.node,
		formError(),
		h('div', { class: 'buttons' },
			h('a', { class: 'button', href: '#/templates/profiles/trafficclone' }, 'Cancel'),
			saveBtn));

	function renderRows() {
		tbody.replaceChildren(...servers.map((cs, i) => h('tr', { 'data-index': i + 1 },
			h('td', {}, String(i + 1)),
			h('td', {}, networkOf(cs, ifaces)),
			h('td', {}, fmtSubnet(cs.subnet)),
			h('td', {}, fmtAddr(cs.ip_address)),
			h('td', {}, cs.mac || ''),
			h('td', { class: 'encap' }, encapText(cs)),
			h('td', { class: 'actions' },
				h('button', { type: 'button', class: 'small', onclick: () => openSub(i) }, 'Edit'),
				h('button', { type: 'button', class: 'small danger', onclick: () => {
					servers.splice(i, 1);
					closeSub();
					renderRows();
				} }, 'Remove'),
				h('div', { class: 'err', 'data-err': `clone_servers[${i + 1}]`, role: 'alert' })))));
		if (!servers.length)
			tbody.append(h('tr', {}, h('td', { colspan: 7, class: 'muted' }, 'No clone servers: add one.')));
	}

	// The Clone Server sub-screen for servers[i] (i == length: a new one).
	// Its error slots carry the API paths of that entry, 1-based as the API
	// writes them, so an error from Save lands beside the right input.
	function openSub(i) {
		editing = i;
		const cs = servers[i] || {};
		const n = i + 1;
		const stored = networkOf(cs, ifaces);
		const netSel = h('select', { id: 'cs-network' },
			h('option', { value: '' }, 'Select a network'),
			ifaces.map((x) => h('option', { value: x.name, selected: stored === x.name },
				x.subnets.length ? `${x.name} (${x.subnets.join(', ')})` : x.name)),
			// A stored interface that has gone stays as it is until changed.
			stored && !ifaces.some((x) => x.name === stored)
				? h('option', { value: stored, selected: true }, `${stored} (not on this SE)`) : null);
		const subnetSel = h('select', { id: 'cs-subnet' });
		const subnetField = field('Subnet', subnetSel, `clone_servers[${n}].subnet`);
		const ipIn = h('input', { id: 'cs-ip', value: fmtAddr(cs.ip_address), placeholder: '10.10.3.2 or fd00:10:3::2', autocomplete: 'off' });
		const macIn = h('input', { id: 'cs-mac', value: cs.mac || '', placeholder: '4e:e9:4e:2d:b9:bb (optional)', autocomplete: 'off' });
		const encap = cloneServerEncapFields(cs, n); // clonefields.js
		// The Subnet field exists only where the chosen network has subnets.
		function syncSubnets() {
			const net = ifaces.find((x) => x.name === netSel.value);
			const current = fmtSubnet(cs.subnet);
			subnetSel.replaceChildren(...((net && net.subnets) || []).map((p) =>
				h('option', { value: p, selected: p === current }, p)));
			subnetField.hidden = !(net && net.subnets.length);
		}
		netSel.addEventListener('change', syncSubnets);
		syncSubnets();
		sub.replaceChildren(
			h('h3', {}, servers[i] ? `Clone Server ${n}` : 'New Clone Server'),
			field('Network', netSel, `clone_servers[${n}].network_ref`, 'The SE interface the clones leave by.'),
			subnetField,
			field('IP Address', ipIn, `clone_servers[${n}].ip_address`),
			field('MAC Address', macIn, `clone_servers[${n}].mac`, 'Leave empty to resolve the IP address by ARP (IPv6: neighbour discovery).'),
			...encap.nodes,
			h('div', { class: 'err', 'data-err': `clone_servers[${n}]`, role: 'alert' }),
			h('div', { class: 'buttons' },
				h('button', { type: 'button', id: 'cs-cancel', onclick: closeSub }, 'Cancel'),
				h('button', { type: 'button', class: 'primary', id: 'cs-save', onclick: () => {
					const out = structuredClone(servers[i] || {});
					const ip = ipIn.value.trim();
					out.ip_address = { addr: ip, type: ip.includes(':') ? 'V6' : 'V4' };
					if (netSel.value)
						out.network_ref = netSel.value;
					else
						delete out.network_ref;
					// The Subnet select sets the subnet; a network without
					// subnets has none; with no network chosen, the stored
					// subnet (if any) stays.
					const [addr, mask] = (subnetField.hidden ? '' : subnetSel.value).split('/');
					if (addr)
						out.subnet = { ip_addr: { addr, type: addr.includes(':') ? 'V6' : 'V4' }, mask: Number(mask) };
					else if (ifaces.some((x) => x.name === netSel.value))
						delete out.subnet;
					if (macIn.value.trim())
						out.mac = macIn.value.trim();
					else
						delete out.mac;
					encap.apply(out);
					servers[i] = out;
					closeSub();
					renderRows();
				} }, 'Save')));
		sub.hidden = false;
		saveBtn.disabled = true; // finish the sub-screen first
		return sub;
	}

	function closeSub() {
		editing = null;
		sub.hidden = true;
		sub.replaceChildren();
		saveBtn.disabled = false;
	}

	form.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		if (editing !== null)
			return;
		clearErrors(form);
		const body = {
			name: nameIn.value.trim(),
			cloud_ref: CLOUDS.length > 1 ? cloudIn.value : CLOUDS[0],
			preserve_client_ip: preserveIn.checked,
			plaintext_for_tls_pools: plainIn.checked,
			clone_servers: servers,
			...traffic.collect(),
		};
		saveBtn.disabled = true;
		try {
			if (prof)
				await api('PATCH', `/api/trafficcloneprofile/${enc(prof.uuid)}`, body);
			else
				await api('POST', '/api/trafficcloneprofile', body);
			location.hash = '#/templates/profiles/trafficclone';
		} catch (e) {
			saveBtn.disabled = false;
			// An error about one clone server reopens its sub-screen so the
			// message sits beside the input it is about.
			const m = /^clone_servers\[(\d+)\]/.exec(errorPath(e.message));
			if (m && servers[Number(m[1]) - 1]) {
				openSub(Number(m[1]) - 1);
				tbody.querySelector(`tr[data-index="${m[1]}"]`)?.classList.add('invalid');
			}
			placeError(form, e.message);
		}
	});

	renderRows();
	page(prof ? `Edit Traffic Clone Profile: ${prof.name}` : 'New Traffic Clone Profile',
		crumbs('Templates', 'Profiles', ['Traffic Clone', '#/templates/profiles/trafficclone'], prof ? prof.name : 'Create'),
		form);
	nameIn.focus();
}

/* ---------- Applications > Virtual Services ---------- */

// Health of a virtual service from its runtime view, which the data plane
// may not provide: then it is "unknown", never guessed.
function health(rt) {
	if (!rt || !('pool' in rt))
		return { text: 'Unknown', cls: 'unknown', title: 'the data plane reports no runtime for this service' };
	if (rt.listen_error)
		return { text: 'Down', cls: 'down', title: rt.listen_error };
	if (rt.enabled === false)
		return { text: 'Disabled', cls: 'unknown', title: 'the virtual service is disabled' };
	if (!rt.pool)
		return { text: 'No pool', cls: 'down', title: 'no pool_ref' };
	const members = rt.pool.members || [];
	const up = members.filter((m) => m.health === 'UP').length;
	const title = `${up}/${members.length} pool servers up`;
	if (members.length && up === members.length)
		return { text: 'Up', cls: 'up', title };
	if (up)
		return { text: 'Partial', cls: 'partial', title };
	return { text: 'Down', cls: 'down', title };
}

function healthBadge(rt) {
	const hl = health(rt);
	return h('span', { class: `badge ${hl.cls}`, title: hl.title }, hl.text, hl.cls !== 'unknown' && rt.pool ? ` (${hl.title.split(' ')[0]})` : '');
}

function vipText(vs) {
	// A service on shared VIPs (vsvip_ref) shows the vsvip it uses.
	const addrs = vs.vsvip_ref ? [`vsvip ${vs.vsvip_ref}`] : (vs.vip || []).map((v) => fmtAddr(v.ip_address));
	const ports = (vs.services || []).map((sv) => `${sv.port}${sv.enable_ssl ? ' (SSL)' : ''}`);
	return `${addrs.join(', ')} : ${ports.join(', ')}`;
}

async function vsList() {
	const gen = generation;
	const vss = await api('GET', '/api/virtualservice');
	if (gen !== generation)
		return;
	const cells = {};
	const rows = vss.results.map((vs) => {
		cells[vs.name] = h('td', { class: 'health' }, healthBadge(null));
		return h('tr', { 'data-name': vs.name },
			h('td', {}, h('a', { href: `#/applications/virtualservices/edit/${enc(vs.name)}` }, vs.name)),
			h('td', {}, vipText(vs)),
			h('td', {}, vs.pool_ref || '—'),
			cells[vs.name],
			h('td', { class: 'clone-profile' }, vs.traffic_clone_profile_ref || 'None'),
			h('td', {}, vs.enabled === false ? 'No' : 'Yes'),
			h('td', { class: 'actions' },
				h('a', { class: 'button small', href: `#/applications/virtualservices/edit/${enc(vs.name)}` }, 'Edit'),
				h('a', { class: 'button small', href: `#/applications/virtualservices/stats/${enc(vs.name)}` }, 'Clone Stats')));
	});
	page('Virtual Services',
		crumbs('Applications', 'Virtual Services'),
		h('table', { class: 'list', id: 'virtualservices' },
			h('thead', {}, h('tr', {}, ['Name', 'VIP : Ports', 'Pool', 'Health', 'Traffic Clone Profile', 'Enabled', ''].map((t) => h('th', {}, t)))),
			h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: 7, class: 'muted' },
				'No virtual services yet: create one with the clonelb shell or the API.')))));
	// Health changes on its own: refresh just those cells.
	const refresh = async () => {
		await Promise.all(vss.results.map(async (vs) => {
			const rt = await api('GET', `/api/virtualservice/${enc(vs.name)}/runtime`).catch(() => null);
			if (gen === generation)
				cells[vs.name].replaceChildren(healthBadge(rt));
		}));
	};
	refresh();
	every(2000, refresh);
}

async function vsForm(name) {
	const gen = generation;
	const [vs, profiles, pools, groups] = await Promise.all([
		api('GET', `/api/virtualservice/${enc(name)}`),
		api('GET', '/api/trafficcloneprofile'),
		api('GET', '/api/pool'),
		api('GET', '/api/serviceenginegroup'),
	]);
	if (gen !== generation)
		return;
	const enabledIn = h('input', { id: 'vs-enabled', type: 'checkbox', checked: vs.enabled !== false });
	const poolSel = h('select', { id: 'vs-pool' },
		h('option', { value: '' }, 'None'),
		pools.results.map((p) => h('option', { value: p.name, selected: vs.pool_ref === p.name }, p.name)));
	const segSel = h('select', { id: 'vs-se-group' },
		groups.results.map((g) => h('option', { value: g.name, selected: (vs.se_group_ref || 'Default-Group') === g.name }, g.name)));
	const rhiIn = h('input', { id: 'vs-enable-rhi', type: 'checkbox', checked: vs.enable_rhi === true });
	const tcpSel = h('select', { id: 'traffic-clone-profile' },
		h('option', { value: '' }, 'None'),
		profiles.results.map((p) => h('option', { value: p.name, selected: vs.traffic_clone_profile_ref === p.name }, p.name)));

	const tabs = {
		settings: h('section', { class: 'tab', id: 'tab-settings' },
			h('div', { class: 'field' }, h('label', {}, 'Name'), h('div', { class: 'static' }, vs.name)),
			h('div', { class: 'field' }, h('label', {}, 'VIP : Ports'), h('div', { class: 'static' }, vipText(vs))),
			h('div', { class: 'field check' }, enabledIn, h('label', { for: 'vs-enabled' }, 'Enabled'),
				h('div', { class: 'err', 'data-err': 'enabled', role: 'alert' })),
			field('Pool', poolSel, 'pool_ref'),
			field('SE Group', segSel, 'se_group_ref', 'The service engines that serve this virtual service.'),
			h('div', { class: 'field check' }, rhiIn, h('label', { for: 'vs-enable-rhi' }, 'Route Health Injection'),
				h('div', { class: 'hint' }, 'Announce each VIP over BGP while the service is up and its pool has a healthy member.'),
				h('div', { class: 'err', 'data-err': 'enable_rhi', role: 'alert' }))),
		advanced: h('section', { class: 'tab', id: 'tab-advanced', hidden: true },
			h('h2', {}, 'Other Settings'),
			field('Traffic Clone Profile', tcpSel, 'traffic_clone_profile_ref',
				'Copies every frame between the SE and this service\'s pool to the profile\'s clone servers.')),
	};
	const tabBtns = Object.keys(tabs).map((k) => h('button', {
		type: 'button', class: k === 'settings' ? 'tabbtn active' : 'tabbtn', id: `tabbtn-${k}`,
		onclick: (ev) => {
			for (const [k2, t] of Object.entries(tabs))
				t.hidden = k2 !== k;
			for (const b of ev.target.parentNode.children)
				b.classList.toggle('active', b === ev.target);
		},
	}, k === 'settings' ? 'Settings' : 'Advanced'));

	const saveBtn = h('button', { class: 'primary', id: 'save-vs', type: 'submit' }, 'Save');
	const form = h('form', { id: 'vs-form', novalidate: true },
		h('div', { class: 'tabs' }, tabBtns),
		tabs.settings, tabs.advanced,
		formError(),
		h('div', { class: 'buttons' },
			h('a', { class: 'button', href: '#/applications/virtualservices' }, 'Cancel'),
			saveBtn));
	form.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		clearErrors(form);
		saveBtn.disabled = true;
		try {
			// null clears a reference (PATCH merges top-level fields).
			await api('PATCH', `/api/virtualservice/${enc(vs.uuid)}`, {
				enabled: enabledIn.checked,
				pool_ref: poolSel.value || null,
				traffic_clone_profile_ref: tcpSel.value || null,
				se_group_ref: segSel.value || null,
				enable_rhi: rhiIn.checked,
			});
			location.hash = '#/applications/virtualservices';
		} catch (e) {
			saveBtn.disabled = false;
			const slot = placeError(form, e.message);
			// Show the tab that holds the field in error.
			const tab = slot && slot.closest('.tab');
			if (tab)
				document.getElementById(`tabbtn-${tab.id.slice(4)}`).click();
		}
	});
	page(`Edit Virtual Service: ${vs.name}`,
		crumbs('Applications', ['Virtual Services', '#/applications/virtualservices'], vs.name), form);
}

function runtimeView(rt) {
	if (!rt || !('pool' in rt))
		return h('p', { class: 'muted' }, 'The data plane reports no runtime for this service.');
	const facts = [];
	for (const k of ['connections_current', 'connections_total', 'connections_refused', 'connections_failed'])
		if (k in rt)
			facts.push(h('dt', {}, k.replace(/_/g, ' ')), h('dd', { 'data-runtime': k }, String(rt[k])));
	if (rt.listen_error)
		facts.push(h('dt', {}, 'listen error'), h('dd', { class: 'err' }, rt.listen_error));
	const members = (rt.pool && rt.pool.members) || [];
	return h('div', {},
		h('dl', { class: 'facts' }, h('dt', {}, 'Health'), h('dd', {}, healthBadge(rt)), facts),
		members.length ? h('table', { class: 'list' },
			h('thead', {}, h('tr', {}, ['Pool server', 'Health', 'Current', 'Total', 'Connect failures'].map((t) => h('th', {}, t)))),
			h('tbody', {}, members.map((m) => h('tr', {},
				h('td', {}, fmtAddrPort(m.ip, m.port)),
				h('td', {}, h('span', { class: `badge ${m.health === 'UP' ? 'up' : 'down'}` }, m.health || '?')),
				h('td', { class: 'num' }, String(m.current_connections ?? '')),
				h('td', { class: 'num' }, String(m.total_connections ?? '')),
				h('td', { class: 'num' }, String(m.connect_failures ?? '')))))) : null);
}

/* ---------- start ---------- */

document.getElementById('logout').addEventListener('click', async () => {
	await fetch('/api/logout', { method: 'POST', credentials: 'same-origin' }).catch(() => null);
	location.href = '/login.html';
});
window.addEventListener('hashchange', route);
route();
