"""MCLP or p-center, 2,000 demand points x 200 candidates, p = 20: servicemap (HiGHS
direct, and the fast mode) against spopt with HiGHS (through PuLP), in one run, same data.

    .venv/bin/python benchmarks/bench_siting.py [--seeds 5]
    .venv/bin/python benchmarks/bench_siting.py --model pcenter [--seeds 3]
    .venv/bin/python benchmarks/bench_siting.py --demand 20000 --candidates 2000 --p 200

At other sizes the square grows with the candidates (20 km a side per 200) and the
clusters with the demand (15 per 2,000 points), so the density of both stays the same.

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
from _summary import summary

warnings.filterwarnings("ignore", message="Constructing LpVariable")


def instance(seed: int, n=2000, m=200, radius_m=1500.0):
    rng = np.random.default_rng(seed)
    side_m = 20_000.0 * (m / 200) ** 0.5
    k = max(1, round(15 * n / 2000))
    # clustered demand (workplaces gather in industrial parks), uniform candidates
    centres = rng.random((k, 2)) * side_m
    d = centres[rng.integers(0, k, n)] + rng.normal(0, 1500, (n, 2))
    f = rng.random((m, 2)) * side_m
    cost = np.hypot(*(d[:, None, :] - f[None, :, :]).transpose(2, 0, 1))
    w = rng.integers(1, 300, n).astype(float)
    return cost, w, radius_m


def recount(cost, w, r, sites):
    return float(w[(cost[:, np.asarray(sites)] <= r).any(axis=1)].sum())


def _spopt_mclp_child(conn, cost, w, r, p, time_limit_s) -> None:
    import pulp
    from spopt.locate import MCLP

    t0 = time.perf_counter()
    model = MCLP.from_cost_matrix(cost, w, service_radius=r, p_facilities=p)
    t_sb = time.perf_counter() - t0
    conn.send(("built", t_sb))
    t0 = time.perf_counter()
    model.solve(pulp.HiGHS(msg=False, timeLimit=time_limit_s))
    t_ss = time.perf_counter() - t0
    sites = [j for j, v in enumerate(model.fac_vars) if (v.value() or 0) > 0.5]
    conn.send(("solved", t_ss, pulp.LpStatus[model.problem.status], sites))


def spopt_mclp(cost, w, r, p, time_limit_s, timeout_s) -> dict:
    """spopt's MCLP build + HiGHS solve in a child process, stopped after ``timeout_s``."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")  # not fork: HiGHS threads in this process would deadlock it
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_spopt_mclp_child, args=(child, cost, w, r, p, time_limit_s))
    t0 = time.perf_counter()
    proc.start()
    out = {"build": float("nan"), "solve": float("nan"), "status": "", "sites": []}
    try:
        while proc.is_alive() or parent.poll():
            left = timeout_s - (time.perf_counter() - t0)
            if left <= 0 or not parent.poll(min(left, 1.0)):
                if left <= 0:
                    break
                continue
            msg = parent.recv()
            if msg[0] == "built":
                out["build"] = msg[1]
            else:
                out.update(solve=msg[1], status=msg[2], sites=msg[3])
                break
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join()
    if not out["status"]:
        stage = "solve" if out["build"] == out["build"] else "build"
        out["status"] = f"stopped in its {stage} after {timeout_s:g} s"
        out["total"] = timeout_s
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--p", type=int, default=20)
    ap.add_argument("--demand", type=int, default=2000)
    ap.add_argument("--candidates", type=int, default=200)
    ap.add_argument("--model", choices=["mclp", "pcenter"], default="mclp")
    ap.add_argument(
        "--spopt-time-limit",
        type=float,
        default=1800.0,
        help="seconds HiGHS may spend on spopt's model (its build is not limited)",
    )
    ap.add_argument(
        "--spopt-timeout",
        type=float,
        default=3600.0,
        help="mclp: seconds spopt's build + solve may take in all (its own process)",
    )
    args = ap.parse_args()
    if args.model == "pcenter":
        return bench_pcenter(args)

    from geo import _siting_solvers as s
    from geo.siting import maximal_covering

    print(
        f"date: {datetime.date.today()}  machine: {platform.machine()}, "
        f"{__import__('os').cpu_count()} cores, Python {platform.python_version()}"
    )
    size = f"{args.demand:,} demand x {args.candidates:,} candidates"
    print(f"MCLP {size}, p = {args.p}, radius 1.5 km, {args.seeds} random clustered instances")
    rows = []
    for seed in range(args.seeds):
        cost, w, r = instance(seed, args.demand, args.candidates)
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
        # spopt + HiGHS, in a child process so that --spopt-timeout can stop its build too
        spo = spopt_mclp(cost, w, r, args.p, args.spopt_time_limit, args.spopt_timeout)
        t_sb, t_ss, status = spo["build"], spo["solve"], spo["status"]
        finished = status == "Optimal" and t_ss < args.spopt_time_limit
        opt = recount(cost, w, r, ours.sites)
        if finished:
            assert abs(opt - recount(cost, w, r, spo["sites"])) < 1e-6, "objectives differ"
        rows.append(
            dict(
                build=build,
                ours=t_ours,
                fast=t_fast,
                fast_ratio=recount(cost, w, r, fast.sites) / opt,
                proven=ours.proven_optimal,
                sp_build=t_sb,
                sp_solve=t_ss,
                sp_total=spo.get("total", t_sb + t_ss),
                sp_finished=finished,
            )
        )
        print(
            f"  seed {seed}: servicemap build {build * 1e3:.1f} ms, build+solve {t_ours:.3f} s "
            f"(proven optimal: {ours.proven_optimal}); fast {t_fast:.3f} s at "
            f"{rows[-1]['fast_ratio']:.4%} of optimum; spopt build {t_sb:.3f} s + "
            f"solve {t_ss:.3f} s ({status}{'' if finished else ', stopped by the time limit'})"
        )
    med = {
        k: statistics.median(r[k] for r in rows)
        for k in rows[0]
        if k not in ("proven", "sp_finished")
    }
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
    proven = sum(r["proven"] for r in rows)
    sp_done = sum(r["sp_finished"] for r in rows)
    sp_total = med["sp_total"]
    peer = f"spopt + HiGHS {sp_total:.3f} s"
    if sp_done < len(rows):
        peer = (
            f"spopt + HiGHS: optimal on {sp_done} of {len(rows)} (solve limit "
            f"{args.spopt_time_limit:g} s, build + solve limit {args.spopt_timeout:g} s); "
            f"median {sp_total:.0f} s"
        )
    summary(
        f"MCLP, {size}, p = {args.p}, median of {len(rows)}",
        f"{med['ours']:.3f} s, proven optimum on {proven} of {len(rows)}",
        peer,
        f"{'' if sp_done == len(rows) else 'at least '}{sp_total / med['ours']:.1f}x",
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
    size = f"{args.demand:,} demand x {args.candidates:,} candidates"
    print(f"p-center {size}, p = {args.p}, exact, {args.seeds} random clustered instances")
    rows = []
    for seed in range(args.seeds):
        cost, w, _ = instance(seed, args.demand, args.candidates)
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
            dict(
                ours=t_ours,
                fast=t_fast,
                ratio=fast_worst / worst,
                sp_build=t_sb,
                sp_solve=t_ss,
                sp_finished=finished,
                proven=ours.proven_optimal,
            )
        )
        print(
            f"  seed {seed}: servicemap {t_ours:.3f} s (proven optimal: {ours.proven_optimal}, "
            f"worst {worst:.1f} m); fast {t_fast:.3f} s at {fast_worst / worst:.4f} x the "
            f"optimum; spopt build {t_sb:.3f} s + solve {t_ss:.3f} s ({status}"
            f"{'' if finished else ', stopped by the time limit'}, worst {sp_worst:.1f} m)"
        )
    med = {
        k: statistics.median(r[k] for r in rows)
        for k in rows[0]
        if k not in ("proven", "sp_finished")
    }
    total = med["sp_build"] + med["sp_solve"]
    print(
        f"median: servicemap exact {med['ours']:.3f} s (bisection over the distances, one "
        f"HiGHS set covering per step); spopt + HiGHS {total:.3f} s ({med['sp_build']:.3f} s "
        f"build, {med['sp_solve']:.3f} s solve): {total / med['ours']:.1f}x; fast "
        f"{med['fast']:.3f} s, worst {max(r['ratio'] for r in rows):.4f} x the optimum"
    )
    sp_done = sum(r["sp_finished"] for r in rows)
    bound = "" if sp_done == len(rows) else "at least "
    summary(
        f"p-center, {size}, p = {args.p}, median of {len(rows)}",
        f"{med['ours']:.3f} s, proven optimum on {sum(r['proven'] for r in rows)} of {len(rows)}",
        f"spopt + HiGHS {total:.1f} s"
        + ("" if sp_done == len(rows) else f" (no optimum within {args.spopt_time_limit:g} s "
           f"on {len(rows) - sp_done} of {len(rows)})"),
        f"{bound}{total / med['ours']:.0f}x",
    )  # fmt: skip


if __name__ == "__main__":
    main()
