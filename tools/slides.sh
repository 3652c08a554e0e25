#!/usr/bin/env bash
# Render dtlab's lecture decks (slides/*.md, Marp) and check them in a real browser.
#
#   tools/slides.sh              render every deck to build/slides/<deck>.html, and to
#                                build/slides/<deck>.pdf when Chromium is installed
#   tools/slides.sh figures      regenerate slides/figures/*.svg from docs/results/data and dtlab's
#                                formulas (dtlab calc --batch: needs the dtlab binary)
#   tools/slides.sh check        render, then open every deck in headless Chromium
#                                (tools/check_slides.mjs): slide counts, images, a screenshot of
#                                slide 1 of each deck (build/slides/screenshots/), overflow, PDF
#                                pages, and the figures up to date with make_figures.py
#   tools/slides.sh help
#
# Options (before or after the command): --out DIR (default build/slides, or $DTLAB_SLIDES_OUT),
# --no-pdf. `./dtlab slides ARGS` runs this after `./dtlab setup`. `figures` and `check` run
# make_figures.py, whose model figures ask dtlab's formulas through `dtlab calc --batch`: the binary
# is $DTLAB_BIN, else build/bin/dtlab (./dtlab build); without it they fail and say so.
#
# A deck is a slides/*.md whose front matter says `marp: true` (slides/README.md is not one).
# Marp (tools/node_modules, pinned by tools/package-lock.json) makes the HTML; the figures are
# copied next to it so that build/slides/ works on its own. The PDF is Marp's too, printed by
# Debian's Chromium through a wrapper that adds the flags every browser run of dtlab uses
# (headless, no sandbox, no GPU, no QUIC, no first-run, no background networking, no component
# update, no sync) and a fresh profile in a temporary folder that is removed afterwards.
# `check` exits 77 (CTest: skipped) when Node's tools or Chromium are missing.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
slides="$root/slides"
tools="$root/tools"
marp="$tools/node_modules/.bin/marp"
chromium="${DTLAB_CHROMIUM:-/usr/bin/chromium}"
dtlab_bin="${DTLAB_BIN:-$root/build/bin/dtlab}"
out="${DTLAB_SLIDES_OUT:-$root/build/slides}"
pdf=1
cmd=""

say() { printf 'slides: %s\n' "$*" >&2; }
die() { printf 'slides: error: %s\n' "$1" >&2; exit "${2:-1}"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --out) [ $# -ge 2 ] || die "--out needs a folder"; out="$2"; shift 2 ;;
    --out=*) out="${1#--out=}"; shift ;;
    --no-pdf) pdf=0; shift ;;
    -h|--help|help) cmd=help; shift ;;
    render|figures|check)
      [ -z "$cmd" ] || die "one command at a time (got '$cmd' and '$1')"
      cmd="$1"; shift ;;
    *) die "unknown argument '$1' (try: tools/slides.sh help)" ;;
  esac
done
cmd="${cmd:-render}"
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; }

# The decks, in name order: slides/*.md with `marp: true` in their front matter.
decks() {
  local f
  for f in "$slides"/*.md; do
    [ -e "$f" ] || continue
    awk 'NR == 1 && $0 != "---" { exit 1 } NR > 1 && $0 == "---" { exit 1 }
         NR > 1 && /^marp:[ \t]*true[ \t]*$/ { found = 1; exit 0 } END { exit !found }' "$f" \
      && printf '%s\n' "$f"
  done
  return 0
}

need_node() {
  local code="${1:-1}"
  command -v node >/dev/null 2>&1 || die "node is missing: run ./dtlab setup (it installs nodejs)" "$code"
  [ -x "$marp" ] || die "Marp is not installed in tools/node_modules: run ./dtlab setup (npm ci in tools/)" "$code"
}

# make_figures.py (here, and in check_slides.mjs) reads DTLAB_BIN: the dtlab that `calc --batch`
# computes the model figures with.
need_dtlab() {
  command -v python3 >/dev/null 2>&1 || die "python3 is missing"
  [ -x "$dtlab_bin" ] || die "no dtlab binary at $dtlab_bin: build dtlab first: ./dtlab build (or set DTLAB_BIN); the model figures come from dtlab calc"
  export DTLAB_BIN="$dtlab_bin"
}

figures() {
  need_dtlab
  python3 "$slides/figures/make_figures.py"
}

tmp=""
cleanup() { [ -n "$tmp" ] && rm -rf "$tmp"; return 0; }
trap cleanup EXIT

render() {
  need_node
  local list
  list="$(decks)"
  [ -n "$list" ] || die "no decks in $slides (a deck is a .md file whose front matter has 'marp: true')"
  mkdir -p "$out"
  # the figures, next to the HTML that refers to them as figures/NAME.svg
  rm -rf "$out/figures"
  mkdir -p "$out/figures"
  cp "$slides"/figures/*.svg "$out/figures/"
  tmp="$(mktemp -d "${TMPDIR:-/tmp}/dtlab-slides.XXXXXX")"
  local common=(--config-file "$slides/.marprc.yml" --theme-set "$slides/themes")
  local deck name
  while IFS= read -r deck; do
    name="$(basename "$deck" .md)"
    rm -f "$out/$name.html" "$out/$name.pdf"
    if ! TMPDIR="$tmp" "$marp" "${common[@]}" -o "$out/$name.html" "$deck" </dev/null >"$tmp/marp.log" 2>&1; then
      cat "$tmp/marp.log" >&2
      die "Marp failed on slides/$name.md"
    fi
    say "slides/$name.md -> $out/$name.html"
  done <<<"$list"
  if [ "$pdf" = 0 ]; then
    say "PDF skipped (--no-pdf)"
    return 0
  fi
  if [ ! -x "$chromium" ]; then
    say "no Chromium at $chromium: HTML only (Debian: apt-get install chromium, or ./dtlab setup)"
    return 0
  fi
  # Marp's own launcher passes a fresh --user-data-dir under TMPDIR; the wrapper adds dtlab's flags.
  local wrap="$tmp/chromium"
  cat >"$wrap" <<EOF
#!/bin/sh
exec "$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \\
  --disable-background-networking --disable-component-update --disable-sync "\$@"
EOF
  chmod +x "$wrap"
  while IFS= read -r deck; do
    name="$(basename "$deck" .md)"
    if ! TMPDIR="$tmp" CHROME_PATH="$wrap" CHROME_NO_SANDBOX=1 CHROME_DISABLE_GPU=1 \
        "$marp" "${common[@]}" --pdf --allow-local-files --browser chrome --browser-path "$wrap" \
        --browser-timeout 120 -o "$out/$name.pdf" "$deck" </dev/null >"$tmp/marp.log" 2>&1; then
      cat "$tmp/marp.log" >&2
      die "Marp could not print slides/$name.md to PDF with $chromium"
    fi
    say "slides/$name.md -> $out/$name.pdf"
  done <<<"$list"
}

check() {
  # 77: CTest's SKIP_RETURN_CODE for tests/slides, when the tools are not installed
  need_node 77
  [ -x "$chromium" ] || die "no Chromium at $chromium: the check needs a real browser (apt-get install chromium, or ./dtlab setup)" 77
  need_dtlab
  render
  local decks_list=()
  local deck
  while IFS= read -r deck; do decks_list+=("$(basename "$deck" .md)"); done < <(decks)
  DTLAB_CHROMIUM="$chromium" node "$tools/check_slides.mjs" --out "$out" --slides "$slides" \
    --pdf="$pdf" "${decks_list[@]}"
}

case "$cmd" in
  help) usage ;;
  figures) figures ;;
  render) render ;;
  check) check ;;
esac
