// e2e.mjs: end-to-end tests of the web UI in Debian's headless chromium against a running clonelbd.
//
// Usage: node web/tests/e2e.mjs --base https://127.0.0.1:8443 --token-file F --vs web
//                               [--shots DIR] [--traffic] [--ses N [--stats-only]]
// clonelbd serves HTTPS only: the script's own API calls verify its
// certificate (give it with NODE_EXTRA_CA_CERTS); chromium is told to accept
// the self-signed one.
// The virtual service --vs must exist (with a pool) and have no clone
// profile; the SE must have interface tap0 on 10.10.3.0/24 (tests/lab). With
// --traffic the script prints "WAIT traffic" once the stats page shows, reads
// one line from stdin (the caller sends traffic, then the line), and then
// requires every clone server's counters to rise on that same page without
// a reload. The stats page must have one section per SE, --ses of them
// (default 1). With --stats-only (an SE group's lab, whose service already
// has stats from every SE) only the login, the stats page's sections and
// the logout are checked. Exit status 0 when every check passed, 1
// otherwise. Run it through tests/integration/test_web.py, which sets all
// this up.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

const argv = process.argv.slice(2);
const opt = (name, def) => {
	const i = argv.indexOf(`--${name}`);
	return i === -1 ? def : argv[i + 1];
};
const flag = (name) => argv.includes(`--${name}`);
const BASE = opt('base');
const TOKEN = fs.readFileSync(opt('token-file'), 'utf8').trim();
const VS = opt('vs', 'web');
const SHOTS = opt('shots', '');
const TRAFFIC = flag('traffic');
const SES = Number(opt('ses', '1'));
const STATS_ONLY = flag('stats-only');
const PROFILE = 'ids-profile';
// Two clone servers on the lab's tap network: the tap namespace's own MAC,
// and a second, made-up one its promiscuous interface still receives.
const SERVERS = [
	{ ip: '10.10.3.2', mac: '02:fc:00:00:03:02' },
	{ ip: '10.10.3.3', mac: '02:fc:00:00:03:03' },
];

if (!BASE || !TOKEN) {
	console.error('usage: e2e.mjs --base URL --token-file FILE [--vs NAME] [--shots DIR] [--traffic]');
	process.exit(2);
}

let failures = 0;
function check(cond, what, detail = '') {
	if (cond) {
		console.log(`  ok: ${what}`);
	} else {
		failures++;
		console.log(`  FAIL: ${what}${detail ? `: ${detail}` : ''}`);
	}
}

// The API as a script sees it, with the bearer token: how checks confirm
// what the UI claims, e.g. that nothing was saved after an error.
// References come as URLs with "#name" (?include_name): checks compare the names.
function named(v) {
	if (Array.isArray(v))
		return v.map(named);
	if (typeof v === 'string' && /^(https?:\/\/[^/]*)?\/api\/.*#/.test(v))
		return v.slice(v.indexOf('#') + 1);
	if (!v || typeof v !== 'object')
		return v;
	return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, named(x)]));
}

async function apiGet(p) {
	const r = await fetch(BASE + p + (p.includes('?') ? '&' : '?') + 'include_name',
		{ headers: { Authorization: `Bearer ${TOKEN}` } });
	return { status: r.status, body: r.status === 200 ? named(await r.json()) : await r.text() };
}

async function apiPost(p, body) {
	const r = await fetch(BASE + p, {
		method: 'POST', body: JSON.stringify(body),
		headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
	});
	if (r.status !== 201)
		throw new Error(`POST ${p}: ${r.status} ${await r.text()}`);
}

async function shot(page, name) {
	if (!SHOTS)
		return;
	fs.mkdirSync(SHOTS, { recursive: true });
	await page.screenshot({ path: path.join(SHOTS, name), fullPage: true });
	console.log(`  screenshot: ${path.join(SHOTS, name)}`);
}

const stdinLines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();

// A step marked ANY runs in every lab; the others need the single-SE lab
// and are left out with --stats-only.
const ANY = true;
async function step(name, fn, any = false) {
	if (STATS_ONLY && !any)
		return;
	console.log(`== ${name}`);
	try {
		await fn();
	} catch (e) {
		failures++;
		console.log(`  FAIL: ${name}: ${e.message.split('\n')[0]}`);
		// What the page showed, for whoever reads the test log.
		console.log(`  at ${page.url()}; page text: ${(await page.locator('body').innerText().catch(() => '?')).replace(/\s+/g, ' ').slice(0, 600)}`);
		if (SHOTS)
			await shot(page, 'failed.png').catch(() => {});
		throw e; // later steps build on this one
	}
}

const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'clonelb-ui-chromium-'));
const ctx = await chromium.launchPersistentContext(userDir, {
	executablePath: '/usr/bin/chromium',
	headless: true,
	args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
		'--disable-background-networking', '--disable-component-update', '--disable-sync'],
	viewport: { width: 1200, height: 800 },
	ignoreHTTPSErrors: true,
});
const page = ctx.pages()[0] || await ctx.newPage();
page.setDefaultTimeout(20000);
const pageErrors = [];
page.on('pageerror', (e) => pageErrors.push(e.message));
// Console errors too: a CSP violation or a failed load is a defect. The
// API's expected refusals (401 before login, 4xx on bad input) are not.
page.on('console', (m) => {
	if (m.type() === 'error' && !/status of (401|400|404|409)/.test(m.text()))
		pageErrors.push(`console: ${m.text()}`);
});

const text = (sel) => page.locator(sel).innerText();
// The stats page's section of the SE that answers the API (its first entry).
let SE = '#clone-stats section.se-stats';

// Chromium aborts a navigation with ERR_NETWORK_CHANGED when an interface of
// its network namespace comes or goes (the lab's veths, other tests' labs),
// or reports it as a navigation interrupted by another one (its error page,
// or the login page loading itself again);
// that is the browser's reaction, not an answer of clonelbd, so the
// navigation is tried again, at most three times in all.
async function gotoPage(pg, url) {
	for (let attempt = 1; ; attempt++) {
		try {
			return await pg.goto(url);
		} catch (e) {
			if (attempt >= 5 || !/ERR_NETWORK_CHANGED|interrupted by another navigation/.test(String(e)))
				throw e;
			// The navigation that interrupted this one runs first: let it end.
			await pg.waitForLoadState('load').catch(() => {});
		}
	}
}

try {
	await step('without the token only the login page is served', async () => {
		for (const p of ['/', '/index.html', '/#/templates/profiles/trafficclone']) {
			const r = await gotoPage(page, BASE + p);
			check(r.status() === 200 && await page.locator('#login-form').count() === 1 &&
				await page.locator('#main').count() === 0, `GET ${p} without the token shows the login page`);
		}
		const r = await page.request.get(`${BASE}/api/trafficcloneprofile`);
		check(r.status() === 401, 'the API answers 401 without the token', `got ${r.status()}`);
	}, ANY);

	await step('a wrong token is refused beside the token field', async () => {
		await page.fill('#token', 'not-the-token');
		await page.click('#login');
		await page.locator('[data-err="token"]').filter({ hasText: 'wrong token' }).waitFor();
		check(await page.locator('#main').count() === 0, 'still on the login page');
	}, ANY);

	await step('the right token logs in', async () => {
		await page.fill('#token', TOKEN);
		await page.click('#login');
		// The last page asked for was the profiles list: login reloads it.
		await page.locator('#profiles').waitFor();
		check(true, 'after login the page first asked for shows');
		const cookies = await ctx.cookies(BASE);
		const c = cookies.find((x) => x.name === 'clonelb_session');
		check(c && c.httpOnly && c.secure && c.sameSite === 'Strict',
			'the session cookie is Secure, HttpOnly and SameSite=Strict', JSON.stringify(c));
		check(c && c.value !== TOKEN && !c.value.includes(TOKEN) && /^[0-9a-f]{64}$/.test(c.value),
			'the session cookie holds a session id, not the token');
		check(!cookies.some((x) => x.value.includes(TOKEN)), 'no cookie holds the token');
	}, ANY);

	await step('create a traffic clone profile with two clone servers', async () => {
		await page.click('#nav-tcp');
		await page.locator('#profiles').waitFor();
		await page.click('#create-profile');
		await page.locator('#profile-form').waitFor();
		check(await page.locator('#cloud').count() === 0 && (await text('#cloud-name')) === 'Default-Cloud',
			'with one cloud the cloud is chosen and no Set Cloud selector shows');
		await page.fill('#profile-name', PROFILE);
		for (const [i, sv] of SERVERS.entries()) {
			await page.click('#add-clone-server');
			await page.locator('#clone-server-form').waitFor();
			check(await page.locator('#cs-subnet').isHidden(), `server ${i + 1}: no Subnet field before a network is chosen`);
			await page.selectOption('#cs-network', 'tap0');
			check(await page.locator('#cs-subnet').isVisible(), `server ${i + 1}: Subnet offered for tap0`);
			await page.selectOption('#cs-subnet', '10.10.3.0/24');
			await page.fill('#cs-ip', sv.ip);
			await page.fill('#cs-mac', sv.mac);
			if (i === 1)
				await shot(page, 'ui-profile-edit.png');
			await page.click('#cs-save');
			await page.locator(`#clone-servers tr[data-index="${i + 1}"]`).waitFor();
		}
		await page.click('#save-profile');
		await page.locator(`#profiles tr[data-name="${PROFILE}"]`).waitFor();
		const { status, body } = await apiGet(`/api/trafficcloneprofile/${PROFILE}`);
		check(status === 200, 'the API has the profile', `status ${status}`);
		const cs = (body && body.clone_servers) || [];
		check(cs.length === 2 && SERVERS.every((sv, i) => cs[i].ip_address.addr === sv.ip && cs[i].mac === sv.mac &&
			cs[i].network_ref === 'tap0' && cs[i].subnet.ip_addr.addr === '10.10.3.0' && cs[i].subnet.mask === 24),
		'both clone servers stored in order with network, subnet, IP and MAC', JSON.stringify(cs));
		check(body.cloud_ref === 'Default-Cloud' && body.preserve_client_ip === false, 'cloud and Preserve Client IP stored');
	});

	await step('a bad MAC is shown beside the MAC field and nothing is saved', async () => {
		const before = (await apiGet('/api/trafficcloneprofile')).body.count;
		await page.click('#create-profile');
		await page.fill('#profile-name', 'bad-mac');
		await page.click('#add-clone-server');
		await page.selectOption('#cs-network', 'tap0');
		await page.fill('#cs-ip', '10.10.3.4');
		await page.fill('#cs-mac', 'zz:zz');
		await page.click('#cs-save');
		await page.click('#save-profile');
		const slot = page.locator('[data-err="clone_servers[1].mac"]');
		await slot.filter({ hasText: 'invalid MAC address' }).waitFor();
		await shot(page, 'ui-profile-error.png');
		check(await slot.isVisible() && (await slot.innerText()).includes('zz:zz'), 'the error names the value, beside the MAC field',
			await slot.innerText());
		const sameField = await page.locator('#cs-mac').evaluate((el, s) => el.closest('.field') === s.closest('.field'),
			await slot.elementHandle());
		check(sameField, 'the error sits in the MAC Address field');
		const other = await page.locator('.err:not(:empty)').count();
		check(other === 1, 'no other field shows an error', `${other} error slots filled`);
		const after = await apiGet('/api/trafficcloneprofile');
		check((await apiGet('/api/trafficcloneprofile/bad-mac')).status === 404 && after.body.count === before,
			'the API has no profile bad-mac and the count is unchanged');

		// Fixed MAC, taken name: now the error goes beside Name.
		await page.fill('#cs-mac', '02:fc:00:00:03:04');
		await page.click('#cs-save');
		await page.fill('#profile-name', PROFILE);
		await page.click('#save-profile');
		const nameErr = page.locator('[data-err="name"]');
		await nameErr.filter({ hasText: 'already exists' }).waitFor();
		check(true, 'a taken name is refused beside the Name field');
		const prof = await apiGet(`/api/trafficcloneprofile/${PROFILE}`);
		check(prof.body.clone_servers.length === 2 && (await apiGet('/api/trafficcloneprofile')).body.count === before,
			'the existing profile is untouched');
		await page.click('#nav-tcp');
		await page.locator(`#profiles tr[data-name="${PROFILE}"]`).waitFor();
	});

	await step('attach the profile to the virtual service', async () => {
		await page.click('#nav-vs');
		const row = page.locator(`#virtualservices tr[data-name="${VS}"]`);
		await row.waitFor();
		check((await row.locator('.clone-profile').innerText()) === 'None', 'the list shows no clone profile yet');
		await row.getByText('Edit', { exact: true }).click();
		await page.locator('#vs-form').waitFor();
		await page.click('#tabbtn-advanced');
		await page.selectOption('#traffic-clone-profile', PROFILE);
		await shot(page, 'ui-virtualservice.png');
		await page.click('#save-vs');
		await row.locator('.clone-profile').filter({ hasText: PROFILE }).waitFor();
		const vs = await apiGet(`/api/virtualservice/${VS}`);
		check(vs.body.traffic_clone_profile_ref === PROFILE, 'the API shows the profile on the virtual service');
		await page.locator(`#virtualservices tr[data-name="${VS}"] .health .badge:not(.unknown)`).waitFor({ timeout: 5000 })
			.catch(() => {});
		await shot(page, 'ui-virtualservices.png');
	});

	await step('the virtual service form shows and edits its SE group and route health injection', async () => {
		await apiPost('/api/serviceenginegroup', { name: 'edge', ha_mode: 'HA_MODE_SHARED' });
		const edit = async () => {
			await page.click('#nav-vs');
			await page.locator(`#virtualservices tr[data-name="${VS}"]`).getByText('Edit', { exact: true }).click();
			await page.locator('#vs-form').waitFor();
		};
		await edit();
		check(await page.inputValue('#vs-se-group') === 'Default-Group', 'the form shows the built-in group');
		check(!(await page.isChecked('#vs-enable-rhi')), 'route health injection is off by default');
		await page.selectOption('#vs-se-group', 'edge');
		await page.check('#vs-enable-rhi');
		await page.click('#save-vs');
		await page.locator(`#virtualservices tr[data-name="${VS}"]`).waitFor();
		let vs = (await apiGet(`/api/virtualservice/${VS}`)).body;
		check(vs.se_group_ref === 'edge' && vs.enable_rhi === true, 'the API shows the group and enable_rhi',
			JSON.stringify([vs.se_group_ref, vs.enable_rhi]));
		// Back as it was: this SE serves Default-Group only.
		await edit();
		check(await page.inputValue('#vs-se-group') === 'edge', 'the form shows the saved group');
		await page.selectOption('#vs-se-group', 'Default-Group');
		await page.uncheck('#vs-enable-rhi');
		await page.click('#save-vs');
		await page.locator(`#virtualservices tr[data-name="${VS}"]`).waitFor();
		vs = (await apiGet(`/api/virtualservice/${VS}`)).body;
		check(vs.se_group_ref === 'Default-Group' && vs.enable_rhi === false, 'and back to Default-Group');
	});

	await step('a profile in use cannot be deleted, and the API says why', async () => {
		await page.click('#nav-tcp');
		const row = page.locator(`#profiles tr[data-name="${PROFILE}"]`);
		await row.locator('[data-action="delete"]').click();
		await row.locator('[data-action="delete"]').filter({ hasText: 'Confirm' }).click();
		await row.locator('.err').filter({ hasText: 'in use by virtualservice' }).waitFor();
		await shot(page, 'ui-profiles.png');
		check((await apiGet(`/api/trafficcloneprofile/${PROFILE}`)).status === 200, 'the profile is still there');
	});

	await step('a profile deleted while the virtual service form is open: the error is beside the select', async () => {
		await apiPost('/api/trafficcloneprofile', { name: 'spare', clone_servers: [] });
		await page.click('#nav-vs');
		await page.locator(`#virtualservices tr[data-name="${VS}"]`).getByText('Edit', { exact: true }).click();
		await page.click('#tabbtn-advanced');
		await page.selectOption('#traffic-clone-profile', 'spare');
		await page.click('#tabbtn-settings'); // the error must bring its tab back
		// Someone else deletes 'spare' meanwhile, through the UI's list.
		const other = await ctx.newPage();
		await gotoPage(other, `${BASE}/#/templates/profiles/trafficclone`);
		const row = other.locator('#profiles tr[data-name="spare"]');
		await row.locator('[data-action="delete"]').click();
		await row.locator('[data-action="delete"]').filter({ hasText: 'Confirm' }).click();
		await row.waitFor({ state: 'detached' });
		await other.close();
		check((await apiGet('/api/trafficcloneprofile/spare')).status === 404, 'a profile not in use is deleted from its row');
		await page.click('#save-vs');
		const slot = page.locator('[data-err="traffic_clone_profile_ref"]');
		await slot.filter({ hasText: "'spare' does not exist" }).waitFor();
		check(await slot.isVisible(), 'the error shows beside Traffic Clone Profile, on the Advanced tab');
		check((await apiGet(`/api/virtualservice/${VS}`)).body.traffic_clone_profile_ref === PROFILE,
			'the virtual service keeps its profile');
	});

	await step('the clone stats page shows one table per SE, headed by its name', async () => {
		await page.click('#nav-vs');
		await page.locator(`#virtualservices tr[data-name="${VS}"]`).getByText('Clone Stats').click();
		// Each entry's section is headed by the name /api/serviceengine gives
		// its se_uuid: --ses of them (the single-SE lab has one).
		const ses = (await apiGet('/api/serviceengine')).body.results;
		const entries = (await apiGet(`/api/virtualservice/${VS}/traffic_clone_stats`)).body
			.filter((e) => e.proc_id === 'PROC_Aggregate');
		check(entries.length === SES && entries.every((e) => ses.some((se) => se.uuid === e.se_uuid)),
			`${SES} entries in traffic_clone_stats, each naming an SE of /api/serviceengine`,
			JSON.stringify([entries.map((e) => e.se_uuid), ses]));
		for (const e of entries) {
			const se = ses.find((x) => x.uuid === e.se_uuid);
			const want = `Service Engine: ${se ? se.name : e.se_uuid}`;
			const heading = page.locator(`#clone-stats section[data-se-uuid="${e.se_uuid}"] h2.se-name`);
			await heading.filter({ hasText: want }).waitFor();
			check((await heading.innerText()) === want, `the section of ${e.se_uuid} is headed "${want}"`);
			check((await page.locator(`#clone-stats section[data-se-uuid="${e.se_uuid}"] .se-uuid`).innerText()) === e.se_uuid,
				'and shows its se_uuid');
		}
		const sections = await page.locator('#clone-stats section.se-stats').count();
		check(sections === entries.length, `one section per entry (${entries.length})`, `${sections} sections`);
		// In a group whose traffic is over, each section shows what its own
		// SE cloned, as the API says it.
		for (const e of STATS_ONLY ? entries : []) {
			const total = (e.clone_srvr_stats || []).reduce((n, sv) => n + (sv.num_total_pkts_cloned || 0), 0);
			const cells = `#clone-stats section[data-se-uuid="${e.se_uuid}"] td[data-counter="num_total_pkts_cloned"]`;
			check(total > 0, `SE ${e.se_uuid} has cloned frames`, JSON.stringify(e));
			await page.waitForFunction(([sel, want]) =>
				[...document.querySelectorAll(sel)].reduce((n, c) => n + Number(c.textContent), 0) === want, [cells, total]);
			check(true, `the section of ${e.se_uuid} shows its own ${total} frames cloned`);
		}
		SE = `#clone-stats section[data-se-uuid="${entries[0].se_uuid}"]`;
		if (STATS_ONLY)
			await shot(page, 'ui-stats-group.png');
	}, ANY);

	await step('the clone stats page lists the clone servers and refreshes live', async () => {
		for (const sv of SERVERS)
			await page.locator(`${SE} tr[data-ip="${sv.ip}"]`).waitFor();
		check(true, 'one row per clone server');
		const count = async (ip, counter) =>
			Number(await page.locator(`${SE} tr[data-ip="${ip}"] td[data-counter="${counter}"]`).innerText());
		// The status line changes on every poll: the page is refreshing itself.
		const s1 = await text('#stats-status');
		await page.waitForFunction((s) => document.getElementById('stats-status').textContent !== s, s1);
		check(true, 'the page polls the API');
		// Each clone server's health (a configured MAC: never watched, so up) and the
		// counters of every reason a frame was not cloned whole.
		for (const sv of SERVERS)
			await page.locator(`${SE} tr[data-ip="${sv.ip}"] td[data-field="oper_state"] .badge.up`).waitFor();
		check(true, 'every clone server shows its state: Up');
		for (const c of ['num_filtered', 'num_truncated', 'num_budget_skipped', 'num_mtu_truncated', 'num_no_mac', 'num_no_interface', 'num_failover'])
			check((await page.locator(`${SE} tr[data-ip="${SERVERS[0].ip}"] td[data-counter="${c}"]`).innerText()) === '0',
				`the stats page shows ${c}`);
		if (!TRAFFIC) {
			await shot(page, 'ui-stats.png');
			return;
		}
		const before = {};
		for (const sv of SERVERS)
			before[sv.ip] = await count(sv.ip, 'num_total_pkts_cloned');
		console.log(`  counters before traffic: ${JSON.stringify(before)}`);
		console.log('WAIT traffic');
		const line = await stdinLines.next();
		if (line.done)
			throw new Error('stdin closed before the traffic was sent');
		// The same page, never reloaded, must show every clone server's
		// counters rising: frames cloned, and succeeded.
		for (const sv of SERVERS) {
			await page.waitForFunction(([se, ip, b]) => {
				const cell = (c) => Number(document.querySelector(`${se} tr[data-ip="${ip}"] td[data-counter="${c}"]`)?.textContent);
				return cell('num_total_pkts_cloned') > b && cell('num_succeeded') > 0;
			}, [SE, sv.ip, before[sv.ip]], { timeout: 60000 });
			const after = await count(sv.ip, 'num_total_pkts_cloned');
			check(after > before[sv.ip], `clone server ${sv.ip}: frames cloned rose from ${before[sv.ip]} to ${after}`);
		}
		// The chart draws a line once a server has two samples with a rate.
		await page.waitForFunction(([se, n]) => document.querySelectorAll(`${se} svg.clone-chart path.series`).length === n,
			[SE, SERVERS.length]);
		check(true, 'the chart draws a line per clone server');
		const api = (await apiGet(`/api/virtualservice/${VS}/traffic_clone_stats`)).body;
		const agg = api.find((e) => e.proc_id === 'PROC_Aggregate');
		if (agg && agg.last_reset)
			check((await text(`${SE} .last-reset`)).includes(agg.last_reset), 'the last reset time is shown', await text(`${SE} .last-reset`));
		// A few more samples so the picture shows the rate while traffic
		// still flows; then the caller's second line says it is done.
		await page.waitForTimeout(5000);
		await shot(page, 'ui-stats.png');
		await stdinLines.next();
	});

	await step('editing the profile and a clone server saves just the changes and resets the stats', async () => {
		const before = (await apiGet(`/api/virtualservice/${VS}/traffic_clone_stats`)).body
			.find((e) => e.proc_id === 'PROC_Aggregate');
		await page.click('#nav-tcp');
		await page.locator(`#profiles tr[data-name="${PROFILE}"]`).getByText('Edit', { exact: true }).click();
		await page.locator('#profile-form').waitFor();
		check((await page.inputValue('#profile-name')) === PROFILE, 'the form shows the stored name');
		check(await page.locator('#clone-servers tr[data-index]').count() === 2, 'the form lists both clone servers');
		await page.check('#preserve-client-ip');
		await page.check('#plaintext-for-tls-pools');
		// Server 2 through its sub-screen: the form shows what is stored.
		await page.locator('#clone-servers tr[data-index="2"]').getByText('Edit', { exact: true }).click();
		check((await page.inputValue('#cs-network')) === 'tap0' && (await page.inputValue('#cs-subnet')) === '10.10.3.0/24' &&
			(await page.inputValue('#cs-ip')) === SERVERS[1].ip && (await page.inputValue('#cs-mac')) === SERVERS[1].mac,
		'the Clone Server sub-screen shows the stored network, subnet, IP and MAC');
		await page.fill('#cs-mac', '02:fc:00:00:03:05');
		await page.click('#cs-save');
		await page.click('#save-profile');
		await page.locator(`#profiles tr[data-name="${PROFILE}"]`).waitFor();
		const prof = (await apiGet(`/api/trafficcloneprofile/${PROFILE}`)).body;
		check(prof.preserve_client_ip === true, 'Preserve Client IP saved');
		check(prof.plaintext_for_tls_pools === true, 'Plaintext for TLS Pools saved');
		const [a, b] = prof.clone_servers;
		check(prof.clone_servers.length === 2 && a.mac === SERVERS[0].mac && a.ip_address.addr === SERVERS[0].ip &&
			b.mac === '02:fc:00:00:03:05' && b.ip_address.addr === SERVERS[1].ip && b.network_ref === 'tap0' &&
			b.subnet.ip_addr.addr === '10.10.3.0',
		'server 1 kept as it was, server 2 with its new MAC and the rest unchanged', JSON.stringify(prof.clone_servers));
		if (before && before.last_reset) {
			await page.click('#nav-vs');
			await page.locator(`#virtualservices tr[data-name="${VS}"]`).getByText('Clone Stats').click();
			await page.waitForFunction(([se, old]) => {
				const t = document.querySelector(`${se} .last-reset`)?.textContent || '';
				return t && !t.includes(old) && t !== '—';
			}, [SE, before.last_reset]);
			check(true, 'the stats page shows a new last reset time');
		}
	});

	await step('the profile page edits filters, snaplen and the flow budget; a bad rule is shown on its row', async () => {
		await page.click('#nav-tcp');
		await page.locator(`#profiles tr[data-name="${PROFILE}"]`).getByText('Edit', { exact: true }).click();
		await page.locator('#profile-form').waitFor();
		check((await page.locator('#filters tbody tr[data-index]').count()) === 0, 'no filter rules yet');
		await page.click('#add-filter');
		await page.click('#add-filter');
		const row = (n) => page.locator(`#filters tr[data-index="${n}"]`);
		check((await row(1).locator('.f-rule').inputValue()) === '10' && (await row(2).locator('.f-rule').inputValue()) === '20',
			'new rules are numbered 10, 20');
		await row(1).locator('.f-action').selectOption('CLONE_FILTER_REJECT');
		await row(1).locator('.f-direction').selectOption('CLONE_DIR_TO_SERVER');
		await row(1).locator('.f-prefix').fill('10.10.1.0/24');
		await row(1).locator('.f-port-start').fill('8080');
		await row(1).locator('.f-port-end').fill('80');
		await page.fill('#snaplen', '128');
		await page.fill('#max-bytes-per-flow', '4096');
		await page.selectOption('#budget-action', 'CLONE_BUDGET_STOP');
		await page.click('#save-profile');
		const slot = page.locator('[data-err="filters[1]"]');
		await slot.filter({ hasText: 'inverted port range' }).waitFor();
		check((await slot.innerText()).includes('80 is below server_port_start 8080'), 'the inverted range is shown on its row, naming the values',
			await slot.innerText());
		check(!(await apiGet(`/api/trafficcloneprofile/${PROFILE}`)).body.filters.length, 'nothing was saved');
		await shot(page, 'ui-profile-filters.png');
		await row(1).locator('.f-port-start').fill('80');
		await page.click('#save-profile');
		await page.locator(`#profiles tr[data-name="${PROFILE}"]`).waitFor();
		const prof = (await apiGet(`/api/trafficcloneprofile/${PROFILE}`)).body;
		const [a, b] = prof.filters || [];
		check(prof.filters.length === 2 && a.rule_number === 10 && a.action === 'CLONE_FILTER_REJECT' &&
			a.direction === 'CLONE_DIR_TO_SERVER' && a.client_prefix.ip_addr.addr === '10.10.1.0' && a.client_prefix.mask === 24 &&
			a.server_port_start === 80 && a.server_port_end === 80 && b.rule_number === 20 && b.action === 'CLONE_FILTER_ACCEPT' &&
			!('client_prefix' in b) && !('server_port_start' in b),
		'both rules stored as entered', JSON.stringify(prof.filters));
		check(prof.snaplen === 128 && prof.max_bytes_per_flow === 4096 && prof.budget_action === 'CLONE_BUDGET_STOP',
			'snaplen and the budget stored', JSON.stringify([prof.snaplen, prof.max_bytes_per_flow, prof.budget_action]));
		// The form shows them back, and removing a rule removes it.
		await page.locator(`#profiles tr[data-name="${PROFILE}"]`).getByText('Edit', { exact: true }).click();
		await page.locator('#filters tr[data-index="2"]').waitFor();
		check((await page.inputValue('#snaplen')) === '128' && (await row(1).locator('.f-prefix').inputValue()) === '10.10.1.0/24',
			'the form shows the stored snaplen and rules');
		await row(2).getByText('Remove').click();
		await page.click('#save-profile');
		await page.locator(`#profiles tr[data-name="${PROFILE}"]`).waitFor();
		const after = (await apiGet(`/api/trafficcloneprofile/${PROFILE}`)).body;
		check(after.filters.length === 1 && after.filters[0].rule_number === 10, 'the removed rule is gone', JSON.stringify(after.filters));
	});

	await step('the clone server sub-screen offers the encapsulation fields', async () => {
		await page.locator(`#profiles tr[data-name="${PROFILE}"]`).getByText('Edit', { exact: true }).click();
		await page.locator('#clone-servers tr[data-index="1"]').getByText('Edit', { exact: true }).click();
		check((await page.inputValue('#cs-encap')) === 'CLONE_ENCAP_NONE', 'a directly connected server shows None');
		check(await page.locator('#cs-vni').isHidden() && await page.locator('#cs-erspan-session-id').isHidden(),
			'no VNI or session id for None');
		await page.selectOption('#cs-encap', 'CLONE_ENCAP_VXLAN');
		check(await page.locator('#cs-vni').isVisible() && (await page.getAttribute('#cs-dst-port', 'placeholder')) === '4789' &&
			await page.locator('#cs-erspan-session-id').isHidden(), 'VXLAN: VNI and port 4789 offered');
		await page.selectOption('#cs-encap', 'CLONE_ENCAP_ERSPAN_III');
		check(await page.locator('#cs-erspan-session-id').isVisible() && await page.locator('#cs-vni').isHidden(),
			'ERSPAN III: the session id offered');
		await page.selectOption('#cs-encap', 'CLONE_ENCAP_VXLAN');
		await page.fill('#cs-vni', '16777216');
		await page.click('#cs-save');
		await page.click('#save-profile');
		const slot = page.locator('[data-err="clone_servers[1].vni"]');
		await slot.filter({ hasText: '16777216' }).waitFor();
		check(await slot.isVisible(), 'a VNI over 2^24 is refused beside the VNI field', await slot.innerText());
		await page.fill('#cs-vni', '4242');
		await page.click('#cs-save');
		await page.click('#save-profile');
		await page.locator(`#profiles tr[data-name="${PROFILE}"]`).waitFor();
		const cs = (await apiGet(`/api/trafficcloneprofile/${PROFILE}`)).body.clone_servers[0];
		check(cs.encap_type === 'CLONE_ENCAP_VXLAN' && cs.vni === 4242, 'VXLAN and the VNI stored', JSON.stringify(cs));
	});

	await step('log out', async () => {
		await page.click('#logout');
		await page.locator('#login-form').waitFor();
		await gotoPage(page, `${BASE}/`);
		check(await page.locator('#login-form').count() === 1, 'after logging out / shows the login page again');
	}, ANY);
} catch (e) {
	// Already counted by step(); the remaining steps depend on it.
	console.log(`  (stopped: ${e.message.split('\n')[0]})`);
} finally {
	check(pageErrors.length === 0, 'no JavaScript errors in the page', pageErrors.join('; '));
	await ctx.close();
	fs.rmSync(userDir, { recursive: true, force: true });
}
console.log(failures ? `e2e: ${failures} check(s) failed` : 'e2e: all checks passed');
process.exit(failures ? 1 : 0);
