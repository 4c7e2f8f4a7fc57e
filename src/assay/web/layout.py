"""A layered drawing of the asset graph, left to right, and its SVG.

Sugiyama's method in four steps, each vectorized with numpy where the work is:

1. layers: each node's column is its longest path from a source;
2. long edges are cut into one-column segments through virtual nodes, which
   take a row slot like a box does, so a polyline passes between boxes;
3. crossings: barycenter sweeps down and up, a layer at a time, reorder each
   column (ties by node id);
4. rows: each column's y coordinates minimise the squared length of the edges
   (long edges weigh more, so they stay straight) while keeping boxes apart,
   layers of one parity at a time (they do not touch each other).

Disconnected components are laid out apart and stacked, the largest on top.
The same nodes and edges give the same layout, whatever their input order.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

CHAR_PX = 7.2
"""The width of one label character, a monospace-ish estimate."""
PAD_PX = 12.0
"""Space between a box's side and its label."""
MIN_WIDTH_PX, MAX_WIDTH_PX = 120.0, 320.0
COMPONENT_GAP_PX = 28.0
"""Vertical space between two stacked components."""
_ORDER_SWEEPS = 8
"""Down-and-up barycenter sweep pairs at most (fewer when an order stops changing)."""
_ORDER_LAYER_STEPS = 40_000
_SMALL_LAYER = 32
"""Layers of at most this many nodes are reordered in plain Python, numpy's per-call
cost dominating there."""
"""At most this many layer reorderings in all: a graph thousands of layers deep gets fewer
sweeps, keeping the time linear in its size."""
_PLACE_ROUNDS = 24
"""Rounds of row placement (each moves the even layers, then the odd ones)."""
_WEIGHT_REAL, _WEIGHT_MIXED, _WEIGHT_VIRTUAL = 1.0, 2.0, 8.0
"""Pull of an edge segment between two boxes, a box and a bend, two bends."""


@dataclass(frozen=True, slots=True)
class NodeBox:
    """A node's box: its top-left corner and size, in px."""

    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True, slots=True)
class GraphLayout:
    """Where each box and edge goes in a drawing `width` x `height` px.

    `edges` holds `(source, target, points)`: the polyline from the middle of the
    source box's right side to the middle of the target box's left side, x
    increasing along it, sorted by source then target.
    """

    width: float
    height: float
    nodes: dict[str, NodeBox]
    edges: list[tuple[str, str, tuple[tuple[float, float], ...]]]


def box_width(label: str) -> float:
    """The width of a box showing `label`, in px: its estimated text width plus padding,
    clamped to 120..320."""
    return min(MAX_WIDTH_PX, max(MIN_WIDTH_PX, len(label) * CHAR_PX + 2 * PAD_PX))


def layout_graph(
    nodes: Sequence[str],
    edges: Sequence[tuple[str, str]],
    *,
    labels: Mapping[str, str] | None = None,
    node_height: float = 34,
    layer_gap: float = 80,
    row_gap: float = 14,
) -> GraphLayout:
    """Lay out a DAG left to right: sources in the first column, each edge pointing right.

    Args:
        nodes: the node ids (asset keys such as `sales/orders`); repeats are ignored.
        edges: `(upstream, downstream)` pairs; those with an end not in `nodes`,
            self-loops and repeats are ignored.
        labels: the text shown for a node (its id if absent), which sets its box width.
        node_height: the height of every box, px.
        layer_gap: the horizontal space between two columns, px.
        row_gap: the least vertical space between two boxes of a column, px.

    Returns:
        The boxes and edge polylines, the drawing starting at (0, 0).

    Raises:
        ValueError: the edges make a cycle.

    >>> layout = layout_graph(["a", "b"], [("a", "b")])
    >>> layout.nodes["a"].x < layout.nodes["b"].x
    True
    """
    ids = sorted(set(nodes))
    n = len(ids)
    if not n:
        return GraphLayout(0.0, 0.0, {}, [])
    index = {key: i for i, key in enumerate(ids)}
    pairs = sorted({(index[s], index[t]) for s, t in edges if s in index and t in index and s != t})
    src = np.array([s for s, _ in pairs], dtype=np.int64)
    dst = np.array([t for _, t in pairs], dtype=np.int64)
    text = [labels.get(key, key) if labels else key for key in ids]
    widths = np.array([box_width(label) for label in text])

    layer = _layers(n, src, dst, ids)
    comp = _components(n, src, dst)
    graph = _Split.of(layer, comp, src, dst)
    order, starts = _ordered(graph, n)
    half = np.where(np.arange(graph.size) < n, node_height / 2, 0.0)
    y = _rows(graph, order, starts, half, row_gap)

    # stack the components, each starting below the one before
    top = np.full(int(comp.max()) + 1, np.inf)
    bottom = np.full_like(top, -np.inf)
    np.minimum.at(top, graph.comp, y - half)
    np.maximum.at(bottom, graph.comp, y + half)
    heights = bottom - top
    offsets = np.concatenate(([0.0], np.cumsum(heights + COMPONENT_GAP_PX)[:-1]))
    y = y - top[graph.comp] + offsets[graph.comp]

    layers = int(layer.max()) + 1
    column = np.zeros(layers)
    np.maximum.at(column, layer, widths)
    left = np.concatenate(([0.0], np.cumsum(column + layer_gap)[:-1]))

    xs = left[layer].tolist()
    tops = (y[:n] - node_height / 2).tolist()
    boxes = {
        key: NodeBox(xs[i], tops[i], float(widths[i]), float(node_height))
        for i, key in enumerate(ids)
    }
    return GraphLayout(
        width=float(left[-1] + column[-1]),
        height=float(offsets[-1] + heights[-1]),
        nodes=boxes,
        edges=_polylines(graph, ids, src, dst, widths, left, column, y),
    )


def _layers(n: int, src: np.ndarray, dst: np.ndarray, ids: list[str]) -> np.ndarray:
    """Each node's longest path from a source, in edges (Kahn's order)."""
    by_source = np.argsort(src, kind="stable")
    successors = dst[by_source].tolist()
    first = np.searchsorted(src[by_source], np.arange(n + 1)).tolist()
    waiting = np.bincount(dst, minlength=n).tolist()
    layer = [0] * n
    queue = [i for i in range(n) if not waiting[i]]
    for node in queue:  # grows while it is read
        below = layer[node] + 1
        for target in successors[first[node] : first[node + 1]]:
            if layer[target] < below:
                layer[target] = below
            waiting[target] -= 1
            if not waiting[target]:
                queue.append(target)
    if len(queue) < n:
        stuck = sorted(ids[i] for i in range(n) if waiting[i])[:5]
        raise ValueError(f"the graph has a cycle through some of {stuck!r}: it must be a DAG")
    return np.array(layer, dtype=np.int64)


def _components(n: int, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Each node's connected component, numbered largest first (ties: smallest node id)."""
    parent = list(range(n))
    for a, b in zip(src.tolist(), dst.tolist(), strict=True):
        while parent[a] != a:
            parent[a] = a = parent[parent[a]]
        while parent[b] != b:
            parent[b] = b = parent[parent[b]]
        if a != b:  # the smaller index is the root: a component's root is its first id
            parent[max(a, b)] = min(a, b)
    for i in range(n):  # parents have smaller indexes: one pass resolves every root
        parent[i] = parent[parent[i]]
    roots = np.array(parent, dtype=np.int64)
    sizes = np.bincount(roots, minlength=n)
    ranked = np.lexsort((np.arange(n), -sizes))  # roots first by size, then by id
    rank = np.empty(n, dtype=np.int64)
    rank[ranked] = np.arange(n)
    _, comp = np.unique(rank[roots], return_inverse=True)
    return comp.astype(np.int64)


@dataclass(frozen=True, slots=True)
class _Split:
    """The graph with long edges cut into one-layer segments through virtual nodes.

    Nodes `0..n-1` are the real ones, `n..size-1` the virtual ones; edge `e`'s
    virtual nodes are `n + bends_at[e] ..` (`bends[e]` of them), one per layer it crosses.
    """

    size: int
    layer: np.ndarray
    comp: np.ndarray
    key: np.ndarray  # the initial order within a layer
    seg_src: np.ndarray
    seg_dst: np.ndarray
    seg_weight: np.ndarray
    bends: np.ndarray
    bends_at: np.ndarray

    @classmethod
    def of(cls, layer: np.ndarray, comp: np.ndarray, src: np.ndarray, dst: np.ndarray) -> _Split:
        """The split graph of real nodes in `layer` and `comp` with edges `src` -> `dst`."""
        n = layer.size
        span = layer[dst] - layer[src]
        bends = span - 1
        bends_at = np.cumsum(bends) - bends
        edge = np.repeat(np.arange(src.size), span)
        step = np.arange(edge.size) - np.repeat(np.cumsum(span) - span, span)
        seg_src = np.where(step == 0, src[edge], n + bends_at[edge] + step - 1)
        seg_dst = np.where(step == span[edge] - 1, dst[edge], n + bends_at[edge] + step)
        virtual_edge = np.repeat(np.arange(src.size), bends)
        virtual_step = np.arange(virtual_edge.size) - np.repeat(bends_at, bends)
        size = n + virtual_edge.size
        is_virtual = np.arange(size) >= n
        weight = np.where(
            is_virtual[seg_src] & is_virtual[seg_dst],
            _WEIGHT_VIRTUAL,
            np.where(is_virtual[seg_src] | is_virtual[seg_dst], _WEIGHT_MIXED, _WEIGHT_REAL),
        )
        return cls(
            size=size,
            layer=np.concatenate((layer, layer[src[virtual_edge]] + virtual_step + 1)),
            comp=np.concatenate((comp, comp[src[virtual_edge]])),
            # a bend starts beside its source, after the real nodes of the same id
            key=np.concatenate((np.arange(n, dtype=np.float64), src[virtual_edge] + 0.5)),
            seg_src=seg_src,
            seg_dst=seg_dst,
            seg_weight=weight,
            bends=bends,
            bends_at=bends_at,
        )


def _ordered(graph: _Split, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The nodes sorted by layer, then component, then position in the layer (barycenter
    sweeps down and up); and where each layer starts in that array (one more: the end)."""
    layers = int(graph.layer.max()) + 1
    order = np.lexsort((graph.key, graph.comp, graph.layer))
    starts = np.searchsorted(graph.layer[order], np.arange(layers + 1))
    position = np.empty(graph.size, dtype=np.int64)
    position[order] = np.arange(graph.size) - starts[graph.layer[order]]
    sizes = np.diff(starts)
    scaled = (position + 0.5) / sizes[graph.layer]  # position in 0..1, comparable across layers

    # a layer needs ordering only when some component has two nodes in it
    groups = np.unique(graph.layer * (int(graph.comp.max()) + 1) + graph.comp, return_counts=True)
    crowded = np.zeros(layers, dtype=bool)
    crowded[groups[0][groups[1] > 1] // (int(graph.comp.max()) + 1)] = True
    active = np.flatnonzero(crowded).tolist()
    if not active:
        return order, starts

    # the segments entering each layer from the left (down) and leaving it to the right (up)
    into = np.argsort(graph.layer[graph.seg_dst], kind="stable")
    into_starts = np.searchsorted(graph.layer[graph.seg_dst][into], np.arange(layers + 1))
    out = np.argsort(graph.layer[graph.seg_src], kind="stable")
    out_starts = np.searchsorted(graph.layer[graph.seg_src][out], np.arange(layers + 1))
    sweeps = max(1, min(_ORDER_SWEEPS, _ORDER_LAYER_STEPS // (2 * len(active))))

    bounds = starts.tolist()
    comps = graph.comp.tolist()

    def reorder(lay: int, mine: np.ndarray, theirs: np.ndarray) -> bool:
        """Sort layer `lay` by the mean position of its neighbours (`theirs`, each the
        neighbour of the node of `mine` beside it), ties kept in order; True if it changed."""
        a, b = bounds[lay], bounds[lay + 1]
        size = b - a
        if size <= _SMALL_LAYER:  # numpy's per-call cost would dominate: plain Python
            members = order[a:b].tolist()
            centre = scaled[members].tolist()
            count = [0] * size
            total = [0.0] * size
            for local, their in zip(position[mine].tolist(), scaled[theirs].tolist(), strict=True):
                count[local] += 1
                total[local] += their
            keys = [
                (comps[node], total[i] / count[i] if count[i] else centre[i])
                for i, node in enumerate(members)
            ]
            moved_list = sorted(range(size), key=keys.__getitem__)
            if moved_list == list(range(size)):
                return False
            moved = np.array(moved_list)
        else:
            local = position[mine]
            counts = np.bincount(local, minlength=size)
            totals = np.bincount(local, weights=scaled[theirs], minlength=size)
            centres = scaled[order[a:b]].copy()
            has = counts > 0
            centres[has] = totals[has] / counts[has]
            moved = np.lexsort((centres, graph.comp[order[a:b]]))  # stable: ties keep order
            if not np.any(moved != np.arange(size)):
                return False
        placed = order[a:b][moved]
        order[a:b] = placed
        position[placed] = np.arange(size)
        scaled[placed] = (np.arange(size) + 0.5) / size
        return True

    for _ in range(sweeps):
        changed = False
        for lay in active:
            segs = into[into_starts[lay] : into_starts[lay + 1]]
            changed |= reorder(lay, graph.seg_dst[segs], graph.seg_src[segs])
        for lay in reversed(active):
            segs = out[out_starts[lay] : out_starts[lay + 1]]
            changed |= reorder(lay, graph.seg_src[segs], graph.seg_dst[segs])
        if not changed:
            break
    return order, starts


def _rows(
    graph: _Split, order: np.ndarray, starts: np.ndarray, half: np.ndarray, row_gap: float
) -> np.ndarray:
    """Each node's y centre: nodes kept in `order` at least `row_gap` apart, pulled towards
    their neighbours (the weighted mean of their y), in each component's own frame."""
    size = graph.size
    layer = graph.layer[order]
    comp = graph.comp[order]
    new_group = np.concatenate(([True], (layer[1:] != layer[:-1]) | (comp[1:] != comp[:-1])))
    group = np.cumsum(new_group) - 1
    group_start = np.flatnonzero(new_group)
    group_end = np.concatenate((group_start[1:], [size])) - 1
    # `least`: where each node would sit packed tight from its group's first node
    gaps = np.concatenate(([0.0], half[order][1:] + half[order][:-1] + row_gap))
    packed = np.cumsum(gaps)
    least = packed - packed[group_start][group]
    y_sorted = least - least[group_end][group] / 2  # each group centred on 0
    y = np.empty(size)
    y[order] = y_sorted

    ends = np.concatenate((graph.seg_src, graph.seg_dst))
    others = np.concatenate((graph.seg_dst, graph.seg_src))
    weights = np.concatenate((graph.seg_weight, graph.seg_weight))
    pull = np.bincount(ends, weights=weights, minlength=size)
    is_free = pull == 0
    pull[is_free] = 1.0
    parity = (graph.layer % 2)[order]

    for _ in range(_PLACE_ROUNDS):
        for side in (0, 1):
            wanted = np.bincount(ends, weights=weights * y[others], minlength=size) / pull
            wanted[is_free] = y[is_free]
            # y_i - least_i must not decrease along a group: fit it by the mean of the
            # tightest fits from the top and from the bottom (both feasible)
            slack = wanted[order] - least
            lift = (np.abs(slack).max() + 1.0) * 4.0
            slack = slack + group * lift  # groups never mix in the running max and min
            down = np.maximum.accumulate(slack)
            up = np.minimum.accumulate(slack[::-1])[::-1]
            fitted = (down + up) / 2 - group * lift + least
            moving = parity == side
            y_sorted = np.where(moving, fitted, y[order])
            y[order] = y_sorted
    return y


def _polylines(
    graph: _Split,
    ids: list[str],
    src: np.ndarray,
    dst: np.ndarray,
    widths: np.ndarray,
    left: np.ndarray,
    column: np.ndarray,
    y: np.ndarray,
) -> list[tuple[str, str, tuple[tuple[float, float], ...]]]:
    """Each edge's points: out of its source's right side, through each column it crosses
    (in at the column's left, out at its right, on its bend's row), into its target's left."""
    n = len(ids)
    x_out = (left[graph.layer[src]] + widths[src]).tolist()
    x_in = left[graph.layer[dst]].tolist()
    y_list = y.tolist()
    bend_layer = graph.layer[n:]
    bend_in = left[bend_layer].tolist()
    bend_out = (left[bend_layer] + column[bend_layer]).tolist()
    bends = graph.bends.tolist()
    bends_at = graph.bends_at.tolist()
    lines: list[tuple[str, str, tuple[tuple[float, float], ...]]] = []
    for e, (s, t) in enumerate(zip(src.tolist(), dst.tolist(), strict=True)):
        points = [(x_out[e], y_list[s])]
        for v in range(bends_at[e], bends_at[e] + bends[e]):
            row = y_list[n + v]
            points.append((bend_in[v], row))
            points.append((bend_out[v], row))
        points.append((x_in[e], y_list[t]))
        lines.append((ids[s], ids[t], tuple(points)))
    return lines


def _path(points: tuple[tuple[float, float], ...]) -> str:
    """SVG path data through `points`, to 0.1 px: a horizontal S-curve where the row changes."""
    (x0, y0), *rest = points
    row = f"{y0:.1f}"
    parts = [f"M{x0:.1f},{row}"]
    for x1, y1 in rest:
        after = f"{y1:.1f}"
        if after == row:
            parts.append(f"H{x1:.1f}")
        else:
            middle = f"{(x0 + x1) / 2:.1f}"
            parts.append(f"C{middle},{row} {middle},{after} {x1:.1f},{after}")
        x0, row = x1, after
    return "".join(parts)


_MARGIN_PX = 8.0
_ARROW_ID = "assay-graph-arrow"


def graph_svg(
    layout: GraphLayout,
    *,
    status: Mapping[str, str],
    href: Callable[[str], str],
    labels: Mapping[str, str] | None = None,
    titles: Mapping[str, str] | None = None,
    highlight: str | None = None,
) -> str:
    """The `<svg>` of a layout: edges (`<path class="edge">`, with an arrowhead) under the
    nodes, each a `<g class="node status-{status}" data-key="{id}">` holding a link with
    its tooltip (`titles`, else the id), box and label.

    Args:
        layout: what `layout_graph` returned.
        status: each node's status class (`fresh`, `stale`, ...); `unknown` if absent.
        href: the link of a node id.
        labels: the text in each box (the id if absent), cut with `…` to fit.
        titles: the tooltip of each node (the id if absent).
        highlight: a node drawn with the `highlight` class, its edges too.

    Returns:
        The SVG markup, every text and attribute escaped, coordinates rounded to 0.1 px;
        colours are left to the stylesheet.
    """
    width, height = layout.width + 2 * _MARGIN_PX, layout.height + 2 * _MARGIN_PX
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="asset-graph" '
        f'viewBox="{-_MARGIN_PX:.1f} {-_MARGIN_PX:.1f} {width:.1f} {height:.1f}" '
        f'width="{width:.1f}" height="{height:.1f}">',
        f'<defs><marker id="{_ARROW_ID}" viewBox="0 0 8 8" refX="8" refY="4" '
        'markerWidth="8" markerHeight="8" markerUnits="userSpaceOnUse" orient="auto">'
        '<path class="arrowhead" d="M0,0L8,4L0,8z"/></marker></defs>',
        '<g class="edges">',
    ]
    for source, target, points in layout.edges:
        lit = " highlight" if highlight is not None and highlight in (source, target) else ""
        parts.append(
            f'<path class="edge{lit}" d="{_path(points)}" marker-end="url(#{_ARROW_ID})"/>'
        )
    parts.append('</g><g class="nodes">')
    for key, box in layout.nodes.items():
        label = labels.get(key, key) if labels else key
        fits = max(1, int((box.width - 2 * PAD_PX) / CHAR_PX))
        if len(label) > fits:
            label = label[: fits - 1] + "…"
        title = titles.get(key, key) if titles else key
        lit = " highlight" if key == highlight else ""
        parts.append(
            f'<g class="node status-{escape(status.get(key, "unknown"))}{lit}" '
            f'data-key="{escape(key)}"><a href="{escape(href(key))}">'
            f"<title>{escape(title)}</title>"
            f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{box.width:.1f}" '
            f'height="{box.height:.1f}" rx="4"/>'
            f'<text x="{box.x + PAD_PX:.1f}" y="{box.y + box.height / 2:.1f}" '
            f'dominant-baseline="central">{escape(label)}</text></a></g>'
        )
    parts.append("</g></svg>")
    return "".join(parts)
