#!/usr/bin/env python3
"""Stage dtlab's course site for MkDocs, from the repository's own Markdown.

The repository's Markdown is the single source of the site: the handouts (labs/NN-name/README.md)
link to repository paths such as ../../core/include/dtlab/comm.hpp, and the problem sets link to
../../../labs/01-collectives/README.md. MkDocs only knows files under its docs_dir, and `--strict`
fails on a link that leaves it. So the site is built from a staging folder (build/site-src by
default), made here:

  docs/**                      -> the site's root (pages, figures, raw data), as they are
  labs/NN-name/README.md       -> labs/NN-name/README.md (a page), with labs/NN-name/figures/**
  any other file a page links  -> source/<repository path>:
                                    Markdown: a page of its own (its links rewritten too);
                                    text (sources, rubric.toml, scripts): source/<path>.md, a page
                                      that shows the file with line numbers (#L12 links work);
                                    anything else (images, archives): copied as it is
  a linked folder              -> its README.md, or a generated page listing its files

and every Markdown link (inline, reference definitions, and href/src of raw HTML) is rewritten
from the repository path of its target to the staged one. A link to a file that does not exist
stops the build with the page, the link and what is missing. Files are only written when their
content changes, so `mkdocs serve` does not rebuild in a loop.

Used two ways:
  * as an MkDocs hook (mkdocs.yml: `hooks: [tools/stage_site.py]`): on every build, `on_config`
    stages the site and points docs_dir at the staging folder; `mkdocs build` and `mkdocs serve`
    at the repository root just work;
  * from the command line, to look at the staging folder or its errors:
    `python3 tools/stage_site.py [--out DIR]`.

Environment: DTLAB_SITE_SRC (the staging folder; default build/site-src), DTLAB_DOCS_ALLOW_MISSING=1
(leave nav entries whose page does not exist yet out of the navigation instead of failing; for
authors while pages are being written, never in CI).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import posixpath
import re
import sys
from pathlib import Path
from urllib.parse import quote, unquote

ROOT = Path(__file__).resolve().parent.parent

# Folders never staged nor listed (build outputs, tools' caches, VCS).
SKIP_DIRS = {".git", "node_modules", "__pycache__", ".device", ".whl", ".cache", "Testing"}
SKIP_TOP = re.compile(r"^build(-.*)?$")  # /build/, /build-*/ at the repository root

# What the student edition (`dtlab release --student`) leaves out: reference solutions, hidden
# tests, the grader's own tests. The site never publishes them: a link to one goes to a page that
# says so (and in the instructor's tree the file must still exist, so that typos are caught).
PRIVATE = re.compile(r"^(reference|tests/grader|labs/[^/]+/tests/hidden)(/|$)")
PRIVATE_PAGE = "source/instructor-only.md"
PRIVATE_TEXT = """# Not published on this site

Reference solutions (`reference/`), hidden tests (`labs/*/tests/hidden/`) and the grader's own
tests (`tests/grader/`) are in the instructor's repository only. The student edition
(`./dtlab release --student`) and this site leave them out; instructors find them in their
checkout.
"""

# Text files larger than this are copied as they are instead of becoming a page.
MAX_CODE_PAGE = 512 * 1024

IMAGE_EXT = {".svg", ".png", ".jpg", ".jpeg", ".gif", ".webp", ".ico"}
LEXERS = {
    ".cpp": "cpp", ".cc": "cpp", ".cxx": "cpp", ".hpp": "cpp", ".h": "cpp", ".hh": "cpp",
    ".ipp": "cpp", ".inl": "cpp", ".cu": "cuda", ".cuh": "cuda",
    ".py": "python", ".toml": "toml", ".sh": "bash", ".bash": "bash", ".sbatch": "bash",
    ".cmake": "cmake", ".json": "json", ".jsonl": "json", ".yml": "yaml", ".yaml": "yaml",
    ".mjs": "javascript", ".js": "javascript", ".css": "css", ".html": "html",
    ".csv": "text", ".txt": "text", ".cfg": "ini", ".ini": "ini",
}
NAMED_LEXERS = {"CMakeLists.txt": "cmake", "Makefile": "make", "CMakePresets.json": "json"}

log = logging.getLogger("mkdocs.plugins.dtlab.stage_site")


class StageError(Exception):
    """Every problem found while staging, one per line."""


class Staged:
    """What goes into the staging folder: staged path -> bytes, or -> a file to copy."""

    def __init__(self):
        self.content: dict[str, bytes] = {}
        self.copies: dict[str, Path] = {}
        self.pages = 0
        self.source_pages = 0
        self.listings = 0
        self.links = 0


# ----------------------------------------------------------------------------- Markdown scanning


FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<rest>.*)$")
REFDEF = re.compile(r"^( {0,3}\[[^\]\n]+\]:[ \t]*)(<[^>\n]*>|\S+)", re.M)
HTML_ATTR = re.compile(
    r"<(?:a|img|source|link|script|iframe|video|audio)\b[^>]*?\b(?:href|src)\s*=\s*"
    r"(?:\"(?P<dq>[^\"]*)\"|'(?P<sq>[^']*)')",
    re.I | re.S,
)
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
LINE_FRAGMENT = re.compile(r"^L(\d+)(?:-L?(\d+))?$")


def code_mask(text: str) -> list[tuple[int, int]]:
    """The spans of text that are not Markdown prose: fenced code, inline code, HTML comments."""
    spans: list[tuple[int, int]] = []
    # Fenced blocks, line by line.
    pos = 0
    open_fence = None  # (char, length, start offset)
    for line in text.splitlines(keepends=True):
        m = FENCE.match(line.rstrip("\n"))
        if open_fence is None:
            if m and not (m.group("fence")[0] == "`" and "`" in m.group("rest")):
                open_fence = (m.group("fence")[0], len(m.group("fence")), pos)
        elif m and m.group("fence")[0] == open_fence[0] and len(m.group("fence")) >= open_fence[1] \
                and not m.group("rest").strip():
            spans.append((open_fence[2], pos + len(line)))
            open_fence = None
        pos += len(line)
    if open_fence is not None:
        spans.append((open_fence[2], len(text)))

    def inside(i: int) -> bool:
        return any(a <= i < b for a, b in spans)

    # HTML comments and inline code spans outside the fenced blocks.
    extra: list[tuple[int, int]] = []
    i = 0
    n = len(text)
    while i < n:
        if inside(i):
            i = next(b for a, b in spans if a <= i < b)
            continue
        if text.startswith("<!--", i):
            j = text.find("-->", i + 4)
            j = n if j < 0 else j + 3
            extra.append((i, j))
            i = j
            continue
        if text[i] == "`" and (i == 0 or text[i - 1] != "\\"):
            k = i
            while k < n and text[k] == "`":
                k += 1
            run = k - i
            # the closing run: exactly `run` backticks, not inside a fenced block
            m = re.compile(r"(?<!`)`{%d}(?!`)" % run).search(text, k)
            if m and not inside(m.start()) and "\n\n" not in text[k:m.start()]:
                extra.append((i, m.end()))
                i = m.end()
            else:
                i = k
            continue
        i += 1
    return sorted(spans + extra)


def parse_destination(text: str, start: int) -> tuple[int, int, bool] | None:
    """For an inline link whose '(' is at start-1: (begin, end, angle) of its destination."""
    n = len(text)
    i = start
    while i < n and text[i] in " \t":
        i += 1
    if i < n and text[i] == "<":
        j = text.find(">", i + 1)
        if j < 0 or "\n" in text[i:j]:
            return None
        return i + 1, j, True
    depth = 0
    j = i
    while j < n:
        c = text[j]
        if c == "\\" and j + 1 < n:
            j += 2
            continue
        if c in " \t\n":
            break
        if c == "(":
            depth += 1
        elif c == ")":
            if depth == 0:
                break
            depth -= 1
        j += 1
    if j == i:
        return None
    return i, j, False


class Link:
    def __init__(self, begin: int, end: int, dest: str, html: bool):
        self.begin, self.end, self.dest = begin, end, dest
        self.html = html  # a raw HTML attribute: MkDocs leaves it alone, so it must get the final URL


def find_links(text: str) -> list[Link]:
    mask = code_mask(text)

    def masked(i: int) -> bool:
        return any(a <= i < b for a, b in mask)

    links: list[Link] = []
    for m in re.finditer(r"\]\(", text):
        if masked(m.start()):
            continue
        d = parse_destination(text, m.end())
        if d:
            links.append(Link(d[0], d[1], text[d[0]:d[1]], False))
    for m in REFDEF.finditer(text):
        if masked(m.start()):
            continue
        b, e = m.start(2), m.end(2)
        if text[b] == "<":
            b, e = b + 1, e - 1
        links.append(Link(b, e, text[b:e], False))
    for m in HTML_ATTR.finditer(text):
        if masked(m.start()):
            continue
        g = "dq" if m.group("dq") is not None else "sq"
        links.append(Link(m.start(g), m.end(g), m.group(g), True))
    links.sort(key=lambda link: link.begin)
    return links


# A line break between two Chinese characters: Markdown keeps it, and browsers draw it as a space
# in the middle of a sentence ("模型 并行"). Chinese prose is written without spaces, so such breaks
# are joined (outside code).
CJK = "\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
CJK_BREAK = re.compile(f"(?<=[{CJK}])[ \t]?\n[ \t]*(?=[{CJK}])")  # not after a hard break


def join_cjk_lines(text: str) -> str:
    if not re.search(f"[{CJK}]", text):
        return text
    out = []
    last = 0
    for a, b in code_mask(text):
        if a < last:
            a = last
        out.append(CJK_BREAK.sub("", text[last:a]))
        out.append(text[a:b])
        last = max(last, b)
    out.append(CJK_BREAK.sub("", text[last:]))
    return "".join(out)


# ----------------------------------------------------------------------------- staging


def skipped(rel: str) -> bool:
    parts = rel.split("/")
    return bool(SKIP_TOP.match(parts[0])) or any(p in SKIP_DIRS or p.startswith(".") for p in parts)


def is_text(data: bytes) -> bool:
    if b"\0" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def lexer_for(rel: str, data: bytes) -> str:
    name = posixpath.basename(rel)
    if name in NAMED_LEXERS:
        return NAMED_LEXERS[name]
    ext = posixpath.splitext(name)[1].lower()
    if ext in LEXERS:
        return LEXERS[ext]
    first = data.split(b"\n", 1)[0]
    if first.startswith(b"#!"):
        if b"python" in first:
            return "python"
        if b"node" in first:
            return "javascript"
        if b"sh" in first:
            return "bash"
    return "text"


def md_page_url(staged: str) -> str:
    """The URL MkDocs gives a page (use_directory_urls: false): README.md and index.md -> index.html."""
    d, name = posixpath.split(staged)
    stem = posixpath.splitext(name)[0]
    html = "index.html" if stem in ("README", "index") else stem + ".html"
    return posixpath.join(d, html) if d else html


class Stager:
    def __init__(self, root: Path):
        self.root = root
        self.out = Staged()
        self.errors: list[str] = []
        self.map: dict[str, str] = {}  # repository path -> staged path
        self.kind: dict[str, str] = {}  # staged path -> page | code | raw | listing
        self.todo: list[tuple[str, str]] = []  # (repository path, staged path) of pages to rewrite

    # --- what a repository path becomes

    def fixed_location(self, rel: str) -> str | None:
        """Where docs/ and the handouts go; None for everything else."""
        if rel.startswith("docs/"):
            return rel[len("docs/"):]
        m = re.match(r"^labs/(\d\d-[^/]+)/(README\.md|figures/.+)$", rel)
        if m:
            return f"labs/{m.group(1)}/{m.group(2)}"
        return None

    def add_file(self, rel: str) -> str:
        """Stage the repository file rel (once); return its staged path."""
        if rel in self.map:
            return self.map[rel]
        path = self.root / rel
        data = path.read_bytes()
        fixed = self.fixed_location(rel)
        if fixed is not None:
            staged = fixed
            if rel.endswith(".md"):
                self.kind[staged] = "page"
                self.todo.append((rel, staged))
            else:
                self.kind[staged] = "raw"
                self.out.copies[staged] = path
        elif rel.endswith(".md"):
            staged = "source/" + rel
            self.kind[staged] = "page"
            self.todo.append((rel, staged))
        elif posixpath.splitext(rel)[1].lower() not in IMAGE_EXT and len(data) <= MAX_CODE_PAGE \
                and is_text(data):
            staged = "source/" + rel + ".md"
            self.kind[staged] = "code"
            self.out.content[staged] = self.code_page(rel, data)
            self.out.source_pages += 1
        else:
            staged = "source/" + rel
            self.kind[staged] = "raw"
            self.out.copies[staged] = path
        self.map[rel] = staged
        return staged

    def add_dir(self, rel: str) -> str:
        """A linked folder: its README.md (or index.md), else a generated listing page."""
        key = rel.rstrip("/") + "/"
        if key in self.map:
            return self.map[key]
        for index in ("README.md", "index.md"):
            if (self.root / rel / index).is_file():
                staged = self.add_file(posixpath.join(rel, index) if rel else index)
                self.map[key] = staged
                return staged
        fixed = self.fixed_location(rel + "/x")
        base = posixpath.dirname(fixed) if fixed is not None else "source/" + rel
        staged = posixpath.join(base, "index.md") if base else "index.md"
        self.map[key] = staged
        self.kind[staged] = "listing"
        rows = []
        entries = sorted(os.listdir(self.root / rel), key=lambda s: (not (self.root / rel / s).is_dir(), s))
        for name in entries:
            child = posixpath.join(rel, name) if rel else name
            if skipped(child) or PRIVATE.match(child):
                continue
            if (self.root / child).is_dir():
                target = self.add_dir(child)
                label, what = name + "/", "folder"
            else:
                target = self.add_file(child)
                label = name
                data = (self.root / child).read_bytes()
                lines = data.count(b"\n")
                what = f"{lines} lines" if is_text(data) else f"{len(data):,} bytes"
            href = posixpath.relpath(target, posixpath.dirname(staged) or ".")
            rows.append(f"- [`{label}`]({quote(href)}) · {what}")
        text = [f"# `{rel}/`", "", "A folder of the dtlab repository, as it was when this site was built.", ""]
        text += rows or ["(empty)"]
        text.append("")
        self.out.content[staged] = "\n".join(text).encode()
        self.out.listings += 1
        return staged

    def code_page(self, rel: str, data: bytes) -> bytes:
        text = data.decode("utf-8")
        longest = max((len(m.group(0)) for m in re.finditer(r"`+", text)), default=0)
        fence = "`" * max(3, longest + 1)
        lines = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
        lang = lexer_for(rel, data)
        body = text if text.endswith("\n") or not text else text + "\n"
        page = (
            f"---\ntitle: {json.dumps(rel)}\n---\n\n"
            f"# `{rel}`\n\n"
            f"A file of the dtlab repository ({lines} lines), as it was when this site was built.\n\n"
            f'{fence}{lang} linenums="1"\n{body}{fence}\n'
        )
        return page.encode()

    # --- rewriting one page's links

    def resolve(self, src_rel: str, dest: str) -> tuple[str, str] | None:
        """(staged target, fragment) of a relative link in src_rel; None if it is not relative."""
        if not dest or dest.startswith("#") or SCHEME.match(dest) or dest.startswith("//"):
            return None
        path, _, fragment = dest.partition("#")
        path = path.split("?", 1)[0]
        if not path:
            return None
        if path.startswith("/"):
            self.errors.append(f"{src_rel}: link '{dest}' is an absolute path; write it relative to the file")
            return None
        target = posixpath.normpath(posixpath.join(posixpath.dirname(src_rel), unquote(path)))
        if target == "." or target == "":
            target = ""
        if target.startswith("../") or target == "..":
            self.errors.append(f"{src_rel}: link '{dest}' points outside the repository")
            return None
        full = self.root / target
        if PRIVATE.match(target):
            instructor_tree = (self.root / "reference").is_dir()
            if instructor_tree and not full.exists():
                self.errors.append(f"{src_rel}: link '{dest}' points to {target}, which does not exist")
                return None
            if PRIVATE_PAGE not in self.out.content:
                self.out.content[PRIVATE_PAGE] = PRIVATE_TEXT.encode()
                self.kind[PRIVATE_PAGE] = "page"
            return PRIVATE_PAGE, ""
        if target and skipped(target):
            self.errors.append(f"{src_rel}: link '{dest}' points to {target}, a build output or tool "
                               f"folder that is not part of the site")
            return None
        if full.is_dir():
            return self.add_dir(target), fragment
        if not full.is_file():
            self.errors.append(f"{src_rel}: link '{dest}' points to {target}, which does not exist")
            return None
        return self.add_file(target), fragment

    def rewrite(self, src_rel: str, staged_src: str) -> bytes:
        return join_cjk_lines(self.rewrite_links(src_rel, staged_src)).encode("utf-8")

    def rewrite_links(self, src_rel: str, staged_src: str) -> str:
        text = (self.root / src_rel).read_text(encoding="utf-8")
        pieces = []
        last = 0
        here = posixpath.dirname(staged_src) or "."
        for link in find_links(text):
            r = self.resolve(src_rel, link.dest)
            if r is None:
                continue
            target, fragment = r
            self.out.links += 1
            kind = self.kind.get(target)
            if kind == "code" and fragment:
                m = LINE_FRAGMENT.match(fragment)
                if m:
                    fragment = f"__codelineno-0-{m.group(1)}"
            url_target = md_page_url(target) if link.html and target.endswith(".md") else target
            href = quote(posixpath.relpath(url_target, here))
            if fragment:
                href += "#" + fragment
            pieces.append(text[last:link.begin])
            pieces.append(href)
            last = link.end
        pieces.append(text[last:])
        return "".join(pieces)

    # --- the whole site

    def run(self) -> Staged:
        docs = self.root / "docs"
        for dirpath, dirnames, filenames in os.walk(docs):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
            for name in sorted(filenames):
                if name.startswith(".") or name.endswith((".pyc", "~")):
                    continue
                rel = Path(dirpath, name).relative_to(self.root).as_posix()
                self.add_file(rel)
        for staged in ("labs", "source"):
            if (docs / staged).exists():
                self.errors.append(f"docs/{staged} exists, but the site puts the "
                                   f"{'handouts' if staged == 'labs' else 'repository files'} there")
        labs = self.root / "labs"
        for lab in sorted(labs.iterdir()) if labs.is_dir() else []:
            if re.match(r"^\d\d-", lab.name) and (lab / "README.md").is_file():
                self.add_file(f"labs/{lab.name}/README.md")
                figures = lab / "figures"
                if figures.is_dir():
                    for f in sorted(figures.rglob("*")):
                        if f.is_file() and not skipped(f.relative_to(self.root).as_posix()):
                            self.add_file(f.relative_to(self.root).as_posix())
        while self.todo:
            rel, staged = self.todo.pop(0)
            self.out.content[staged] = self.rewrite(rel, staged)
            self.out.pages += 1
        if self.errors:
            raise StageError("\n".join(sorted(set(self.errors))))
        return self.out


MARKER = ".dtlab-site-src"  # marks a folder as a staging folder, which may be cleared


def write_staged(staged: Staged, out: Path, root: Path = ROOT) -> int:
    """Make out hold exactly the staged files; write only what changed. Returns files written."""
    out = out.resolve()
    for keep in (root, root / "docs", root / "labs"):
        if out == keep.resolve() or keep.resolve() in out.parents and keep != root:
            raise StageError(f"refusing to stage into {out}: it is (inside) the repository's own {keep}")
    if out in root.resolve().parents or out == Path(out.anchor):
        raise StageError(f"refusing to stage into {out}: it holds the repository")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise StageError(f"refusing to stage into {out}: it is not empty and not a staging folder "
                         f"(no {MARKER} in it); give an empty or new folder")
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("made by tools/stage_site.py: cleared and rewritten on every build\n")
    wanted = set(staged.content) | set(staged.copies) | {MARKER}
    written = 0
    for rel in sorted(wanted):
        dst = out / rel
        if rel == MARKER:
            continue
        data = staged.content[rel] if rel in staged.content else staged.copies[rel].read_bytes()
        if dst.is_file() and not dst.is_symlink():
            try:
                if dst.read_bytes() == data:
                    continue
            except OSError:
                pass
        if dst.is_dir():
            raise StageError(f"{dst} is a folder, but the site needs a file there")
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(dst.name + ".stage-tmp")
        tmp.write_bytes(data)
        os.replace(tmp, dst)
        written += 1
    for dirpath, dirnames, filenames in os.walk(out, topdown=False):
        for name in filenames:
            p = Path(dirpath, name)
            if p.relative_to(out).as_posix() not in wanted:
                p.unlink()
        if Path(dirpath) != out and not os.listdir(dirpath):
            os.rmdir(dirpath)
    return written


def stage(root: Path = ROOT, out: Path | None = None) -> tuple[Staged, Path]:
    out = out or default_out(root)
    staged = Stager(root).run()
    write_staged(staged, out, root)
    return staged, out


def default_out(root: Path = ROOT) -> Path:
    env = os.environ.get("DTLAB_SITE_SRC")
    return Path(env).resolve() if env else root / "build" / "site-src"


# ----------------------------------------------------------------------------- the MkDocs hook


def _nav_paths(nav) -> list[str]:
    found: list[str] = []
    if isinstance(nav, str):
        if not SCHEME.match(nav) and not nav.startswith("/"):
            found.append(nav)
    elif isinstance(nav, list):
        for item in nav:
            found += _nav_paths(item)
    elif isinstance(nav, dict):
        for value in nav.values():
            found += _nav_paths(value)
    return found


def _prune_nav(nav, missing: set[str]):
    if isinstance(nav, str):
        return None if nav in missing else nav
    if isinstance(nav, list):
        kept = [p for p in (_prune_nav(i, missing) for i in nav) if p not in (None, [], {})]
        return kept
    if isinstance(nav, dict):
        kept = {k: p for k, v in nav.items() if (p := _prune_nav(v, missing)) not in (None, [], {})}
        return kept
    return nav


def on_config(config, **kwargs):
    from mkdocs.exceptions import PluginError

    root = Path(config["config_file_path"]).resolve().parent
    out = default_out(root)
    try:
        staged, out = stage(root, out)
    except StageError as e:
        raise PluginError("the site cannot be staged (tools/stage_site.py):\n" + str(e)) from None
    log.info(f"dtlab: staged {staged.pages} pages, {staged.source_pages} source files and "
             f"{staged.listings} folder listings into {out} ({staged.links} links rewritten)")
    config["docs_dir"] = str(out)
    # pymdownx.snippets (--8<--) reads files from the staging folder only
    if "pymdownx.snippets" in config["mdx_configs"]:
        config["mdx_configs"]["pymdownx.snippets"]["base_path"] = [str(out)]
    missing = [p for p in _nav_paths(config["nav"] or []) if not (out / p).is_file()]
    if missing:
        if os.environ.get("DTLAB_DOCS_ALLOW_MISSING") == "1":
            log.info("dtlab: DTLAB_DOCS_ALLOW_MISSING=1: left out of the navigation, no such page yet: "
                     + ", ".join(missing))
            config["nav"] = _prune_nav(config["nav"], set(missing))
        else:
            raise PluginError("mkdocs.yml's nav names pages that do not exist (under docs/, or a "
                              "handout labs/NN-name/README.md):\n  " + "\n  ".join(missing))
    return config


# ----------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=None, help="the staging folder (default: build/site-src)")
    args = ap.parse_args(argv)
    try:
        staged, out = stage(ROOT, args.out.resolve() if args.out else None)
    except StageError as e:
        print("stage_site: the site cannot be staged:\n" + str(e), file=sys.stderr)
        return 1
    print(f"stage_site: {staged.pages} pages, {staged.source_pages} source files, "
          f"{staged.listings} folder listings, {staged.links} links rewritten -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
