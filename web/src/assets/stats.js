// stats.js: the web UI's clone stats page of a virtual service: for each SE that runs it, counters per clone server, their health and a live chart (app.js routes to it).
'use strict';

/* ---------- a virtual service's clone stats ---------- */

const COUNTERS = [
	['num_total_pkts_cloned', 'Frames cloned'],
	['num_succeeded', 'Succeeded'],
	['num_mbuf_alloc_failed', 'Alloc failures'],
	['num_driver_failures', 'Driver failures'],
];
// Why a frame was not cloned whole (docs/clone-engine.md), when the engine reports them.
const REASONS = [
	['num_filtered', 'Filtered'],
	['num_truncated', 'Snaplen cut'],
	['num_budget_skipped', 'Over budget'],
	['num_mtu_truncated', 'MTU cut'],
	['num_no_mac', 'No MAC'],
	['num_no_interface', 'No interface'],
	['num_failover', 'Failed over'],
	['num_down', 'Times down'],
];
const PALETTE = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#65a30d', '#4b5563', '#b45309'];

// Counters are shown as the API names them, the known ones first, then any
// other numeric field the engine adds (bytes, num_no_mac, ...).
function counterColumns(servers) {
	const cols = [...COUNTERS, ...REASONS.filter(([k]) => servers.some((sv) => k in sv))];
	const known = new Set(cols.map((c) => c[0]));
	for (const sv of servers)
		for (const [k, v] of Object.entries(sv))
			if (typeof v === 'number' && !known.has(k)) {
				known.add(k);
				cols.push([k, k.replace(/^num_/, '').replace(/_/g, ' ')]);
			}
	return cols;
}

// A line chart of frames cloned per second, one line per clone server,
// over the last CHART_POINTS samples. Gaps (null) break the line.
function chart(series, names) {
	const W = 640, H = 200, L = 48, R = 8, T = 10, B = 22;
	let max = 4; // an idle chart still has a readable axis: 0..4
	for (const sr of series)
		for (const v of sr)
			if (v !== null && v > max)
				max = v;
	// A round top value so the axis reads well.
	const mag = 10 ** Math.floor(Math.log10(max));
	const top = Math.ceil(max / mag) * mag;
	const x = (i) => L + (i * (W - L - R)) / (CHART_POINTS - 1);
	const y = (v) => T + (H - T - B) * (1 - v / top);
	const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart clone-chart', role: 'img', 'aria-label': 'frames cloned per second per clone server' });
	for (let k = 0; k <= 4; k++) {
		const v = (top * k) / 4;
		svg.append(s('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'grid' }),
			s('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'axis' }, Number.isInteger(v) ? v : v.toFixed(1)));
	}
	svg.append(s('text', { x: L, y: H - 4, class: 'axis' }, `-${CHART_POINTS}s`),
		s('text', { x: W - R, y: H - 4, 'text-anchor': 'end', class: 'axis' }, 'now'));
	series.forEach((sr, j) => {
		const off = CHART_POINTS - sr.length;
		let d = '';
		let pen = false;
		sr.forEach((v, i) => {
			if (v === null) {
				pen = false;
				return;
			}
			d += `${pen ? 'L' : 'M'}${x(off + i).toFixed(1)},${y(v).toFixed(1)}`;
			pen = true;
		});
		if (d)
			// Round robin gives servers equal rates: dash every other line
			// so one drawn over another still shows.
			svg.append(s('path', { d, stroke: PALETTE[j % PALETTE.length], class: 'series', 'data-ip': names[j],
				'stroke-dasharray': j % 2 ? '7 5' : 'none' }));
	});
	return svg;
}

// The names of the SEs, by se_uuid, from /api/serviceengine. A uuid it does
// not know (an SE that joined the group since) makes it read the list again,
// once per uuid; an SE it cannot name is shown by its uuid.
function seNamer() {
	const names = new Map();
	const asked = new Set();
	return async (uuids) => {
		const unknown = uuids.filter((u) => !names.has(u) && !asked.has(u));
		if (unknown.length) {
			unknown.forEach((u) => asked.add(u));
			const list = await api('GET', '/api/serviceengine').catch(() => null);
			for (const se of (list && list.results) || [])
				names.set(se.uuid, se.name);
		}
		return (u) => names.get(u) || u;
	};
}

// One SE's part of the stats page: its heading, table and chart, and the
// samples its rates come from.
function seView(uuid) {
	const v = {
		heading: h('h2', { class: 'se-name' }, `Service Engine: ${uuid}`),
		lastReset: h('dd', { class: 'last-reset' }, '—'),
		table: h('table', { class: 'list clone-stats' }),
		chartBox: h('div', { class: 'chart-box' }),
		legend: h('div', { class: 'legend' }),
		history: new Map(), // ip -> [rate|null]
		prev: null, // {t, byIp: {ip: total}}
	};
	v.el = h('section', { class: 'se-stats', 'data-se-uuid': uuid }, v.heading,
		h('dl', { class: 'facts' },
			h('dt', {}, 'SE UUID'), h('dd', { class: 'se-uuid' }, uuid),
			h('dt', {}, 'Last reset'), v.lastReset),
		h('h3', {}, 'Per clone server (PROC_Aggregate)'), h('div', { class: 'table-scroll' }, v.table),
		h('h3', {}, 'Frames cloned per second'), v.chartBox, v.legend);
	return v;
}

// Rates come from the difference of two samples and the browser's clock
// between them. A counter that went down was reset: that sample has no
// rate, and the next one starts from the new value.
function sampleRates(v, servers, t) {
	const byIp = {};
	for (const sv of servers) {
		const total = sv.num_total_pkts_cloned || 0;
		byIp[sv.ip] = total;
		let rate = null;
		if (v.prev && sv.ip in v.prev.byIp && total >= v.prev.byIp[sv.ip] && t > v.prev.t)
			rate = ((total - v.prev.byIp[sv.ip]) * 1000) / (t - v.prev.t);
		const hist = v.history.get(sv.ip) || [];
		hist.push(rate);
		if (hist.length > CHART_POINTS)
			hist.shift();
		v.history.set(sv.ip, hist);
	}
	for (const ip of [...v.history.keys()])
		if (!(ip in byIp))
			v.history.delete(ip);
	v.prev = { t, byIp };
}

// Draws @entry, one SE's PROC_Aggregate entry, into its view @v.
function drawSe(v, entry, seName, vs) {
	// ip is {addr, type}, as the reference writes addresses; the view keys on the text.
	const servers = (entry.clone_srvr_stats || []).map((sv) => ({ ...sv, ip: fmtAddr(sv.ip) || String(sv.ip || '') }));
	sampleRates(v, servers, performance.now());
	v.heading.textContent = `Service Engine: ${seName}`;
	v.lastReset.textContent = entry.last_reset ? fmtTime(entry.last_reset) : 'not reported by this clonelbd';
	const cols = counterColumns(servers);
	v.table.replaceChildren(
		h('thead', {}, h('tr', {}, h('th', {}, 'Clone Server'), h('th', {}, 'State'), cols.map((c) => h('th', { class: 'num' }, c[1])), h('th', { class: 'num' }, 'Frames/s'))),
		h('tbody', {}, servers.length ? servers.map((sv, j) => {
			const hist = v.history.get(sv.ip) || [];
			const rate = hist[hist.length - 1];
			return h('tr', { 'data-ip': sv.ip },
				h('td', {}, h('span', { class: 'swatch', style: { background: PALETTE[j % PALETTE.length] } }), sv.ip,
					sv.interface ? h('span', { class: 'muted' }, ` via ${sv.interface}`) : null),
				h('td', { 'data-field': 'oper_state' }, operBadge(sv)),
				cols.map((c) => h('td', { class: 'num', 'data-counter': c[0] }, sv[c[0]] === undefined ? '' : String(sv[c[0]]))),
				h('td', { class: 'num', 'data-counter': 'rate' }, rate === null || rate === undefined ? '…' : rate.toFixed(1)));
		}) : h('tr', {}, h('td', { colspan: cols.length + 3, class: 'muted' },
			vs.traffic_clone_profile_ref ? 'The profile has no clone servers.' : 'No traffic clone profile on this virtual service.'))));
	const ips = servers.map((sv) => sv.ip);
	v.chartBox.replaceChildren(chart(ips.map((ip) => v.history.get(ip) || []), ips));
	v.legend.replaceChildren(...ips.map((ip, j) => h('span', {},
		h('span', { class: 'swatch', style: { background: PALETTE[j % PALETTE.length] } }), ip)));
}

// A virtual service's clone stats: one section per SE that runs it (the
// answering SE first, as the API orders them), each headed by the SE's name.
async function vsStats(name) {
	const gen = generation;
	const vs = await api('GET', `/api/virtualservice/${enc(name)}`);
	if (gen !== generation)
		return;
	const status = h('div', { class: 'muted', id: 'stats-status' }, 'Loading…');
	const perSe = h('div', { id: 'clone-stats' });
	const runtimeBox = h('div', { id: 'runtime' });
	page(`Clone Stats: ${vs.name}`,
		crumbs('Applications', ['Virtual Services', '#/applications/virtualservices'], vs.name, 'Traffic Clone Stats'),
		h('dl', { class: 'facts' },
			h('dt', {}, 'Traffic Clone Profile'),
			h('dd', { id: 'stats-profile' }, vs.traffic_clone_profile_ref
				? h('a', { href: `#/templates/profiles/trafficclone/edit/${enc(vs.traffic_clone_profile_ref)}` }, vs.traffic_clone_profile_ref)
				: 'None (traffic of this service is not cloned)')),
		perSe,
		h('h2', {}, 'Runtime'), runtimeBox,
		status);

	const views = new Map(); // se_uuid -> seView()
	const names = seNamer();
	let busy = false;
	const tick = async () => {
		if (busy)
			return; // a slow answer: skip, do not pile requests up
		busy = true;
		try {
			const [stats, rt] = await Promise.all([
				api('GET', `/api/virtualservice/${enc(name)}/traffic_clone_stats`),
				api('GET', `/api/virtualservice/${enc(name)}/runtime`).catch(() => null),
			]);
			if (gen !== generation)
				return;
			const all = stats || [];
			const entries = all.filter((e) => e.proc_id === 'PROC_Aggregate');
			if (!entries.length && all.length)
				entries.push(all[0]);
			const uuids = entries.map((e) => e.se_uuid || '—');
			const seName = await names(uuids);
			if (gen !== generation)
				return;
			entries.forEach((e, i) => {
				if (!views.has(uuids[i]))
					views.set(uuids[i], seView(uuids[i]));
				drawSe(views.get(uuids[i]), e, seName(uuids[i]), vs);
			});
			// An SE that no longer reports (gone from the group) leaves the page.
			for (const u of [...views.keys()])
				if (!uuids.includes(u))
					views.delete(u);
			perSe.replaceChildren(...uuids.map((u) => views.get(u).el));
			runtimeBox.replaceChildren(runtimeView(rt));
			status.textContent = `Updated ${new Date().toLocaleTimeString()}, every ${POLL_MS / 1000} s.`;
			status.classList.remove('err');
		} catch (e) {
			if (gen === generation) {
				status.textContent = e.message;
				status.classList.add('err');
			}
		} finally {
			busy = false;
		}
	};
	await tick();
	every(POLL_MS, tick);
}

// A clone server's health as the engine's watcher reports it (clone_health.c).
function operBadge(sv) {
	const st = sv.oper_state || 'OPER_UNKNOWN';
	const cls = st === 'OPER_UP' ? 'up' : st === 'OPER_DOWN' ? 'down' : 'unknown';
	const text = st === 'OPER_UP' ? 'Up' : st === 'OPER_DOWN' ? 'Down' : 'Unknown';
	return h('span', { class: `badge ${cls}`, title: sv.oper_reason || '' }, text);
}
