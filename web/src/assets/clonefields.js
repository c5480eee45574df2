// clonefields.js: the traffic clone profile's filters, snaplen and flow budget, and a clone server's encapsulation, as form parts for app.js.
'use strict';

// Values of the schema's enums (src/config/schema.c), with the words the form shows.
const FILTER_ACTIONS = [['CLONE_FILTER_ACCEPT', 'Accept'], ['CLONE_FILTER_REJECT', 'Reject']];
const FILTER_DIRS = [['CLONE_DIR_BOTH', 'Both'], ['CLONE_DIR_TO_SERVER', 'To server'],
	['CLONE_DIR_FROM_SERVER', 'From server']];
const BUDGET_ACTIONS = [['CLONE_BUDGET_HEADERS', 'Headers only'], ['CLONE_BUDGET_STOP', 'SYN/FIN/RST only']];
const ENCAPS = [['CLONE_ENCAP_NONE', 'None (directly connected)'], ['CLONE_ENCAP_VXLAN', 'VXLAN'],
	['CLONE_ENCAP_GENEVE', 'GENEVE'], ['CLONE_ENCAP_ERSPAN_II', 'ERSPAN type II'],
	['CLONE_ENCAP_ERSPAN_III', 'ERSPAN type III']];
const ENCAP_PORTS = { CLONE_ENCAP_VXLAN: 4789, CLONE_ENCAP_GENEVE: 6081 };

function options(list, current) {
	return list.map(([v, label]) => h('option', { value: v, selected: v === current }, label));
}

// An integer input's value for the API: a number when it is one, the text
// as typed otherwise (the API then names the field and the value), and
// undefined when empty (the field is left out).
function intValue(input) {
	const t = input.value.trim();
	if (t === '')
		return undefined;
	return /^-?\d+$/.test(t) ? Number(t) : t;
}

// "10.10.1.0/24" -> the API's prefix; an address alone is a /32.
function prefixValue(text) {
	const t = text.trim();
	if (t === '')
		return undefined;
	const [addr, mask] = t.split('/');
	return { ip_addr: { addr, type: 'V4' }, mask: mask === undefined ? 32 : (/^\d+$/.test(mask) ? Number(mask) : mask) };
}

/*
 * The Filters, Snaplen and Flow Budget part of the profile form for stored
 * profile @prof (null: a new one). Returns {node, collect}: collect() gives
 * the fields for the API body. Error slots carry the API's paths
 * (filters[2], snaplen...), so an error from Save lands beside its input.
 */
function profileTrafficFields(prof) {
	const rules = structuredClone((prof && prof.filters) || []);
	const tbody = h('tbody');
	const snapIn = h('input', { id: 'snaplen', inputmode: 'numeric', autocomplete: 'off',
		value: prof && prof.snaplen ? String(prof.snaplen) : '', placeholder: '0 (whole frames)' });
	const budgetIn = h('input', { id: 'max-bytes-per-flow', inputmode: 'numeric', autocomplete: 'off',
		value: prof && prof.max_bytes_per_flow ? String(prof.max_bytes_per_flow) : '', placeholder: '0 (no budget)' });
	const actionSel = h('select', { id: 'budget-action' },
		options(BUDGET_ACTIONS, (prof && prof.budget_action) || 'CLONE_BUDGET_HEADERS'));

	// Each row edits one rule in place; its inputs are read back by collect().
	const rows = [];
	function render() {
		rows.length = 0;
		tbody.replaceChildren(...rules.flatMap((r, i) => {
			const cells = {
				rule: h('input', { class: 'f-rule', inputmode: 'numeric', value: r.rule_number ?? '', 'aria-label': 'Rule number' }),
				action: h('select', { class: 'f-action', 'aria-label': 'Action' }, options(FILTER_ACTIONS, r.action || 'CLONE_FILTER_ACCEPT')),
				direction: h('select', { class: 'f-direction', 'aria-label': 'Direction' }, options(FILTER_DIRS, r.direction || 'CLONE_DIR_BOTH')),
				prefix: h('input', { class: 'f-prefix', value: r.client_prefix ? fmtSubnet(r.client_prefix) : '', placeholder: 'any', 'aria-label': 'Client prefix' }),
				start: h('input', { class: 'f-port-start', inputmode: 'numeric', value: r.server_port_start ?? '', placeholder: 'any', 'aria-label': 'First server port' }),
				end: h('input', { class: 'f-port-end', inputmode: 'numeric', value: r.server_port_end ?? '', placeholder: 'any', 'aria-label': 'Last server port' }),
			};
			rows.push(cells);
			return [h('tr', { 'data-index': i + 1 },
				h('td', {}, cells.rule), h('td', {}, cells.action), h('td', {}, cells.direction),
				h('td', {}, cells.prefix), h('td', {}, cells.start), h('td', {}, cells.end),
				h('td', { class: 'actions' }, h('button', { type: 'button', class: 'small danger', onclick: () => {
					sync();
					rules.splice(i, 1);
					render();
				} }, 'Remove'))),
			h('tr', { class: 'errrow' }, h('td', { colspan: 7 },
				h('div', { class: 'err', 'data-err': `filters[${i + 1}]`, role: 'alert' })))];
		}));
		if (!rules.length)
			tbody.append(h('tr', {}, h('td', { colspan: 7, class: 'muted' }, 'No rules: every frame is cloned.')));
	}

	// What the rows say now, as API rules (in the order shown).
	function sync() {
		rows.forEach((c, i) => {
			const r = { rule_number: intValue(c.rule), action: c.action.value, direction: c.direction.value };
			const p = prefixValue(c.prefix.value);
			if (p)
				r.client_prefix = p;
			const s = intValue(c.start), e = intValue(c.end);
			if (s !== undefined)
				r.server_port_start = s;
			if (e !== undefined)
				r.server_port_end = e;
			if (r.rule_number === undefined)
				delete r.rule_number;
			rules[i] = r;
		});
	}

	const node = h('div', { id: 'traffic-fields' },
		h('h2', {}, 'Filters'),
		h('div', { class: 'hint' }, 'The lowest rule number is tried first; the first rule that matches decides. No rules: everything is cloned.'),
		h('table', { class: 'list', id: 'filters' },
			h('thead', {}, h('tr', {}, ['Rule #', 'Action', 'Direction', 'Client Prefix', 'Server Port From', 'To', ''].map((t) => h('th', {}, t)))),
			tbody),
		h('div', { class: 'err', 'data-err': 'filters', role: 'alert' }),
		h('div', { class: 'toolbar' }, h('button', { type: 'button', id: 'add-filter', onclick: () => {
			sync();
			const next = rules.reduce((m, r) => (typeof r.rule_number === 'number' && r.rule_number > m ? r.rule_number : m), 0);
			rules.push({ rule_number: next + 10, action: 'CLONE_FILTER_ACCEPT', direction: 'CLONE_DIR_BOTH' });
			render();
		} }, 'Add Rule')),
		h('h2', {}, 'Truncation and Flow Budget'),
		field('Snaplen (bytes)', snapIn, 'snaplen', 'Bytes of each frame a clone keeps; empty or 0 keeps whole frames.'),
		field('Max Bytes per Flow', budgetIn, 'max_bytes_per_flow', 'Payload bytes of a connection cloned whole; empty or 0: no budget.'),
		field('After the Budget', actionSel, 'budget_action', 'Frames cut to their headers, or only the frames that open and close the connection.'));
	render();

	return {
		node,
		collect() {
			sync();
			return {
				filters: rules,
				snaplen: intValue(snapIn) ?? 0,
				max_bytes_per_flow: intValue(budgetIn) ?? 0,
				budget_action: actionSel.value,
			};
		},
	};
}

/*
 * The Encapsulation part of the Clone Server sub-screen for clone server @cs
 * (entry @n, 1-based, of clone_servers). Returns {nodes, apply}: apply(out)
 * writes the fields into the server object for the API, leaving out those
 * the chosen type does not use.
 */
function cloneServerEncapFields(cs, n) {
	const typeSel = h('select', { id: 'cs-encap' }, options(ENCAPS, cs.encap_type || 'CLONE_ENCAP_NONE'));
	const vniIn = h('input', { id: 'cs-vni', inputmode: 'numeric', autocomplete: 'off', value: cs.vni ?? '' });
	const portIn = h('input', { id: 'cs-dst-port', inputmode: 'numeric', autocomplete: 'off', value: cs.dst_port ?? '' });
	const sessIn = h('input', { id: 'cs-erspan-session-id', inputmode: 'numeric', autocomplete: 'off', value: cs.erspan_session_id ?? '' });
	const vniField = field('VNI', vniIn, `clone_servers[${n}].vni`, 'VXLAN or GENEVE network identifier (0..16777215).');
	const portField = field('Destination UDP Port', portIn, `clone_servers[${n}].dst_port`);
	const sessField = field('ERSPAN Session ID', sessIn, `clone_servers[${n}].erspan_session_id`, '0..1023.');
	function sync() {
		const t = typeSel.value;
		vniField.hidden = !(t in ENCAP_PORTS);
		portField.hidden = !(t in ENCAP_PORTS);
		portIn.placeholder = t in ENCAP_PORTS ? String(ENCAP_PORTS[t]) : '';
		sessField.hidden = !t.startsWith('CLONE_ENCAP_ERSPAN');
	}
	typeSel.addEventListener('change', sync);
	sync();
	return {
		nodes: [field('Encapsulation', typeSel, `clone_servers[${n}].encap_type`,
			'None: a sensor on a directly connected network. The others: a collector any number of hops away.'),
		vniField, portField, sessField],
		apply(out) {
			for (const k of ['encap_type', 'vni', 'dst_port', 'erspan_session_id'])
				delete out[k];
			if (typeSel.value !== 'CLONE_ENCAP_NONE' || cs.encap_type)
				out.encap_type = typeSel.value;
			for (const [k, input, f] of [['vni', vniIn, vniField], ['dst_port', portIn, portField], ['erspan_session_id', sessIn, sessField]]) {
				const v = intValue(input);
				if (!f.hidden && v !== undefined)
					out[k] = v;
			}
		},
	};
}
