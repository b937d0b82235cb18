#!/usr/bin/env python3
"""Import cycles among the engine's modules. A node is a file's module path (src/db/open.rs ->
db::open). Edges come from `use crate::a::b`, `crate::a::b::` paths in code, and `super::x` /
`use super::x`. Reports strongly connected components with more than one node, at file level
and at top-level-module level (db, sstable, ...). Test files and #[cfg(test)] modules excluded."""
import os, re, sys
root = sys.argv[1] if len(sys.argv) > 1 else 'src'
mods = {}
for dp, _, fs in os.walk(root):
    for f in fs:
        if not f.endswith('.rs') or f == 'tests.rs': continue
        p = os.path.join(dp, f)
        rel = os.path.relpath(p, root)[:-3].split(os.sep)
        if rel[-1] in ('mod', 'lib', 'main'): rel = rel[:-1]
        if rel and rel[0] == 'bin': continue
        text = open(p).read()
        m = re.search(r'^#\[cfg\(test\)\]\s*\n\s*mod ', text, re.M)
        if m: text = text[:m.start()]
        text = re.sub(r'//.*', '', text)
        mods['::'.join(rel)] = (rel, text)
names = set(mods)
def resolve(path):
    parts = path.split('::')
    while parts:
        n = '::'.join(parts)
        if n in names: return n
        parts = parts[:-1]
    return None
edges = {n: set() for n in names}
for n, (rel, text) in mods.items():
    is_dir_mod = os.path.exists(os.path.join(root, *rel, 'mod.rs'))
    for m in re.finditer(r'crate::([a-z_][a-z0-9_]*(?:::[a-z_][a-z0-9_]*)*)', text):
        t = resolve(m.group(1))
        if t and t != n: edges[n].add(t)
    for m in re.finditer(r'\bsuper::([a-z_][a-z0-9_]*(?:::[a-z_][a-z0-9_]*)*)', text):
        base = rel if is_dir_mod else rel[:-1]
        t = resolve('::'.join(base + m.group(1).split('::')))
        if t and t != n: edges[n].add(t)
    # `use super::{a, b::c}` groups
    for m in re.finditer(r'use (crate|super)::\{([^}]*)\}', text):
        base = [] if m.group(1) == 'crate' else (rel if is_dir_mod else rel[:-1])
        for item in re.split(r'[,\s]+', m.group(2)):
            item = item.strip()
            if not item or not re.match(r'[a-z_]', item): continue
            t = resolve('::'.join(base + item.split('::')))
            if t and t != n: edges[n].add(t)
def sccs(nodes, edges):
    idx, low, st, on, out, c = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(10000)
    def visit(v):
        idx[v] = low[v] = c[0]; c[0] += 1; st.append(v); on.add(v)
        for w in edges.get(v, ()):
            if w not in idx: visit(w); low[v] = min(low[v], low[w])
            elif w in on: low[v] = min(low[v], idx[w])
        if low[v] == idx[v]:
            comp = []
            while True:
                w = st.pop(); on.discard(w); comp.append(w)
                if w == v: break
            if len(comp) > 1: out.append(sorted(comp))
    for v in sorted(nodes):
        if v not in idx: visit(v)
    return out
# a parent module "using" its own children is not a cycle (mod.rs re-exports); drop parent->child edges
for n in list(edges):
    edges[n] = {t for t in edges[n] if not t.startswith(n + '::') if n}
fc = sccs(names, edges)
top = {}
for n, ts in edges.items():
    a = n.split('::')[0] if n else ''
    for t in ts:
        b = t.split('::')[0]
        if a and b and a != b: top.setdefault(a, set()).add(b)
tc = sccs(set(top) | {b for s in top.values() for b in s}, top)
print('file-level cycles:', len(fc))
for c in fc: print('  ', ' <-> '.join(c))
print('top-level module cycles:', len(tc))
for c in tc: print('  ', ' <-> '.join(c))
