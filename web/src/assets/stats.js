// stats.js: the web UI's clone stats page of a virtual service: counters per clone server, their health and a live chart (app.js routes to it).
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
	const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', id: 'clone-chart', role: 'img', 'aria-label': 'frames cloned per second per clone server' });
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

async function vsStats(name) {
	const gen = generation;
	const vs = await api('GET', `/api/virtualservice/${enc(name)}`);
	if (gen !== generation)
		return;
	const status = h('div', { class: 'muted', id: 'stats-status' }, 'Loading…');
	const lastReset = h('span', { id: 'last-reset' }, '—');
	const seUuid = h('span', { id: 'se-uuid' }, '—');
	const table = h('table', { class: 'list', id: 'clone-stats' });
	const chartBox = h('div', { class: 'chart-box' });
	const legend = h('div', { class: 'legend' });
	const runtimeBox = h('div', { id: 'runtime' });
	page(`Clone Stats: ${vs.name}`,
		crumbs('Applications', ['Virtual Services', '#/applications/virtualservices'], vs.name, 'Traffic Clone Stats'),
		h('dl', { class: 'facts' },
			h('dt', {}, 'Traffic Clone Profile'),
			h('dd', { id: 'stats-profile' }, vs.traffic_clone_profile_ref
				? h('a', { href: `#/templates/profiles/trafficclone/edit/${enc(vs.traffic_clone_profile_ref)}` }, vs.traffic_clone_profile_ref)
				: 'None (traffic of this service is not cloned)'),
			h('dt', {}, 'Service Engine'), h('dd', {}, seUuid),
			h('dt', {}, 'Last reset'), h('dd', {}, lastReset)),
		h('h2', {}, 'Per clone server (PROC_Aggregate)'), h('div', { class: 'table-scroll' }, table),
		h('h2', {}, 'Frames cloned per second'), chartBox, legend,
		h('h2', {}, 'Runtime'), runtimeBox,
		status);

	// Rates come from the difference of two samples and the browser's clock
	// between them. A counter that went down was reset: that sample has no
	// rate, and the next one starts from the new value.
	const history = new Map(); // ip -> [rate|null]
	let prev = null; // {t, byIp: {ip: total}}
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
			const t = performance.now();
			const agg = (stats || []).find((e) => e.proc_id === 'PROC_Aggregate') || (stats || [])[0] || {};
			// ip is {addr, type}, as the reference writes addresses; the view keys on the text.
			const servers = (agg.clone_srvr_stats || []).map((sv) => ({ ...sv, ip: fmtAddr(sv.ip) || String(sv.ip || '') }));
			seUuid.textContent = agg.se_uuid || '—';
			lastReset.textContent = agg.last_reset ? fmtTime(agg.last_reset) : 'not reported by this clonelbd';
			const byIp = {};
			for (const sv of servers) {
				const total = sv.num_total_pkts_cloned || 0;
				byIp[sv.ip] = total;
				let rate = null;
				if (prev && sv.ip in prev.byIp && total >= prev.byIp[sv.ip] && t > prev.t)
					rate = ((total - prev.byIp[sv.ip]) * 1000) / (t - prev.t);
				const hist = history.get(sv.ip) || [];
				hist.push(rate);
				if (hist.length > CHART_POINTS)
					hist.shift();
				history.set(sv.ip, hist);
			}
			for (const ip of [...history.keys()])
				if (!(ip in byIp))
					history.delete(ip);
			prev = { t, byIp };

			const cols = counterColumns(servers);
			table.replaceChildren(
				h('thead', {}, h('tr', {}, h('th', {}, 'Clone Server'), h('th', {}, 'State'), cols.map((c) => h('th', { class: 'num' }, c[1])), h('th', { class: 'num' }, 'Frames/s'))),
				h('tbody', {}, servers.length ? servers.map((sv, j) => {
					const hist = history.get(sv.ip) || [];
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
			chartBox.replaceChildren(chart(ips.map((ip) => history.get(ip) || []), ips));
			legend.replaceChildren(...ips.map((ip, j) => h('span', {},
				h('span', { class: 'swatch', style: { background: PALETTE[j % PALETTE.length] } }), ip)));
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
