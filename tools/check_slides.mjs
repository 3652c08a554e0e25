#!/usr/bin/env node
// Checks the rendered lecture decks in a real browser (Debian's Chromium, driven by
// playwright-core from tools/node_modules). tools/slides.sh check renders the decks, then runs:
//
//   node tools/check_slides.mjs --out build/slides --slides slides [--pdf=0|1] [--all] DECK...
//
// For every DECK (a name: intro, lab00, ...):
//   - build/slides/DECK.html opens without a page error and asks for nothing but local files;
//   - it has as many slides (Marp's <svg data-marpit-svg> pages) as slides/DECK.md has
//     '---' lines plus one (a '---' right under a line of text underlines a heading and starts
//     no slide: the mismatch is how that mistake shows);
//   - every image of the deck loaded (naturalWidth > 0);
//   - no slide's content runs past the slide's edges (each slide is shown in turn and measured);
//   - slide 1 is screenshot to build/slides/screenshots/DECK-1.png (--all: every slide), and the
//     PNG, decoded here with zlib, is not blank: enough distinct colours and enough ink;
//   - with --pdf=1, build/slides/DECK.pdf is a PDF with one page per slide.
// Once: slides/figures/*.svg are what slides/figures/make_figures.py makes now, byte for byte.
// Chromium is launched with dtlab's flags and a fresh profile that is removed afterwards.
// Exit status: 0 when everything holds, 1 otherwise (each problem printed), 2 for bad usage.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import zlib from 'node:zlib';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.dirname(here);
const require = createRequire(path.join(here, 'package.json'));

const CHROMIUM = process.env.DTLAB_CHROMIUM || '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const VIEW = { width: 1280, height: 720 };
// A slide 1 is blank when its screenshot has fewer than MIN_COLOURS colours (text is
// anti-aliased), less than MIN_INK of its pixels unlike the background, or less than MIN_EDGES of
// its pixels with a sharp step to their right neighbour (text and lines have them; a flat or
// gradient background has none). A slide with one short heading passes; an empty one does not.
const MIN_COLOURS = 8;
const MIN_INK = 0.001;
const MIN_EDGES = 0.0001;

function usage(msg) {
  if (msg) console.error(`check_slides: ${msg}`);
  console.error('usage: node tools/check_slides.mjs --out DIR --slides DIR [--pdf=0|1] [--all] DECK...');
  process.exit(2);
}

function parseArgs(argv) {
  const a = { out: path.join(root, 'build', 'slides'), slides: path.join(root, 'slides'), pdf: true,
    all: false, decks: [] };
  for (let i = 0; i < argv.length; i++) {
    const s = argv[i];
    if (s === '--out' || s === '--slides') {
      if (i + 1 >= argv.length) usage(`${s} needs a folder`);
      a[s.slice(2)] = path.resolve(argv[++i]);
    } else if (s.startsWith('--pdf=')) a.pdf = s.slice(6) !== '0';
    else if (s === '--no-pdf') a.pdf = false;
    else if (s === '--all') a.all = true;
    else if (s.startsWith('-')) usage(`unknown option ${s}`);
    else a.decks.push(s);
  }
  if (a.decks.length === 0) usage('no decks given');
  return a;
}

// ---- the Markdown side ----

// Slides in a Marp source: the '---' lines after the front matter and outside code fences, plus
// one. Every such line counts, also one right under a line of text, where Markdown reads it as the
// underline of a heading and Marp starts no slide: the mismatch then points at that mistake.
export function expectedSlides(text) {
  const lines = text.split(/\r?\n/);
  let i = 0;
  if (lines[0] === '---') {
    i = 1;
    while (i < lines.length && lines[i] !== '---') i++;
    i++;
  }
  let slides = 1;
  let fence = null;
  for (; i < lines.length; i++) {
    const line = lines[i];
    const f = line.match(/^ {0,3}(`{3,}|~{3,})/);
    if (f) {
      if (!fence) fence = f[1][0];
      else if (f[1][0] === fence) fence = null;
    } else if (!fence && /^ {0,3}---\s*$/.test(line)) {
      slides++;
    }
  }
  return slides;
}

// ---- PNG: decode 8-bit RGB/RGBA, non-interlaced (what Chromium's screenshots are) ----

export function decodePng(buf) {
  const sig = Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]);
  if (buf.length < 8 || !buf.subarray(0, 8).equals(sig)) throw new Error('not a PNG file');
  let off = 8;
  let width = 0, height = 0, depth = 0, type = 0, interlace = 0;
  const idat = [];
  while (off + 8 <= buf.length) {
    const len = buf.readUInt32BE(off);
    const kind = buf.toString('latin1', off + 4, off + 8);
    const data = buf.subarray(off + 8, off + 8 + len);
    if (kind === 'IHDR') {
      width = data.readUInt32BE(0); height = data.readUInt32BE(4);
      depth = data[8]; type = data[9]; interlace = data[12];
    } else if (kind === 'IDAT') idat.push(data);
    else if (kind === 'IEND') break;
    off += 12 + len;
  }
  const channels = { 2: 3, 6: 4 }[type];
  if (depth !== 8 || !channels || interlace !== 0)
    throw new Error(`unsupported PNG (bit depth ${depth}, colour type ${type}, interlace ${interlace})`);
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const px = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? px[y * stride + x - channels] : 0;
      const b = y > 0 ? px[(y - 1) * stride + x] : 0;
      const c = x >= channels && y > 0 ? px[(y - 1) * stride + x - channels] : 0;
      let v = line[x];
      switch (filter) {
        case 0: break;
        case 1: v += a; break;
        case 2: v += b; break;
        case 3: v += (a + b) >> 1; break;
        case 4: {
          const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
          v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          break;
        }
        default: throw new Error(`bad PNG filter ${filter} on row ${y}`);
      }
      px[y * stride + x] = v & 255;
    }
  }
  return { width, height, channels, px };
}

// Distinct colours, the share of pixels unlike the most common one (the background), and the
// share of pixels that differ sharply (by more than 96 in a channel) from their right neighbour.
export function inkStats(img) {
  const counts = new Map();
  const { px, channels, width } = img;
  let edges = 0;
  for (let i = 0, k = 0; i < px.length; i += channels, k++) {
    const key = (px[i] << 16) | (px[i + 1] << 8) | px[i + 2];
    counts.set(key, (counts.get(key) || 0) + 1);
    if ((k + 1) % width !== 0) {
      const j = i + channels;
      if (Math.abs(px[i] - px[j]) > 96 || Math.abs(px[i + 1] - px[j + 1]) > 96 ||
          Math.abs(px[i + 2] - px[j + 2]) > 96) edges++;
    }
  }
  let top = 0;
  for (const n of counts.values()) top = Math.max(top, n);
  const total = px.length / channels;
  return { colours: counts.size, ink: (total - top) / total, edges: edges / total };
}

// ---- PDF: count page objects, looking into compressed object streams too ----

export function pdfPages(buf) {
  if (buf.subarray(0, 5).toString('latin1') !== '%PDF-') throw new Error('not a PDF file');
  const pageRe = /\/Type\s*\/Page(?![A-Za-z])/g;
  const texts = [buf.toString('latin1')];
  let from = 0;
  for (;;) {
    const s = buf.indexOf('stream', from, 'latin1');
    if (s < 0) break;
    let start = s + 6;
    if (buf[start] === 13) start++;
    if (buf[start] === 10) start++;
    const e = buf.indexOf('endstream', start, 'latin1');
    if (e < 0) break;
    const dict = buf.toString('latin1', Math.max(0, s - 400), s);
    if (/\/FlateDecode/.test(dict.slice(dict.lastIndexOf('<<')))) {
      try {
        texts.push(zlib.inflateSync(buf.subarray(start, e)).toString('latin1'));
      } catch { /* not every stream ends exactly there: ignore it */ }
    }
    from = e + 9;
  }
  let n = 0;
  for (const t of texts) n += (t.match(pageRe) || []).length;
  return n;
}

// ---- the figures ----

function checkFigures(slidesDir, problems) {
  const figDir = path.join(slidesDir, 'figures');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dtlab-figures-'));
  try {
    const r = spawnSync('python3', [path.join(figDir, 'make_figures.py'), '--out', tmp],
      { encoding: 'utf8' });
    if (r.status !== 0) {
      problems.push(`figures: make_figures.py failed (${r.error ? r.error.message : `exit ${r.status}`}):\n${r.stderr}`);
      return;
    }
    const made = fs.readdirSync(tmp).filter((f) => f.endsWith('.svg')).sort();
    const kept = fs.readdirSync(figDir).filter((f) => f.endsWith('.svg')).sort();
    for (const f of made) {
      if (!kept.includes(f)) problems.push(`figures: slides/figures/${f} is missing: run tools/slides.sh figures`);
      else if (!fs.readFileSync(path.join(tmp, f)).equals(fs.readFileSync(path.join(figDir, f))))
        problems.push(`figures: slides/figures/${f} is not what make_figures.py makes now: run tools/slides.sh figures`);
    }
    for (const f of kept)
      if (!made.includes(f))
        problems.push(`figures: slides/figures/${f} is not made by make_figures.py (figures must be generated, not pasted)`);
    console.log(`figures: ${made.length} made by make_figures.py, ${kept.length} kept in slides/figures`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

// ---- one deck in the browser ----

async function checkDeck(context, args, deck, problems) {
  const md = path.join(args.slides, `${deck}.md`);
  const html = path.join(args.out, `${deck}.html`);
  if (!fs.existsSync(md)) { problems.push(`${deck}: no ${md}`); return; }
  if (!fs.existsSync(html)) { problems.push(`${deck}: no ${html} (render first: tools/slides.sh)`); return; }
  const expected = expectedSlides(fs.readFileSync(md, 'utf8'));
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console error: ${m.text()}`); });
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith('file:') || url.startsWith('data:') || url.startsWith('blob:')) return route.continue();
    errors.push(`asks for ${url}: a deck must work offline`);
    return route.abort();
  });
  await page.setViewportSize(VIEW);
  await page.goto(pathToFileURL(html).href + '#1', { waitUntil: 'load' });
  // Marp's on-screen controller is the viewer's, not the slide's: keep it out of screenshots
  await page.addStyleTag({ content: '.bespoke-marp-osc { display: none !important; }' });

  const count = await page.locator('svg[data-marpit-svg]').count();
  if (count !== expected)
    problems.push(`${deck}: ${count} slides rendered, but slides/${deck}.md has ${expected} ` +
      `('---' separators + 1; a '---' right under a line of text underlines a heading instead ` +
      `of starting a slide: leave a blank line above it)`);

  // every image of the deck, whether its slide is showing or not
  const images = await page.evaluate(async () => {
    const imgs = [...document.querySelectorAll('section img')];
    await Promise.all(imgs.map((i) => (i.complete ? null : new Promise((r) => {
      i.addEventListener('load', r, { once: true }); i.addEventListener('error', r, { once: true });
    }))));
    return imgs.map((i) => ({ src: i.getAttribute('src'), w: i.naturalWidth,
      slide: i.closest('section')?.id }));
  });
  for (const im of images)
    if (!(im.w > 0)) problems.push(`${deck}: slide ${im.slide}: image ${im.src} did not load`);

  // show each slide in turn and measure what runs past its edges
  const shots = path.join(args.out, 'screenshots');
  fs.mkdirSync(shots, { recursive: true });
  const upTo = args.all ? count : Math.min(count, 1);
  for (let n = 1; n <= count; n++) {
    await page.evaluate((k) => { window.location.hash = `#${k}`; }, n);
    const slide = page.locator('svg[data-marpit-svg]').nth(n - 1);
    await slide.waitFor({ state: 'visible', timeout: 10000 });
    await page.waitForTimeout(n === 1 ? 300 : 60);  // the transition
    const over = await page.evaluate((k) => {
      const svg = document.querySelectorAll('svg[data-marpit-svg]')[k - 1];
      const sec = svg.querySelector('section');
      const box = sec.getBoundingClientRect();
      const scale = box.width / 1280;
      const bad = [];
      for (const el of sec.querySelectorAll('*')) {
        if (el.closest('mjx-container') && el.tagName.toLowerCase() !== 'mjx-container') continue;
        const r = el.getBoundingClientRect();
        if (r.width === 0 || r.height === 0) continue;
        const out = Math.max(box.top - r.top, r.bottom - box.bottom, box.left - r.left, r.right - box.right) / scale;
        if (out > 2) {
          const text = (el.textContent || el.getAttribute('src') || '').trim().replace(/\s+/g, ' ').slice(0, 60);
          bad.push(`${el.tagName.toLowerCase()} "${text}" by ${Math.round(out)} px`);
        }
      }
      return bad;
    }, n);
    if (over.length) problems.push(`${deck}: slide ${n} overflows: ${over.slice(0, 3).join('; ')}`);
    if (n <= upTo) {
      const file = path.join(shots, `${deck}-${n}.png`);
      await slide.screenshot({ path: file });
      if (n === 1) {
        const img = decodePng(fs.readFileSync(file));
        const st = inkStats(img);
        const desc = `${st.colours} colours, ${(st.ink * 100).toFixed(1)}% ink, ` +
          `${(st.edges * 100).toFixed(2)}% sharp edges`;
        if (st.colours < MIN_COLOURS || st.ink < MIN_INK || st.edges < MIN_EDGES)
          problems.push(`${deck}: the screenshot of slide 1 looks blank (${desc}): ${file}`);
        else
          console.log(`${deck}: ${count} slides, ${images.length} images; slide 1 -> ` +
            `${file} (${img.width}x${img.height}, ${desc})`);
      }
    }
  }
  for (const e of errors) problems.push(`${deck}: ${e}`);
  await page.close();

  if (args.pdf) {
    const pdf = path.join(args.out, `${deck}.pdf`);
    if (!fs.existsSync(pdf)) problems.push(`${deck}: no ${pdf}`);
    else {
      try {
        const pages = pdfPages(fs.readFileSync(pdf));
        if (pages !== expected) problems.push(`${deck}: ${deck}.pdf has ${pages} pages, expected ${expected}`);
        else console.log(`${deck}: ${deck}.pdf has ${pages} pages`);
      } catch (e) {
        problems.push(`${deck}: ${pdf}: ${e.message}`);
      }
    }
  }
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const problems = [];
  checkFigures(args.slides, problems);
  if (!fs.existsSync(CHROMIUM)) {
    console.error(`check_slides: no Chromium at ${CHROMIUM}`);
    process.exit(1);
  }
  const { chromium } = require('playwright-core');
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'dtlab-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM, headless: true, args: FLAGS, viewport: VIEW,
    });
    for (const deck of args.decks) await checkDeck(context, args, deck, problems);
  } finally {
    if (context) await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  if (problems.length) {
    for (const p of problems) console.error(`FAIL ${p}`);
    console.error(`check_slides: ${problems.length} problem(s)`);
    process.exit(1);
  }
  console.log(`check_slides: ${args.decks.length} deck(s) OK`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    console.error(`check_slides: ${e.stack || e}`);
    process.exit(1);
  });
}
