"""MCLP or p-center, 2,000 demand points x 200 candidates, p = 20: servicemap (HiGHS
direct, and the fast mode) against spopt with HiGHS (through PuLP), in one run, same data.

    .venv/bin/python benchmarks/bench_siting.py [--seeds 5]
    .venv/bin/python benchmarks/bench_siting.py --model pcenter [--seeds 3]

Model build is timed separately from the solve. Coverage of every answer is recomputed
from the chosen sites with numpy, never read from a solver.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import time
import warnings

import numpy as np
import scipy.sparse as sp

warnings.filterwarnings("ignore", message="Constructing LpVariable")


def instance(seed: int, n=2000, m=200, side_m=20_000.0, radius_m=1500.0):
    rng = np.random.default_rng(seed)
    # clustered demand (workplaces gather in industrial parks), uniform candidates
    centres = rng.random((15, 2)) * side_m
    d = centres[rng.integers(0, 15, n)] + rng.normal(0, 1500, (n, 2))
    f = rng.random((m, 2)) * side_m
    cost = np.hypot(*(d[:, None, :] - f[None, :, :]).transpose(2, 0, 1))
    w = rng.integers(1, 300, n).astype(float)
    return cost, w, radius_m


def recount(cost, w, r, sites):
    return float(w[(cost[:, np.asarray(sites)] <= r).any(axis=1)].sum())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--p", type=int, default=20)
    ap.add_argument("--model", choices=["mclp", "pcenter"], default="mclp")
    ap.add_argument(
        "--spopt-time-limit",
        type=float,
        default=1800.0,
        help="pcenter: seconds HiGHS may spend on spopt's model (its build is not limited)",
    )
    args = ap.parse_args()
    if args.model == "pcenter":
        return bench_pcenter(args)
    import pulp
    from spopt.locate import MCLP

    from geo import _siting_solvers as s
    from geo.siting import maximal_covering

    print(
        f"date: {datetime.date.today()}  machine: {platform.machine()}, "
        f"{__import__('os').cpu_count()} cores, Python {platform.python_version()}"
    )
    print(
        f"MCLP 2,000 demand x 200 candidates, p = {args.p}, radius 1.5 km, "
        f"{args.seeds} random clustered instances"
    )
    rows = []
    for seed in range(args.seeds):
        cost, w, r = instance(seed)
        cover = sp.csr_array(cost <= r)
        # servicemap exact: build (reduction + arrays) and solve
        t0 = time.perf_counter()
        ours = maximal_covering(cover, w, args.p)
        t_ours = time.perf_counter() - t0
        build = ours.build_s
        # fast mode
        t0 = time.perf_counter()
        fast = maximal_covering(cover, w, args.p, method="fast")
        t_fast = time.perf_counter() - t0
        # spopt + HiGHS
        t0 = time.perf_counter()
        model = MCLP.from_cost_matrix(cost, w, service_radius=r, p_facilities=args.p)
        t_sb = time.perf_counter() - t0
        t0 = time.perf_counter()
        model.solve(pulp.HiGHS(msg=False))
        t_ss = time.perf_counter() - t0
        sp_sites = [j for j, v in enumerate(model.fac_vars) if v.value() > 0.5]
        opt = recount(cost, w, r, ours.sites)
        assert abs(opt - recount(cost, w, r, sp_sites)) < 1e-6, "objectives differ"
        rows.append(
            dict(
                build=build,
                ours=t_ours,
                fast=t_fast,
                fast_ratio=recount(cost, w, r, fast.sites) / opt,
                proven=ours.proven_optimal,
                sp_build=t_sb,
                sp_solve=t_ss,
            )
        )
        print(
            f"  seed {seed}: servicemap build {build * 1e3:.1f} ms, build+solve {t_ours:.3f} s "
            f"(proven optimal: {ours.proven_optimal}); fast {t_fast:.3f} s at "
            f"{rows[-1]['fast_ratio']:.4%} of optimum; spopt build {t_sb:.3f} s + "
            f"solve {t_ss:.3f} s"
        )
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0] if k != "proven"}
    print(
        f"median: servicemap model built in {med['build'] * 1e3:.1f} ms, solved to proven "
        f"optimum in {med['ours']:.3f} s (build included); spopt + HiGHS "
        f"{med['sp_build'] + med['sp_solve']:.3f} s ({med['sp_build']:.3f} s build, "
        f"{med['sp_solve']:.3f} s solve): {(med['sp_build'] + med['sp_solve']) / med['ours']:.1f}x"
    )
    print(
        f"fast mode: median {med['fast']:.3f} s, worst {max(r['fast'] for r in rows):.3f} s; "
        f"worst {min(r['fast_ratio'] for r in rows):.4%} of the optimum"
    )
    del s


def bench_pcenter(args) -> None:
    import pulp
    from spopt.locate import PCenter

    from geo.siting import p_center

    print(
        f"date: {datetime.date.today()}  machine: {platform.machine()}, "
        f"{__import__('os').cpu_count()} cores, Python {platform.python_version()}"
    )
    print(
        f"p-center 2,000 demand x 200 candidates, p = {args.p}, exact, "
        f"{args.seeds} random clustered instances"
    )
    rows = []
    for seed in range(args.seeds):
        cost, w, _ = instance(seed)
        t0 = time.perf_counter()
        ours = p_center(cost, args.p)
        t_ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        fast = p_center(cost, args.p, method="fast")
        t_fast = time.perf_counter() - t0
        t0 = time.perf_counter()
        model = PCenter.from_cost_matrix(cost, p_facilities=args.p)
        t_sb = time.perf_counter() - t0
        t0 = time.perf_counter()
        model.problem.solve(pulp.HiGHS(msg=False, timeLimit=args.spopt_time_limit))
        t_ss = time.perf_counter() - t0
        status = pulp.LpStatus[model.problem.status]
        sp_sites = [j for j, v in enumerate(model.fac_vars) if (v.value() or 0) > 0.5]
        worst = float(cost[:, ours.sites].min(axis=1).max())
        sp_worst = float(cost[:, sp_sites].min(axis=1).max()) if sp_sites else float("nan")
        finished = status == "Optimal" and t_ss < args.spopt_time_limit
        if finished:
            assert abs(worst - sp_worst) < 1e-6, f"objectives differ: {worst} vs {sp_worst}"
        fast_worst = float(cost[:, fast.sites].min(axis=1).max())
        rows.append(
            dict(ours=t_ours, fast=t_fast, ratio=fast_worst / worst, sp_build=t_sb, sp_solve=t_ss)
        )
        print(
            f"  seed {seed}: servicemap {t_ours:.3f} s (proven optimal: {ours.proven_optimal}, "
            f"worst {worst:.1f} m); fast {t_fast:.3f} s at {fast_worst / worst:.4f} x the "
            f"optimum; spopt build {t_sb:.3f} s + solve {t_ss:.3f} s ({status}"
            f"{'' if finished else ', stopped by the time limit'}, worst {sp_worst:.1f} m)"
        )
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    total = med["sp_build"] + med["sp_solve"]
    print(
        f"median: servicemap exact {med['ours']:.3f} s (bisection over the distances, one "
        f"HiGHS set covering per step); spopt + HiGHS {total:.3f} s ({med['sp_build']:.3f} s "
        f"build, {med['sp_solve']:.3f} s solve): {total / med['ours']:.1f}x; fast "
        f"{med['fast']:.3f} s, worst {max(r['ratio'] for r in rows):.4f} x the optimum"
    )


if __name__ == "__main__":
    main()
