#!/usr/bin/env python3
"""List non-test Rust functions longer than N lines (default 80): brace matching; skips
#[cfg(test)] modules, tests.rs files and tests/ directories."""
import sys, re, os
limit = int(sys.argv[1]) if len(sys.argv) > 1 else 80
roots = sys.argv[2:] or ["src"]
fn_re = re.compile(r'^\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?fn\s+(\w+)')
out = []
for root in roots:
    for dp, _, fs in os.walk(root):
        for f in fs:
            if not f.endswith('.rs') or f == 'tests.rs' or '/tests' in dp.replace(os.sep, '/'): continue
            p = os.path.join(dp, f)
            lines = open(p, encoding='utf-8', errors='replace').read().split('\n')
            # cut at #[cfg(test)]
            for i, l in enumerate(lines):
                if l.strip() == '#[cfg(test)]' and i + 1 < len(lines) and 'mod ' in lines[i + 1]:
                    lines = lines[:i]; break
            i = 0
            while i < len(lines):
                m = fn_re.match(lines[i])
                if m and not lines[i].rstrip().endswith(';'):
                    depth = 0; started = False; j = i
                    while j < len(lines):
                        code = re.sub(r'//.*', '', lines[j])
                        code = re.sub(r'"(\\.|[^"\\])*"', '""', code)
                        code = re.sub(r"'(\\.|[^'\\])'", "''", code)
                        for ch in code:
                            if ch == '{': depth += 1; started = True
                            elif ch == '}': depth -= 1
                        if started and depth <= 0: break
                        j += 1
                    n = j - i + 1
                    if n > limit: out.append((n, p, i + 1, m.group(6)))
                    i += 1
                else:
                    i += 1
for n, p, l, name in sorted(out, reverse=True):
    print(f"{n:4d} {p}:{l} {name}")
