"""Docs that cannot drift from the code. Every Markdown file that is
README.md or docs/*.md (new pages are covered as soon as they exist) is
read for the names it uses, and each name is checked against what the code
says (docs_truth.py: the schema through --help, a live /metrics, the
routers' path literals, the Makefile, the tree):

- settings (section.key, --section.key=, ICEHUB_*), their type, default and
  reloadability in configuration.md, the restart list of deploy/icehub.conf
  and the environment namespaces;
- metric names, label names and label values; operations.md lists them all;
- HTTP endpoints (backticked paths, "GET /x", URLs to the daemon);
- signaling message types and error codes; signaling.md covers them all;
- make targets; icehubd's and `icehubd usage`'s options;
- repository paths, relative links and their #anchors.

In both directions where it makes sense: what a doc names must exist, and
what exists must be documented. A failure lists each problem as
"DOC:LINE: what is wrong".
"""
import glob
import os
import re

import docs_truth as T
from harness import ROOT

SDP_WORDS = ()  # none: SDP's "offer"/"answer" are accepted when the web client uses them
# Labels whose values are names from the configuration or from clients, not
# a fixed vocabulary: their values are not listed in the docs.
NAME_LABELS = {"user", "realm", "currency", "version", "address", "private"}
GENERATED = ("bin/", "build/", "tests/artifacts", "node_modules")
# Another tool's name in a paragraph makes its bare --options that tool's.
OTHER_TOOLS = re.compile(r"coturn|turnserver|turnutils|turn_flood|uclient|chromium|npm|curl|"
                         r"openssl|systemd|promtool|iptables|taskset|playwright|docker|podman|kubectl|"
                         r"redis-server|stunnel", re.I)
FILE_EXT = {"md", "c", "h", "js", "mjs", "conf", "py", "json", "jsonl", "yml", "sh", "html",
            "css", "pem", "txt", "log", "png", "env", "service"}


class Doc:
    def __init__(self, rel):
        self.rel = rel
        with open(os.path.join(ROOT, rel)) as f:
            self.lines = f.read().splitlines()
        self.code = []  # per line: inside a fenced block
        fenced = False
        for line in self.lines:
            if line.lstrip().startswith("```"):
                self.code.append(True)
                fenced = not fenced
            else:
                self.code.append(fenced)
        # The paragraph (blank-line separated) each line belongs to.
        self.para, start = [], 0
        for i, line in enumerate(self.lines + [""]):
            if not line.strip():
                text = " ".join(self.lines[start:i])
                self.para += [text] * (i - start + (1 if i < len(self.lines) else 0))
                start = i + 1

    def each(self):
        """(line number, text, in code block) for every line."""
        for i, line in enumerate(self.lines):
            yield i + 1, line, self.code[i]

    def ticks(self):
        """(line number, span) for every inline code span outside code blocks;
        a span may wrap onto the next lines of its paragraph (it is then
        joined with spaces and reported at the line where it starts)."""
        block, first = [], 0
        for n, line, code in list(self.each()) + [(len(self.lines) + 1, "", False)]:
            if code or not line.strip():
                text = "\n".join(block)
                for m in re.finditer(r"`([^`]+)`", text):
                    yield first + text.count("\n", 0, m.start()), \
                        " ".join(x.strip() for x in m.group(1).split("\n"))
                block = []
                continue
            if not block:
                first = n
            block.append(line)

    def tables(self):
        """(line number, header cells lowercased, cells) for every table row."""
        header = None
        for n, line, code in self.each():
            if code or not line.startswith("|"):
                header = None
                continue
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            if header is None:
                header = [c.lower() for c in cells]
            elif not set(line) <= set("|-: "):
                yield n, header, cells

    def headings(self):
        return [(n, line.lstrip("#").strip()) for n, line, code in self.each()
                if not code and re.match(r"#{1,6} ", line)]


def all_docs():
    rels = ["README.md"] + sorted(os.path.relpath(p, ROOT)
                                  for p in glob.glob(os.path.join(ROOT, "docs", "*.md")))
    return [Doc(r) for r in rels]


def doc(rel):
    return next(d for d in all_docs() if d.rel == rel)


class Problems:
    def __init__(self):
        self.items = []

    def add(self, d, line, msg):
        item = f"{d.rel if d else '-'}:{line}: {msg}"
        if item not in self.items:
            self.items.append(item)

    def check(self, what):
        assert not self.items, f"{len(self.items)} {what} problems:\n" + "\n".join(self.items)


def is_error_example(line):
    """An error message quoted in the docs names a wrong thing on purpose."""
    return re.search(r"unknown (setting|section|option)|expected .* found", line) is not None


def error_lines(d):
    """Line numbers of quoted error messages (one may wrap onto the next line)."""
    out = set()
    for n, line, _ in d.each():
        if is_error_example(line):
            out.update((n, n + 1))
    return out


def strip_ticks(s):
    return s.replace("`", "").strip()


# ---- Settings ---------------------------------------------------------------

def test_docs_settings():
    st = T.settings()
    secs = "|".join(T.sections())
    bare = re.compile(rf"(?<![\w./-])({secs})\.([a-z][a-z0-9_]*)(?![\w-]|\.[A-Za-z0-9])")
    flag = re.compile(r"(?<![\w-])--([a-z]+)\.([a-z][a-z0-9_]*)")
    env = re.compile(r"\bICEHUB_[A-Z0-9_]*[A-Z0-9]\b(?!\*)")
    namespaces = {s.upper() for s in T.sections()}
    p = Problems()
    seen_env = {}
    for d in all_docs():
        skip = error_lines(d)
        for n, line, _ in d.each():
            if n in skip:
                continue
            for m in bare.finditer(line):
                name = f"{m.group(1)}.{m.group(2)}"
                if m.group(2) not in FILE_EXT and name not in st:
                    p.add(d, n, f"setting `{name}` does not exist (icehubd --help)")
            for m in flag.finditer(line):
                name = f"{m.group(1)}.{m.group(2)}"
                if name not in st and m.group(2) not in FILE_EXT and name != "section.key":
                    p.add(d, n, f"flag `--{name}=` names no setting")
            for m in env.finditer(line):
                v = m.group(0)
                ns = v.split("_")[1]
                if ns in namespaces:
                    if v not in {T.env_name(s) for s in st}:
                        p.add(d, n, f"variable {v} is in the {ns.lower()}.* namespace but names "
                                    "no setting")
                elif v not in seen_env:
                    seen_env[v] = T.source_literal(v)
                    if not seen_env[v]:
                        p.add(d, n, f"variable {v} is used nowhere in the code or tests")
    # configuration.md: one table row per setting, with the schema's type,
    # default, variable, flag and reloadability.
    conf = doc("docs/configuration.md")
    rows = {}
    for n, header, cells in conf.tables():
        if header[:1] == ["setting"] and cells[0].startswith("`"):
            rows[strip_ticks(cells[0])] = (n, dict(zip(header, cells)))
    for name, info in st.items():
        if name not in rows:
            p.add(conf, 0, f"setting `{name}` has no table row")
            continue
        n, row = rows[name]
        if strip_ticks(row["type"]) != info["type"]:
            p.add(conf, n, f"`{name}`: type \"{strip_ticks(row['type'])}\", the schema says "
                           f"\"{info['type']}\"")
        want = f"`{info['default']}`" if info["default"] else "empty"
        if not row["default"].startswith(want):
            p.add(conf, n, f"`{name}`: default \"{row['default']}\", the schema says {want}")
        if strip_ticks(row["environment"]) != T.env_name(name):
            p.add(conf, n, f"`{name}`: variable {row['environment']}")
        if not strip_ticks(row["flag"]).startswith(f"--{name}="):
            p.add(conf, n, f"`{name}`: flag {row['flag']}")
        if row["reload"] != ("yes" if info["reload"] else "no"):
            p.add(conf, n, f"`{name}`: reload \"{row['reload']}\", the schema says "
                           f"{'yes' if info['reload'] else 'no'}")
    for name in rows:
        if name not in st:
            p.add(conf, rows[name][0], f"table row for `{name}`, which is not a setting")
    # Every section's variable namespace is listed where unknown names are.
    text = "\n".join(conf.lines)
    for s in T.sections():
        if f"`ICEHUB_{s.upper()}_*`" not in text:
            p.add(conf, 0, f"the namespace `ICEHUB_{s.upper()}_*` is not listed")
    # deploy/icehub.conf names exactly the settings that need a restart.
    sample = open(os.path.join(ROOT, "deploy", "icehub.conf")).read()
    m = re.search(r"# SIGHUP reloads this file\. Changes to (.*?) need a restart", sample, re.S)
    listed = set(re.findall(r"[a-z]+\.[a-z_]+", m.group(1).replace("#", ""))) if m else set()
    want = {s for s, i in st.items() if not i["reload"]}
    if listed != want:
        p.items.append(f"deploy/icehub.conf: its restart list {sorted(listed)} differs from the "
                       f"settings that need a restart {sorted(want)}")
    p.check("settings")


# ---- Metrics ----------------------------------------------------------------

def family_of(name, types):
    if name in types:
        return name
    base = re.sub(r"_(bucket|sum|count)$", "", name)
    return base if types.get(base) in ("histogram", "summary") else None


def parse_label_cell(cell):
    """{label: [values] or None} from a Labels cell: `name` (a, b, c) or
    `name`: a, b; backticked names inside parentheses are values."""
    out, depth, names = {}, 0, []
    for i, ch in enumerate(cell):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "`" and depth == 0 and cell.count("`", 0, i) % 2 == 0:
            j = cell.index("`", i + 1)
            names.append((cell[i + 1:j], j + 1))
    for k, (name, end) in enumerate(names):
        nxt = names[k + 1][1] - len(names[k + 1][0]) - 2 if k + 1 < len(names) else len(cell)
        rest = cell[end:nxt].strip().rstrip(",").strip()
        values = None
        if rest.startswith("("):
            values = rest[1:rest.rfind(")")] if ")" in rest else rest[1:]
        elif rest.startswith(":"):
            values = rest[1:]
        if values is not None:
            vals = []
            for item in values.split(","):
                vm = re.match(r"^([a-z0-9_+-]+)(\s*[=:].*)?$", strip_ticks(item))
                if vm and set(vm.group(1)) != {"."}:
                    vals.append(vm.group(1))
            values = vals
        out[name] = values
    return out


def test_docs_metrics():
    types, labels, _ = T.live()
    p = Problems()
    for d in all_docs():
        for n, line, _ in d.each():
            for m in re.finditer(r"\bicehub_[a-z0-9_]*[a-z0-9]\b", line):
                if not family_of(m.group(0), types):
                    p.add(d, n, f"metric `{m.group(0)}` is not on /metrics")
        for n, header, cells in d.tables():
            if "labels" not in header or not re.match(r"`icehub_", cells[0]):
                continue
            fam = family_of(strip_ticks(cells[0]), types)
            if not fam:
                continue
            live_labels = labels.get(fam, {})
            for name, values in parse_label_cell(cells[header.index("labels")]).items():
                if name == "le":
                    continue
                if name not in live_labels:
                    p.add(d, n, f"`{fam}` has no label `{name}` on /metrics "
                                f"(it has {sorted(live_labels) or 'none'})")
                    continue
                for v in values or []:
                    if v not in live_labels[name]:
                        p.add(d, n, f"`{fam}{{{name}=\"{v}\"}}` is not on /metrics")
            if "type" in header and strip_ticks(cells[header.index("type")]) != types[fam]:
                p.add(d, n, f"`{fam}` is a {types[fam]}, not a {cells[header.index('type')]}")
    # operations.md is the reference: every family, its labels and every value.
    ops = doc("docs/operations.md")
    rows, above, last = {}, {}, 0
    for n, header, cells in ops.tables():
        if n != last + 1:
            above = {}  # a new table
        last = n
        if "labels" in header and cells[0].startswith("`icehub_"):
            # A label listed without values takes those given for it in
            # the rows above, in the same table.
            inherited = set()
            for name, values in parse_label_cell(cells[header.index("labels")]).items():
                if values:
                    above[name] = set(values)
                else:
                    inherited |= above.get(name, set())
            rows[strip_ticks(cells[0])] = (n, header, cells, inherited)
    probe_text = "\n".join(doc("docs/probe.md").lines)
    for fam in sorted(types):
        if fam.startswith("icehub_probe_"):
            # icehub-probe's own metrics; their reference is probe.md.
            if not re.search(rf"`{fam}`", probe_text):
                p.add(doc("docs/probe.md"), 0, f"metric `{fam}` is not in probe.md")
            continue
        if fam not in rows:
            p.add(ops, 0, f"metric `{fam}` ({types[fam]}) is not in the metrics reference")
            continue
        n, header, cells, inherited = rows[fam]
        documented = parse_label_cell(cells[header.index("labels")])
        row_words = {w.rstrip(".") for w in re.findall(r"[A-Za-z0-9_+.-]+", " ".join(cells))}
        row_words |= inherited
        for name, values in sorted(labels.get(fam, {}).items()):
            if name == "le":
                continue
            if name not in documented:
                p.add(ops, n, f"`{fam}`: label `{name}` is not listed")
            elif name not in NAME_LABELS:
                for v in sorted(values - row_words):
                    p.add(ops, n, f"`{fam}`: value {name}=\"{v}\" is not listed")
    p.check("metrics")


# ---- HTTP endpoints -----------------------------------------------------------

FS_ROOTS = {"etc", "usr", "var", "proc", "run", "tmp", "dev", "sys", "lib", "home", "opt",
            "bin", "sbin", "srv", "root"}


def doc_endpoints(d):
    """(line, path) for each HTTP path the doc names."""
    for n, span in d.ticks():
        word = span.split()[0]
        if word in ("GET", "POST", "DELETE", "PUT") and len(span.split()) > 1:
            word = span.split()[1]
        if word.startswith("/") and word.split("/")[1].split("[")[0] not in FS_ROOTS:
            yield n, word
    for n, line, _ in d.each():
        for m in re.finditer(r"\b(?:GET|POST|DELETE|PUT) (/[^\s`)]*)", line):
            if not re.search(r"`[^`]*" + re.escape(m.group(0)), line):
                yield n, m.group(1)
        for m in re.finditer(r"\b(?:https?|wss?)://([^/\s`)\"'<>]+)(/[^\s`)\"'<>]*)?", line):
            host, path = m.group(1), m.group(2) or ""
            if path and (":" in host or host.split(":")[0] in ("localhost", "127.0.0.1", "HOST")):
                yield n, path


def normalize(path):
    path = re.split(r"[?#\[]", path)[0]
    path = re.sub(r"\.\.\.|\*", "{x}", path)
    return path.rstrip(".,;:") or "/"


def endpoint_known(path, lits, assets):
    """A literal route or file, or a route prefix ("/api/allocations/")
    followed by one segment (an id, a name, a {placeholder}) and perhaps a
    literal suffix the router checks ("/revoke"). A prefix that also has
    literal routes under it ("/api/users/" has "/api/users/revoked") is a
    namespace: there the suffix is required."""
    if path in lits or path in assets:
        return True
    for pre in lits:
        if len(pre) > 1 and pre.endswith("/") and path.startswith(pre):
            namespace = any(x != pre and x.startswith(pre) and not x.endswith("/") for x in lits)
            if path[len(pre):] == "{x}":  # "/api/..." or "/api/*": anything under it
                return True
            seg, slash, rest = path[len(pre):].partition("/")
            if seg and "/" not in rest and ("/" + rest in lits if slash else not namespace):
                return True
    return False


def test_docs_endpoints():
    lits, assets = T.endpoints()
    p = Problems()
    named = set()
    for d in all_docs():
        for n, raw in doc_endpoints(d):
            path = normalize(raw)
            named.add(path)
            if not endpoint_known(path, lits, assets):
                p.add(d, n, f"endpoint `{path}` is not served (no such path in the routers "
                            "or signal/www)")
    for lit in sorted(lits | assets):
        covered = any(x == lit or x.startswith(lit) or lit == x + "/" or
                      (not lit.endswith("/") and x.endswith(lit) and lit.count("/") == 1 and
                       x != lit and "{" in x)
                      for x in named)
        if not covered:
            p.add(None, 0, f"endpoint `{lit}` is served but no doc names it")
    p.check("endpoint")


# ---- Signaling ----------------------------------------------------------------

def test_docs_signaling():
    client, codes, server = T.client_types(), T.error_codes(), T.live()[2]
    p = Problems()
    for d in all_docs():
        for n, line, _ in d.each():
            for m in re.finditer(r'"type"\s*:\s*"([a-z-]+)"', line):
                t = m.group(1)
                if t not in client | server and not T.source_literal(f'"{t}"') \
                        and not T.source_literal(f"'{t}'"):
                    p.add(d, n, f'message type "{t}" is neither sent nor accepted by the hub')
            for m in re.finditer(r'"code"\s*:\s*"([a-z-]+)"', line):
                if m.group(1) not in codes:
                    p.add(d, n, f'error code "{m.group(1)}" does not exist')
    sig = doc("docs/signaling.md")
    text = "\n".join(sig.lines)
    heads = {h for _, h in sig.headings()}
    for t in sorted(client):
        if t not in heads:
            p.add(sig, 0, f"client message `{t}` has no section (### {t})")
    for t in sorted(server):
        if not re.search(r'"type"\s*:\s*"' + re.escape(t) + '"', text):
            p.add(sig, 0, f'the hub sends "{t}" but no example shows it')
    table = {}
    for n, header, cells in sig.tables():
        if header[:1] == ["code"]:
            table[strip_ticks(cells[0])] = n
    for c in sorted(codes - set(table)):
        p.add(sig, 0, f"error code `{c}` is missing from the error table")
    for c in sorted(set(table) - codes):
        p.add(sig, table[c], f"error code `{c}` does not exist")
    p.check("signaling")


# ---- make targets and command-line options ---------------------------------------

def check_options(p, d, n, s, opts, standalone):
    """The options in <s> (an inline span or a line of a code block): after
    a program's name, that program's; a span that is only options (say
    `--check-config`), any program's, unless its paragraph names another
    tool, whose options they then are."""
    progs = sorted((x for x in opts if re.search(rf"(?<![\w-]){re.escape(x)}(?![\w-])", s)),
                   key=len, reverse=True)
    if progs:
        start = s.index(progs[0])
        allowed, s = opts[progs[0]], s[start:]
    elif standalone and s.startswith("--") and not OTHER_TOOLS.search(d.para[n - 1]):
        allowed = set().union(*opts.values())
    else:
        return
    for m in re.finditer(r"(?<![\w-])(--?[a-zA-Z][a-z0-9-]*)(?![\w.-])", s):
        if m.group(1) not in allowed:
            who = progs[0] if progs else "any program"
            p.add(d, n, f"option `{m.group(1)}` is not in the help of {who}")


def test_docs_make_targets_and_options():
    rules, phony = T.make_targets()
    opts = T.cli_options()
    p = Problems()
    named = set()
    for d in all_docs():
        spans = [(n, s) for n, s in d.ticks()] + [(n, l) for n, l, c in d.each() if c]
        for n, s in spans:
            if s.lstrip().startswith("# HELP"):
                continue  # a metric's help text in a sample exposition, not a command
            for m in re.finditer(r"(?<![\w/-])make((?:\s+-\S+)*)\s+([a-z][a-z0-9_-]*)(?![=\w-])",
                                 s):
                named.add(m.group(2))
                if m.group(2) not in rules:
                    p.add(d, n, f"`make {m.group(2)}`: no such target in the Makefile")
        for n, s in d.ticks():
            if not is_error_example(s):
                check_options(p, d, n, s, opts, standalone=True)
        for n, line, code in d.each():
            if code and not is_error_example(line):
                check_options(p, d, n, line, opts, standalone=False)
    for t in sorted(phony - {"all"} - named):
        p.add(None, 0, f"`make {t}` is a target no doc names")
    # Every option of every program appears in some doc.
    text = "\n".join("\n".join(d.lines) for d in all_docs())
    for o in sorted(set().union(*opts.values())):
        if o not in ("-h", "-V", "-c") and not re.search(rf"(?<![\w-]){re.escape(o)}(?![\w-])",
                                                         text):
            p.add(None, 0, f"option `{o}` is in icehubd's help but no doc names it")
    p.check("make target and option")


# ---- Paths and links ------------------------------------------------------------

def slug(heading):
    h = strip_ticks(heading).lower()
    return re.sub(r"[^\w\- ]", "", h).replace(" ", "-")


def test_docs_paths_and_links():
    top = {e for e in os.listdir(ROOT) if not e.startswith(".")}
    path_re = re.compile(r"(?<![\w/.:-])((?:%s)/[A-Za-z0-9_./*-]*)" % "|".join(
        re.escape(t) for t in sorted(top) if os.path.isdir(os.path.join(ROOT, t))))
    names = {f for _, _, files in os.walk(ROOT) for f in files}
    p = Problems()

    def check(d, n, rel):
        rel = rel.rstrip(".,;:)")
        if any(c in rel for c in "<{") or re.search(r"XXX|YYYY|[A-Z]{4,}", rel) or \
                rel.startswith(GENERATED):
            return
        if not T.tree_exists(rel):
            p.add(d, n, f"`{rel}` does not exist in the repository")

    for d in all_docs():
        for n, span in d.ticks():
            word = span.split()[0] if span.split() else ""
            ext = word.rsplit(".", 1)[-1] if "." in word.split("/")[-1] else ""
            if re.fullmatch(r"[A-Za-z0-9_.-]+/([A-Za-z0-9_.*-]+/?)*", word) and \
                    (word.split("/")[0] in top or word.endswith("/") or ext in FILE_EXT) and \
                    not re.fullmatch(r"\d.*", word):
                check(d, n, word)
            # A bare source file name (`sig_hub.c`) must be somewhere in the tree.
            if re.fullmatch(r"[A-Za-z0-9_-]+\.(c|h|py|mjs|sh)", word) and word not in names:
                p.add(d, n, f"`{word}` is no file in the repository")
        for n, line, code in d.each():
            for m in path_re.finditer(re.sub(r"\]\([^)]*\)", "]", line)):
                check(d, n, m.group(1))
            if code:
                m = re.match(r"^([a-z][a-z0-9_-]*/)\s{2,}\S", line)
                if m:
                    check(d, n, m.group(1))
            for m in re.finditer(r"\]\(([^)\s]+)\)", line):
                target = m.group(1)
                if re.match(r"[a-z]+:", target):
                    continue
                file, _, anchor = target.partition("#")
                path = os.path.normpath(os.path.join(os.path.dirname(d.rel), file)) if file \
                    else d.rel
                if not T.tree_exists(path):
                    p.add(d, n, f"link to `{target}`: no such file")
                elif anchor and path.endswith(".md"):
                    if anchor not in {slug(h) for _, h in Doc(path).headings()}:
                        p.add(d, n, f"link to `{target}`: {path} has no heading #{anchor}")
    # README's layout names every top-level folder of the tree.
    readme = doc("README.md")
    layout = {m.group(1) for n, line, code in readme.each() if code
              for m in [re.match(r"^([a-z][a-z0-9_-]*)/\s{2,}\S", line)] if m}
    for t in sorted(top):
        if os.path.isdir(os.path.join(ROOT, t)) and t not in ("bin", "build") and \
                t not in layout:
            p.add(readme, 0, f"the layout does not list the folder `{t}/`")
    p.check("path and link")
