#!/usr/bin/python3
"""tests/bench/report.py: assemble docs/benchmarks.md from the sections a
make bench run wrote (build/bench/report/<section>.md). A section that did
not run this time (BENCH_ONLY) keeps its text from the existing file, so
one section can be measured again alone. Each section sits between
<!-- bench:NAME --> markers. At the end, a closing note lists every target
missed, whichever run measured it, with what that section's profile showed.

usage: report.py OUT REPORT_DIR HEADER_FILE
"""
import os
import re
import sys

ORDER = ["binding", "turn", "quota", "storm", "stream", "signal", "cluster"]
# Headings of the file before it had markers.
OLD_TITLES = {"## STUN Binding": "binding", "## TURN relaying": "turn", "## Quotas": "quota",
              "## Signaling hub": "signal", "## Signaling across nodes": "cluster"}


def old_sections(text):
    """Sections of an existing report: by marker, or by heading in an older file."""
    found = {m.group(1): m.group(2).strip("\n") for m in
             re.finditer(r"<!-- bench:(\w+) -->\n(.*?)\n<!-- /bench:\1 -->", text, re.S)}
    if found:
        return found
    text = re.sub(r"<!-- /?quota-bench[^>]*-->\n?", "", text)
    parts = re.split(r"\n(?=## )", text)
    for p in parts:
        for title, name in OLD_TITLES.items():
            if p.startswith(title):
                found[name] = p.strip("\n")
    return found


def closing_note(sections):
    out = ["## Closing note: targets missed and what the profiles showed", ""]
    any_missed = False
    for name in ORDER:
        body = sections.get(name)
        if not body:
            continue
        missed = [ln for ln in body.splitlines() if ln.startswith("- ") and "**missed**" in ln]
        if not missed:
            continue
        any_missed = True
        title = body.splitlines()[0].lstrip("# ").strip()
        out.append(f"**{title}**")
        out.append("")
        out.extend(missed)
        prof = re.search(r"A profile of (.*?):\s*(samples by binary:.*?)\.?\n\n", body, re.S)
        if prof:
            out.append("")
            out.append(f"Profile ({' '.join(prof.group(1).split())}): "
                       f"{' '.join(prof.group(2).split())}. The section's \"What limits it\" "
                       "says what that means for the missed targets.")
        out.append("")
    if not any_missed:
        out.append("Every target in the sections above was met in the runs they report.")
        out.append("")
    return "\n".join(out)


def main():
    out, rdir, header = sys.argv[1:4]
    try:
        old = open(out, encoding="utf-8").read()
    except FileNotFoundError:
        old = ""
    sections = old_sections(old)
    fresh = []
    for name in ORDER:
        p = os.path.join(rdir, name + ".md")
        if os.path.exists(p) and os.path.getsize(p):
            sections[name] = open(p, encoding="utf-8").read().strip("\n")
            fresh.append(name)
    doc = [open(header, encoding="utf-8").read().rstrip("\n"), ""]
    if fresh:
        kept = [n for n in ORDER if n in sections and n not in fresh]
        doc.append(f"This run measured: {', '.join(fresh)}." +
                   (f" Kept from an earlier run: {', '.join(kept)} (each section says when "
                    "and on what machine it ran)." if kept else ""))
        doc.append("")
    for name in ORDER:
        if name in sections:
            doc += [f"<!-- bench:{name} -->", sections[name], f"<!-- /bench:{name} -->", ""]
    crash = os.path.join(rdir, "crashes")
    if os.path.exists(crash) and os.path.getsize(crash):
        doc += ["## Server crashes", "",
                "Servers found dead of a signal (not our SIGTERM) when they were stopped:", ""]
        doc += ["- " + ln for ln in open(crash).read().splitlines()] + [""]
    doc.append(closing_note(sections))
    with open(out + ".tmp", "w", encoding="utf-8") as f:
        f.write("\n".join(doc).rstrip("\n") + "\n")
    os.replace(out + ".tmp", out)
    print(f"wrote {out} ({', '.join(fresh) or 'no section'} measured)")


if __name__ == "__main__":
    main()
