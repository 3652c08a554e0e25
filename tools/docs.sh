#!/usr/bin/env bash
# The course site: what `./dtlab docs` runs.
#
#   tools/docs.sh            build the site strictly (mkdocs build --strict) into build/site
#   tools/docs.sh serve      preview it while you edit docs/ or labs/ (mkdocs serve; extra
#                            arguments go to it, e.g. -a 0.0.0.0:8000)
#   tools/docs.sh check      build it, then open every page in headless Chromium and fail on a
#                            failed or external request, an image that did not load, a link to a
#                            missing file or anchor, or Chinese text without a CJK font
#                            (tools/check_site.mjs); extra arguments go to the checker
#
# mkdocs.yml's hook (tools/stage_site.py) first stages docs/ and the handouts into build/site-src
# and rewrites their links to repository files; see mkdocs.yml.
#
# Environment: DTLAB_SITE_DIR (where the site goes; default build/site, its staging folder is
# DTLAB_SITE_DIR-src), DTLAB_SITE_URL (the URL it is published at: canonical links and
# sitemap.xml; `check` ignores it), CHROMIUM (the browser; default /usr/bin/chromium),
# DTLAB_DOCS_ALLOW_MISSING=1 (nav entries without a page yet are left out instead of failing).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
site="${DTLAB_SITE_DIR:-$root/build/site}"
case "$site" in /*) ;; *) site="$PWD/$site" ;; esac
export DTLAB_SITE_SRC="${DTLAB_SITE_SRC:-$site-src}"
# jinja2 and markdown on Python 3.11 print DeprecationWarnings that say nothing about the site
export PYTHONWARNINGS="${PYTHONWARNINGS:-ignore::DeprecationWarning}"

say() { printf 'docs: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

need_mkdocs() {
  command -v mkdocs >/dev/null 2>&1 ||
    die "mkdocs is missing: ./dtlab setup installs it (Debian packages mkdocs and mkdocs-material)"
}

build() {
  need_mkdocs
  local start end
  start=$(date +%s.%N)
  say "mkdocs build --strict -> $site"
  # MkDocs lists every page that is not in the nav (the source files pages link to): leave that out.
  mkdocs build --strict --config-file "$root/mkdocs.yml" --site-dir "$site" 2>&1 |
    awk '/pages exist in the docs directory, but are not included in the "nav"/ { skip = 1; next }
         /INFO +- +DeprecationWarning/ { skip = 1; next }
         skip && (/^  / || /^$/) { next }
         { skip = 0; print; fflush() }'
  # Without DTLAB_SITE_URL, MkDocs's sitemap would list every page as "None".
  [ -n "${DTLAB_SITE_URL:-}" ] || rm -f "$site/sitemap.xml" "$site/sitemap.xml.gz"
  end=$(date +%s.%N)
  local pages
  pages=$(find "$site" -name '*.html' | wc -l)
  say "built $pages HTML pages in $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }') s: $site/index.html"
}

check() {
  command -v node >/dev/null 2>&1 || die "node is missing: ./dtlab setup installs nodejs"
  [ -d "$root/tools/node_modules/playwright-core" ] ||
    die "tools/node_modules/playwright-core is missing: run ./dtlab setup (npm ci in tools/)"
  local chromium="${CHROMIUM:-/usr/bin/chromium}"
  [ -x "$chromium" ] || die "no Chromium at $chromium: ./dtlab setup installs Debian's chromium (or set CHROMIUM)"
  CHROMIUM="$chromium" node "$root/tools/check_site.mjs" "$site" "$@"
}

cmd="${1:-build}"
[ $# -gt 0 ] && shift
case "$cmd" in
  build)
    build
    ;;
  serve)
    need_mkdocs
    cd "$root"
    exec mkdocs serve --config-file "$root/mkdocs.yml" "$@"
    ;;
  check)
    # checked as served from the root of 127.0.0.1, so without the published URL
    unset DTLAB_SITE_URL
    build
    check "$@"
    ;;
  -h|--help|help)
    awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"
    ;;
  *)
    die "unknown command '$cmd': tools/docs.sh [build|serve|check]"
    ;;
esac
