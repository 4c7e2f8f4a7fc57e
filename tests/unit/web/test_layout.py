import itertools
import random
import re
import xml.etree.ElementTree as ET

import pytest

from assay.web.layout import GraphLayout, box_width, graph_svg, layout_graph

SVG = "{http://www.w3.org/2000/svg}"


def random_dag(count: int, layers: int, seed: int) -> tuple[list[str], list[tuple[str, str]]]:
    """`layers` columns of assets, each reading 1-3 of the column before, a fifth of
    the edges from further back (long edges); some assets read nothing (more sources)."""
    rng = random.Random(seed)
    names = [
        [f"g{layer % 3}/a{layer}_{i}" for i in range(count // layers)] for layer in range(layers)
    ]
    edges = set()
    for layer in range(1, layers):
        for target in names[layer]:
            for _ in range(rng.choice([0, 1, 2, 2, 3])):
                back = 1 if layer < 2 or rng.random() < 0.8 else rng.randint(2, layer)
                edges.add((rng.choice(names[layer - back]), target))
    return [name for column in names for name in column], sorted(edges)


def overlapping(layout: GraphLayout) -> list[tuple[str, str]]:
    """The pairs of boxes that overlap (a sweep over x)."""
    boxes = sorted(layout.nodes.items(), key=lambda item: item[1].x)
    found = []
    for i, (key, box) in enumerate(boxes):
        for other_key, other in boxes[i + 1 :]:
            if other.x >= box.x + box.width:
                break
            if other.y < box.y + box.height and box.y < other.y + other.height:
                found.append((key, other_key))
    return found


def crossings(layout: GraphLayout) -> int:
    """How many pairs of edge segments between two columns cross."""
    by_gap: dict[float, list[tuple[float, float]]] = {}
    for _, _, points in layout.edges:
        for (_, y0), (x1, y1) in itertools.pairwise(points):
            by_gap.setdefault(round(x1, 3), []).append((y0, y1))
    return sum(
        (a0 - b0) * (a1 - b1) < 0
        for segs in by_gap.values()
        for i, (a0, a1) in enumerate(segs)
        for b0, b1 in segs[i + 1 :]
    )


def check_geometry(layout: GraphLayout) -> None:
    assert overlapping(layout) == []
    for source, target, points in layout.edges:
        xs = [x for x, _ in points]
        assert all(a < b for a, b in itertools.pairwise(xs)), (source, target, points)
        out, into = layout.nodes[source], layout.nodes[target]
        assert points[0] == pytest.approx((out.x + out.width, out.y + out.height / 2))
        assert points[-1] == pytest.approx((into.x, into.y + into.height / 2))
    for box in layout.nodes.values():
        assert 0 <= box.x <= box.x + box.width <= layout.width + 1e-6
        assert 0 <= box.y <= box.y + box.height <= layout.height + 1e-6


def test_a_chain_goes_left_to_right_in_one_row():
    layout = layout_graph(["c", "a", "b"], [("a", "b"), ("b", "c")])
    a, b, c = (layout.nodes[key] for key in "abc")
    assert a.x < b.x < c.x
    assert a.y == pytest.approx(b.y) == pytest.approx(c.y)
    assert b.x == pytest.approx(a.x + a.width + 80)
    assert [(s, t) for s, t, _ in layout.edges] == [("a", "b"), ("b", "c")]
    assert layout.height == pytest.approx(34)
    check_geometry(layout)


def test_layers_are_longest_paths_and_long_edges_pass_between_boxes():
    # a reads nothing, d reads a directly and through b, c: a's edge to d crosses two columns
    nodes = ["a", "b", "c", "d", "x1", "x2"]
    edges = [("a", "b"), ("b", "c"), ("c", "d"), ("a", "d"), ("a", "x1"), ("x1", "x2")]
    layout = layout_graph(nodes, edges)
    xs = {key: box.x for key, box in layout.nodes.items()}
    assert xs["a"] < xs["b"] == xs["x1"] < xs["c"] == xs["x2"] < xs["d"]
    (points,) = [points for s, t, points in layout.edges if (s, t) == ("a", "d")]
    assert len(points) == 6  # in and out of the two columns it crosses
    for x, y in points[1:-1]:
        for box in layout.nodes.values():
            if box.x <= x <= box.x + box.width:
                assert not box.y <= y <= box.y + box.height, (x, y, box)
    check_geometry(layout)


def test_crossings_are_removed_where_the_id_order_would_cross():
    edges = [("a", "z"), ("b", "y"), ("c", "x"), ("z", "q"), ("x", "p")]
    layout = layout_graph(["a", "b", "c", "p", "q", "x", "y", "z"], edges)
    assert crossings(layout) == 0
    check_geometry(layout)


def test_edges_to_unknown_nodes_self_loops_and_repeats_are_ignored():
    layout = layout_graph(
        ["a", "b", "a"], [("a", "b"), ("a", "b"), ("a", "a"), ("a", "ghost"), ("ghost", "b")]
    )
    assert sorted(layout.nodes) == ["a", "b"]
    assert [(s, t) for s, t, _ in layout.edges] == [("a", "b")]


def test_a_cycle_is_refused_with_its_nodes():
    with pytest.raises(ValueError, match=r"cycle through some of \['b', 'c'\]"):
        layout_graph(["a", "b", "c"], [("a", "b"), ("b", "c"), ("c", "b")])


def test_nothing_to_draw():
    assert layout_graph([], []) == GraphLayout(0.0, 0.0, {}, [])


def test_box_width_follows_the_label_within_bounds():
    assert box_width("a") == 120
    assert box_width("x" * 30) == pytest.approx(30 * 7.2 + 24)
    assert box_width("x" * 200) == 320
    layout = layout_graph(["a", "b"], [], labels={"a": "x" * 30})
    assert layout.nodes["a"].width == pytest.approx(30 * 7.2 + 24)
    assert layout.nodes["b"].width == 120


def test_the_same_graph_in_any_order_gives_the_same_layout():
    nodes, edges = random_dag(300, 8, seed=3)
    first = layout_graph(nodes, edges)
    rng = random.Random(5)
    shuffled_nodes, shuffled_edges = nodes[:], edges[:]
    rng.shuffle(shuffled_nodes)
    rng.shuffle(shuffled_edges)
    assert layout_graph(shuffled_nodes, shuffled_edges) == first
    assert layout_graph(nodes, edges) == first


def test_components_are_stacked_apart_largest_first():
    edges = [("s/a", "s/b"), ("s/b", "s/c"), ("s/a", "s/c"), ("t/a", "t/b"), ("u/a", "u/b")]
    edges += [("t/b", "t/c"), ("t/b", "t/d")]
    nodes = sorted({key for edge in edges for key in edge} | {"lone"})
    layout = layout_graph(nodes, edges)
    spans = {}
    for key, box in layout.nodes.items():
        group = key.split("/")[0]
        top, bottom = spans.get(group, (box.y, box.y + box.height))
        spans[group] = (min(top, box.y), max(bottom, box.y + box.height))
    stacked = sorted(spans.values())
    assert all(a[1] < b[0] for a, b in itertools.pairwise(stacked))
    assert [group for group, _ in sorted(spans.items(), key=lambda item: item[1])] == [
        "t",  # 4 nodes
        "s",  # 3
        "u",  # 2, before "lone" (1)
        "lone",
    ]
    assert all(layout.nodes[key].x == 0 for key in ("s/a", "t/a", "u/a", "lone"))
    check_geometry(layout)


def test_a_thousand_node_dag_lays_out_readably():
    nodes, edges = random_dag(1_000, 10, seed=11)
    layout = layout_graph(nodes, edges)
    assert len(layout.nodes) == 1_000
    assert len(layout.edges) == len(edges)
    check_geometry(layout)
    column = {box.x for box in layout.nodes.values()}
    assert len(column) == 10


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def test_graph_svg_draws_edges_under_linked_nodes_with_status_classes():
    layout = layout_graph(["raw", "clean", "report"], [("raw", "clean"), ("clean", "report")])
    svg = graph_svg(
        layout,
        status={"raw": "source", "clean": "stale"},
        href=lambda key: f"/assets/{key}",
        titles={"clean": "clean: 3 partitions stale"},
        highlight="clean",
    )
    root = parse(svg)
    assert root.get("viewBox") is not None
    children = [child.get("class") for child in root]
    assert children.index("edges") < children.index("nodes")
    paths = root.findall(f"./{SVG}g[@class='edges']/{SVG}path")
    assert [p.get("class") for p in paths] == ["edge highlight", "edge highlight"]
    assert all(p.get("marker-end") == "url(#assay-graph-arrow)" for p in paths)
    assert root.find(f".//{SVG}marker[@id='assay-graph-arrow']") is not None
    groups = {g.get("data-key"): g for g in root.iter(f"{SVG}g") if g.get("data-key")}
    assert {key: g.get("class") for key, g in groups.items()} == {
        "raw": "node status-source",
        "clean": "node status-stale highlight",
        "report": "node status-unknown",
    }
    link = groups["clean"].find(f"{SVG}a")
    assert link is not None
    assert link.get("href") == "/assets/clean"
    assert link.findtext(f"{SVG}title") == "clean: 3 partitions stale"
    assert link.findtext(f"{SVG}text") == "clean"
    rect = link.find(f"{SVG}rect")
    assert rect is not None
    box = layout.nodes["clean"]
    assert (float(rect.get("x", "")), float(rect.get("width", ""))) == pytest.approx(
        (box.x, box.width), abs=0.05
    )
    assert groups["raw"].findtext(f".//{SVG}title") == "raw"  # no title given: the id
    for element in root.iter():  # colours are the stylesheet's
        assert not {"fill", "stroke", "style", "color"} & set(element.attrib)


def test_graph_svg_escapes_keys_labels_titles_and_links():
    key = 'a<&">b'
    layout = layout_graph([key, "down"], [(key, "down")])
    svg = graph_svg(
        layout,
        status={key: 'fresh"><script>'},
        href=lambda k: f"/assets?key={k}&x=1",
        labels={key: "<label & co>"},
        titles={key: '"quoted" <title>'},
    )
    assert "<script>" not in svg
    root = parse(svg)
    (group,) = [g for g in root.iter(f"{SVG}g") if g.get("data-key") == key]
    assert group.get("class") == 'node status-fresh"><script>'
    link = group.find(f"{SVG}a")
    assert link is not None
    assert link.get("href") == f"/assets?key={key}&x=1"
    assert link.findtext(f"{SVG}text") == "<label & co>"
    assert link.findtext(f"{SVG}title") == '"quoted" <title>'


def test_a_label_too_long_for_its_box_is_cut_and_numbers_are_short():
    long = "warehouse/" + "very_long_name_" * 5
    layout = layout_graph([long], [])
    svg = graph_svg(layout, status={}, href=str)
    text = parse(svg).findtext(f".//{SVG}text")
    assert text is not None
    assert text.endswith("…")
    assert long.startswith(text[:-1])
    assert len(text) * 7.2 <= 320
    nodes, edges = random_dag(200, 6, seed=1)
    svg = graph_svg(layout_graph(nodes, edges), status={}, href=str)
    parse(svg)
    assert {len(decimals) for decimals in re.findall(r"\d\.(\d+)", svg)} == {1}
