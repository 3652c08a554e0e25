#!/usr/bin/env node
// Opens every page of the built course site in headless Chromium and checks that it renders whole.
//
//   node tools/check_site.mjs build/site [--jobs N] [--screenshots DIR]
//
// The site is served by a small static server on 127.0.0.1 (a free port), and Debian's Chromium
// ($CHROMIUM, default /usr/bin/chromium) is driven by playwright-core (tools/node_modules; no
// browser is downloaded). For every HTML file of the site it fails (exit 1, listing each problem
// with the page it was found on) on:
//   - a request for the site's own files that fails or answers 400 or more;
//   - any request that leaves 127.0.0.1 (the site must work offline: no fonts, scripts or images
//     from the internet);
//   - an <img> that did not load (naturalWidth 0);
//   - a link (<a href>) into the site whose file does not exist, or whose #fragment names no
//     element of the page it points to;
//   - a JavaScript error on the page;
//   - Chinese text in the page's content that Chromium draws without a CJK font (tofu).
// Links to other sites are counted, not followed (the check runs without a network).
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');

// ------------------------------------------------------------------------------------ arguments

function usage(msg) {
  if (msg) console.error(`check_site: ${msg}`);
  console.error('usage: node tools/check_site.mjs SITE_DIR [--jobs N] [--screenshots DIR]');
  process.exit(2);
}

const argv = process.argv.slice(2);
let siteDir = null;
let jobs = 3;
let shotsDir = null;
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--jobs') jobs = Number(argv[++i]);
  else if (a === '--screenshots') shotsDir = argv[++i];
  else if (a === '-h' || a === '--help') usage();
  else if (a.startsWith('-')) usage(`unknown option ${a}`);
  else if (siteDir === null) siteDir = a;
  else usage(`unexpected argument ${a}`);
}
if (!siteDir) usage('no site folder given');
siteDir = path.resolve(siteDir);
if (!fs.existsSync(path.join(siteDir, 'index.html'))) usage(`${siteDir} has no index.html: build the site first (./dtlab docs)`);
if (!(jobs >= 1 && jobs <= 16)) usage('--jobs must be 1..16');
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
if (!fs.existsSync(executablePath)) usage(`no Chromium at ${executablePath} (set CHROMIUM)`);

// ------------------------------------------------------------------------------------ the site

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png',
  '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.gif': 'image/gif', '.webp': 'image/webp',
  '.ico': 'image/x-icon', '.woff': 'font/woff', '.woff2': 'font/woff2', '.ttf': 'font/ttf',
  '.xml': 'application/xml', '.gz': 'application/gzip', '.map': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
};

// The file a URL path names, or null. A folder means its index.html, as static hosts do.
function fileFor(urlPath) {
  let p;
  try {
    p = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  const full = path.normalize(path.join(siteDir, p));
  if (full !== siteDir && !full.startsWith(siteDir + path.sep)) return null;
  let st;
  try {
    st = fs.statSync(full);
  } catch {
    return null;
  }
  if (st.isDirectory()) {
    const index = path.join(full, 'index.html');
    return fs.existsSync(index) ? index : null;
  }
  return st.isFile() ? full : null;
}

function listHtml(dir) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...listHtml(p));
    else if (e.name.endsWith('.html')) out.push(p);
  }
  return out;
}

const server = http.createServer((req, res) => {
  const u = new URL(req.url, 'http://127.0.0.1');
  const file = req.method === 'GET' || req.method === 'HEAD' ? fileFor(u.pathname) : null;
  if (!file) {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('not found\n');
    return;
  }
  const type = TYPES[path.extname(file).toLowerCase()] || 'text/plain; charset=utf-8';
  res.writeHead(200, { 'content-type': type, 'cache-control': 'max-age=600' });
  if (req.method === 'HEAD') res.end();
  else fs.createReadStream(file).pipe(res);
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const origin = `http://127.0.0.1:${server.address().port}`;

// ------------------------------------------------------------------------------------ checking

const problems = []; // { page, what }
const problem = (page, what) => problems.push({ page, what });
const rel = (u) => {
  try {
    const x = new URL(u);
    return x.origin === origin ? decodeURIComponent(x.pathname).replace(/^\//, '') + x.hash : u;
  } catch {
    return u;
  }
};

const pages = listHtml(siteDir).map((f) => path.relative(siteDir, f).split(path.sep).join('/')).sort();
const idsOf = new Map(); // page path -> Set of ids
const linksFrom = []; // { page, href, target, fragment }
let imagesChecked = 0;
let externalLinks = 0;
let cjkPages = 0;
let requests = 0;

const CJK = /[\u3400-\u9fff\uf900-\ufaff]/;
const CJK_FONT = /CJK|Han Sans|Han Serif|PingFang|YaHei|WenQuanYi|Droid Sans Fallback|AR PL|Noto Sans SC|Noto Serif SC|SimSun|SimHei/i;

const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dtlab-check-site-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath,
  headless: true,
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--disable-dev-shm-usage', // containers often have a tiny /dev/shm
  ],
  viewport: { width: 1280, height: 900 },
  offline: false,
});

const current = new Map(); // Page -> site path being checked
const pageOf = (request) => {
  try {
    return current.get(request.frame().page()) ?? '(a page being checked)';
  } catch {
    return '(a worker of a page being checked)'; // requests of workers have no frame
  }
};
await context.route('**/*', (route) => {
  const u = route.request().url();
  if (u.startsWith(origin + '/') || u.startsWith('data:') || u.startsWith('blob:')) return route.continue();
  const page = pageOf(route.request());
  problem(page, `external request ${u} (the site must work offline)`);
  return route.abort('blockedbyclient');
});

async function checkPage(page, sitePath) {
  current.set(page, sitePath);
  const errors = [];
  const onFailed = (r) => {
    // net::ERR_ABORTED is the browser cancelling a request, not the file failing: under load the
    // previous page's search-index fetch is still in flight when the next page is opened. A
    // missing file answers 404 (onResponse), an external request is reported by the route above.
    const why = r.failure()?.errorText;
    if (r.url().startsWith(origin) && why !== 'net::ERR_ABORTED') errors.push(`request failed: ${rel(r.url())} (${why})`);
  };
  const onResponse = (r) => {
    requests++;
    if (r.url().startsWith(origin) && r.status() >= 400) errors.push(`HTTP ${r.status()} for ${rel(r.url())}`);
  };
  const onError = (e) => errors.push(`JavaScript error: ${e.message.split('\n')[0]}`);
  page.on('requestfailed', onFailed);
  page.on('response', onResponse);
  page.on('pageerror', onError);
  try {
    const resp = await page.goto(`${origin}/${sitePath}`, { waitUntil: 'load', timeout: 30000 });
    if (!resp || resp.status() >= 400) errors.push(`the page itself answered ${resp ? resp.status() : 'nothing'}`);
    await page.waitForLoadState('networkidle', { timeout: 5000 }).catch(() => {});
    const found = await page.evaluate(async () => {
      // Images: make lazy ones load, wait for every one to finish, then look at what arrived.
      const imgs = [...document.images];
      await Promise.all(imgs.map((img) => {
        if (img.loading === 'lazy') img.loading = 'eager';
        if (img.complete) return null;
        return new Promise((resolve) => {
          img.addEventListener('load', resolve, { once: true });
          img.addEventListener('error', resolve, { once: true });
          setTimeout(resolve, 10000);
        });
      }));
      const images = imgs.map((img) => ({ src: img.currentSrc || img.src, ok: img.complete && img.naturalWidth > 0 }));
      const links = [...document.querySelectorAll('a[href]')].map((a) => a.href);
      const ids = [...document.querySelectorAll('[id]')].map((e) => e.id)
        .concat([...document.querySelectorAll('a[name]')].map((a) => a.name));
      // The first element of the content whose own text is Chinese, marked for the font probe.
      let cjk = false;
      const content = document.querySelector('article') || document.body;
      const walker = document.createTreeWalker(content, NodeFilter.SHOW_TEXT);
      for (let n = walker.nextNode(); n; n = walker.nextNode()) {
        if (/[\u3400-\u9fff\uf900-\ufaff]/.test(n.nodeValue) && n.parentElement && n.parentElement.offsetParent !== null) {
          n.parentElement.setAttribute('data-cjk-probe', '');
          cjk = true;
          break;
        }
      }
      return { images, links, ids, cjk };
    });
    idsOf.set(sitePath, new Set(found.ids));
    for (const img of found.images) {
      imagesChecked++;
      if (!img.ok) errors.push(`image did not load: ${rel(img.src)}`);
    }
    for (const href of found.links) {
      let u;
      try {
        u = new URL(href);
      } catch {
        errors.push(`malformed link ${href}`);
        continue;
      }
      if (u.origin !== origin) {
        if (u.protocol === 'http:' || u.protocol === 'https:') externalLinks++;
        continue;
      }
      const target = fileFor(u.pathname);
      const fragment = u.hash ? decodeURIComponent(u.hash.slice(1)) : '';
      linksFrom.push({ page: sitePath, href: rel(href), target, fragment });
    }
    if (found.cjk) {
      cjkPages++;
      const client = await context.newCDPSession(page);
      try {
        await client.send('DOM.enable');
        await client.send('CSS.enable');
        const { root } = await client.send('DOM.getDocument', { depth: 0 });
        const { nodeId } = await client.send('DOM.querySelector', { nodeId: root.nodeId, selector: '[data-cjk-probe]' });
        const { fonts } = await client.send('CSS.getPlatformFontsForNode', { nodeId });
        if (!fonts.some((f) => CJK_FONT.test(f.familyName) || CJK_FONT.test(f.postScriptName || ''))) {
          errors.push(`Chinese text drawn without a CJK font (fonts used: ${fonts.map((f) => f.familyName).join(', ') || 'none'}); install fonts-noto-cjk`);
        }
      } finally {
        await client.detach().catch(() => {});
      }
    }
    if (shotsDir && /^(index|syllabus|problem-sets\/zh-CN\/index|labs\/02-data-parallel\/index)\.html$/.test(sitePath)) {
      fs.mkdirSync(shotsDir, { recursive: true });
      await page.screenshot({ path: path.join(shotsDir, sitePath.replace(/\//g, '_') + '.png'), fullPage: false });
    }
  } catch (e) {
    errors.push(`could not be checked: ${e.message.split('\n')[0]}`);
  } finally {
    page.off('requestfailed', onFailed);
    page.off('response', onResponse);
    page.off('pageerror', onError);
    current.delete(page);
  }
  for (const e of errors) problem(sitePath, e);
}

const started = Date.now();
const queue = [...pages];
const workers = [];
for (let w = 0; w < Math.min(jobs, queue.length); w++) {
  workers.push((async () => {
    const page = await context.newPage();
    for (let p = queue.shift(); p !== undefined; p = queue.shift()) await checkPage(page, p);
    await page.close();
  })());
}
await Promise.all(workers);
await context.close();
server.close();
fs.rmSync(userDataDir, { recursive: true, force: true });

// Links: the file must exist; a fragment must name an element of the page it points to.
let anchorsChecked = 0;
const targets = new Set();
for (const l of linksFrom) {
  if (!l.target) {
    problem(l.page, `link to a missing file: ${l.href}`);
    continue;
  }
  const t = path.relative(siteDir, l.target).split(path.sep).join('/');
  targets.add(t);
  if (l.fragment && l.fragment !== 'top' && t.endsWith('.html')) {
    anchorsChecked++;
    const ids = idsOf.get(t);
    if (ids && !ids.has(l.fragment)) problem(l.page, `link to a missing anchor: ${l.href} (no id "${l.fragment}" in ${t})`);
  }
}

const seconds = ((Date.now() - started) / 1000).toFixed(1);
const summary = `${pages.length} pages, ${linksFrom.length} links into the site (${targets.size} distinct files, ` +
  `${anchorsChecked} with an anchor), ${imagesChecked} images, ${requests} responses, ` +
  `${cjkPages} pages with Chinese text font-checked, ${externalLinks} links to other sites (not followed), in ${seconds} s`;
if (problems.length) {
  const byPage = new Map();
  for (const p of problems) byPage.set(p.page, [...(byPage.get(p.page) || []), p.what]);
  console.error(`check_site: ${problems.length} problem(s) on ${byPage.size} page(s):`);
  for (const [page, whats] of [...byPage].sort()) {
    console.error(`  ${page}`);
    for (const w of [...new Set(whats)]) console.error(`    - ${w}`);
  }
  console.error(`check_site: FAILED: ${summary}`);
  process.exit(1);
}
console.log(`check_site: ok: ${summary}`);
