"""The privacy rule (geo.privacy): no public figure is about fewer than k people, directly
or by differencing a what-if with its baseline."""

import math

import numpy as np
import pytest

from geo.privacy import publish_summary, published_change, round_people
from web import create_app
from web.state import Scenario

K = 10


def test_rounding_withholds_small_counts_and_rounds_the_rest_to_k():
    x = np.array([0, 0.5, 4, 9.99, 10, 14.99, 15, 24.9, 25, 1234, -3, -12])
    assert round_people(x, k=10).tolist() == [0, 0, 0, 0, 10, 10, 20, 20, 30, 1230, 0, -10]
    assert round_people([3.0, 7.0], k=0).tolist() == [3.0, 7.0]
    with pytest.raises(ValueError, match="privacy k=-1"):
        round_people([1], k=-1)


def test_a_change_under_k_is_no_change():
    base = np.array([100, 100, 104, 0])
    now = np.array([109, 91, 118, 9])
    assert published_change(base, now, k=10).tolist() == [100, 100, 110, 0]


@pytest.fixture(scope="module")
def data():
    app = create_app({"TESTING": True, "TILES": "none"})
    return app.extensions["servicemap"]


def _figures(body: dict) -> dict:
    """Every figure about people in an /api/coverage answer, keyed by where it is."""
    out = {f"total.{k}": body[k] for k in ("people_total", "people_covered", "people_uncovered")}
    out["total.share"] = body["covered_share"]
    for a in body["areas"]:
        for k in ("people", "covered", "uncovered", "covered_share"):
            out[f"area.{a['area_id']}.{k}"] = a[k]
    for r in body["loads"]:
        for k in ("people_nearest", "people_covered"):
            out[f"load.{r['id']}.{k}"] = r[k]
    return out


def _gap_figures(body: dict) -> dict:
    cells = {f["properties"]["h3"]: f["properties"]["people"] for f in body["features"]}
    return {**cells, "withheld": body["withheld_people"]}


def test_sites_added_on_small_workplaces_reveal_nothing(data):
    """The attack of the issue: a 1 m circle around a new site on each workplace, differenced
    against the same question without the site. A workplace of fewer than k women changes
    no published figure (and the new site's own load reads 0); one of k or more may."""
    demand = data.demo.demand
    nursing = demand[demand["group"] == "female_nursing"].reset_index(drop=True)
    small = nursing[nursing["weight"] < K]
    big = nursing[nursing["weight"] >= 3 * K]
    rng = np.random.default_rng(7)
    picks = list(rng.choice(small.index, size=24, replace=False))
    # the worst case: the largest workplaces just under k
    picks += list(small["weight"].sort_values().index[-4:])
    base = Scenario("mother_room", threshold_m=1.0)
    before = data.coverage_json(base, area_level=None, lang="zh")
    before_gaps = data.gaps_geojson(base, "wgs84")
    for i in picks:
        p = nursing.geometry.iloc[i]
        sc = Scenario("mother_room", threshold_m=1.0, add=((p.x, p.y),))
        after = data.coverage_json(sc, area_level=None, lang="zh")
        new = [r for r in after["loads"] if r["new"]]
        assert [r["people_covered"] for r in new] == [0.0]
        changed = {
            k: (v, _figures(before).get(k, 0.0))
            for k, v in _figures(after).items()
            if v != _figures(before).get(k, 0.0)
        }
        # only the shares of who is nearest to which site move (the new site takes its
        # neighbours' nearest people: hundreds, published as multiples of k); nothing
        # about who is covered, anywhere, moves
        for k, (a, b) in changed.items():
            assert k.endswith(".people_nearest"), (i, k, a, b)
            assert abs(a - b) >= K and (a - b) % K == 0, (i, k, a, b)
        assert _gap_figures(data.gaps_geojson(sc, "wgs84")) == _gap_figures(before_gaps)
    # the rule is not blind: a large workplace is seen, as a multiple of k
    p = big.geometry.iloc[0]
    sc = Scenario("mother_room", threshold_m=1.0, add=((p.x, p.y),))
    after = data.coverage_json(sc, area_level=None, lang="zh")
    gained = after["people_covered"] - before["people_covered"]
    assert gained >= K and gained % K == 0
    assert abs(gained - big["weight"].iloc[0]) <= K / 2


def test_closing_a_station_is_published_the_same_way(data):
    base = Scenario("outdoor_station", threshold_m=1000.0)
    for fid in ("OS001", "OS012", "OS030"):
        sc = Scenario("outdoor_station", threshold_m=1000.0, off=(fid,))
        exact_before = data.summary(base)
        exact_after = data.summary(sc)
        body = data.coverage_json(sc, area_level=None, lang="zh")
        change = exact_after.people_covered - exact_before.people_covered
        expected = round_people(exact_before.people_covered, k=K) + round_people(change, k=K)
        assert body["people_covered"] == expected
        assert body["people_covered"] % K == 0 and body["people_total"] % K == 0
        for a in body["areas"]:
            assert a["people"] % K == 0 and a["covered"] % K == 0


def test_every_public_count_is_a_multiple_of_k_or_withheld(data):
    for key in data.types_present:
        sc = data.default_scenario(key)
        body = data.coverage_json(sc, area_level=None, lang="zh")
        for where, v in _figures(body).items():
            if v is None or where.endswith("share"):
                continue
            assert v % K == 0, (key, where, v)
        for f in data.gaps_geojson(sc, "wgs84")["features"]:
            assert f["properties"]["people"] >= K and f["properties"]["people"] % K == 0


def test_publish_keeps_the_shape_and_states_the_rule(data):
    exact = data.summary(data.default_scenario("outdoor_station"))
    pub = publish_summary(exact, k=K)
    assert list(pub.by_area.columns) == list(exact.by_area.columns)
    assert list(pub.loads.columns) == list(exact.loads.columns)
    assert pub.extra["privacy"]["k"] == K
    assert math.isclose(pub.covered_share, exact.covered_share, abs_tol=K / exact.people_total)
