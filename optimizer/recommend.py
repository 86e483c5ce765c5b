"""Profiles + inventory + catalog → the ``recommendations.json`` document (its keys: docs/recommendations.md)."""

from __future__ import annotations

from datetime import UTC, datetime

from optimizer import bill
from optimizer.autoscalers import read_autoscalers, replica_effect
from optimizer.config import DEFAULT_OPTIMIZER_CONFIG, OptimizerConfig
from optimizer.costing import HOURS_PER_MONTH, CostModel, priced_sentence
from optimizer.decisions import WORKLOAD_DECISIONS, consolidate, reclaim_idle, risk
from optimizer.decisions.base import Candidate, Context
from optimizer.decisions.resolve import resolve
from optimizer.demand import container_stats_by_workload, workload_demand
from optimizer.inventory import Inventory, Workload, build_inventory
from optimizer.llm import kv_sizing
from optimizer.llm.serving import managed_prices, serving_by_workload
from optimizer.llm.usage import read_tokens, serving_usage
from optimizer.not_evaluated import NotEvaluated, why_not
from optimizer.replicas import busy_replicas
from optimizer.result import NodeBill, Recommendation, RecommendationSet, _money, total_monthly_savings
from store.reader import Dataset

__all__ = ["NodeBill", "Recommendation", "RecommendationSet", "build_recommendations", "total_monthly_savings"]


def _to_rec(c: Candidate, *, namespace, kind, name, team=None, project=None, use_case=None, value_class=None,
            inferred=False, confidence=1.0) -> Recommendation:
    ident = f"{c.action}/{namespace or '-'}/{kind}/{name}".lower()
    details = {k: v for k, v in c.extra.items()}
    return Recommendation(ident, namespace, kind, name, team, project, use_case, value_class, inferred, c.action,
                          c.current, c.proposed, _money(c.hourly_current), _money(c.hourly_proposed),
                          round(confidence, 3), c.risk, c.rationale, None, details)


def _autoscaler_note(c: Candidate, w, autoscaler) -> None:
    """A request cut under a CPU- or memory-utilization autoscaler: say what it does to the replica count."""
    if autoscaler is None:
        return
    c.extra["autoscaler"] = {"kind": autoscaler.kind, "name": autoscaler.name, "min_replicas": autoscaler.min_replicas,
                             "max_replicas": autoscaler.max_replicas}
    cur, prop = c.current, c.proposed
    for resource, key, now in (("cpu", "cpu_request", w.cpu_request()), ("memory", "mem_request", w.mem_request())):
        if prop.get(key) is None:
            continue
        effect = replica_effect(autoscaler, resource, cur.get(key) or now, prop[key])
        if effect:
            c.rationale = c.rationale.rstrip(".") + "; " + effect + "."


def runs_of(w, interval_s: float) -> int:
    """Separate runs of a workload: its pods' running intervals, overlapping ones (or ones less than two
    sample intervals apart) merged into one run."""
    spans = sorted((p.first_ms, p.last_ms) for p in w.pods if p.first_ms is not None and p.last_ms is not None)
    runs, reach = 0, None
    for first, last in spans:
        if reach is None or first > reach + 2 * interval_s * 1000:
            runs += 1
            reach = last
        else:
            reach = max(reach, last)
    return runs


def recurrence(w, interval_s: float) -> tuple[bool, str]:
    """(recurring, why): monthly figures only for work that recurs (a CronJob, or runs seen repeating)."""
    if w.kind != "Job":
        return True, "CronJob" if w.kind == "CronJob" else w.kind
    runs = runs_of(w, interval_s)
    if runs >= 2:
        return True, f"Job whose runs were observed repeating ({runs} runs in the window)"
    return False, "one-off Job (one run in the window)"


def _per_run(rec: Recommendation, c: Candidate, window_h: float, runs: int, why: str) -> None:
    """A one-off Job: priced for what it ran (``details.cost_per_run``), no monthly figure."""
    per_run = {"current": round(c.hourly_current * window_h / max(1, runs), 2),
               "proposed": round(c.hourly_proposed * window_h / max(1, runs), 2)}
    per_run["savings"] = round(per_run["current"] - per_run["proposed"], 2)
    rec.details["cost_per_run"] = per_run
    rec.monthly_cost_current = rec.monthly_cost_proposed = 0.0
    rec.rationale = (f"{why[0].upper() + why[1:]}: ${per_run['current']:,.2f} per run now, "
                     f"${per_run['proposed']:,.2f} proposed, not a monthly cost; "
                     + rec.rationale[0].lower() + rec.rationale[1:])


def build_recommendations(dataset: str | Dataset, profiles, catalog, config: OptimizerConfig | None = None, *,
                          container_profiles=None, inventory: Inventory | None = None, start=None, end=None,
                          consolidate_cluster: bool = True, cost_model: CostModel | None = None,
                          allocated_costs: dict | None = None, allocated_monthly_cost: float | None = None,
                          nodes_seen: int | None = None, autoscalers: dict | None = None,
                          replica_use: dict | None = None, serving: list | None = None) -> RecommendationSet:
    """Every recommendation for the dataset's window. ``profiles`` is the workload-level ProfileSet;
    container-level profiles are computed when not given.

    ``cost_model``, ``allocated_costs`` (workload key -> cost over the window, allocation.csv's
    ``total_cost``) and ``allocated_monthly_cost`` come from the allocation of the same run, so that a
    workload's current cost and the cluster's monthly cost are the allocation's to the cent; without
    them the current cost is the request-based share of the nodes (recommender/allocation/SPEC.md).

    ``start``/``end`` bound the reads as in ``compute_profiles`` (start inclusive, end exclusive; None =
    the whole dataset): pass the same ones the profiles were computed with.

    ``autoscalers`` (workload key -> Autoscaler) replaces the dataset's latest listing; ``replica_use``
    (optimizer/replicas.py, a tap of the caller's read) saves this function its own read of the gpu table;
    ``serving`` (``serving_usage`` of the window's tokens table) its read of the tokens table."""
    cfg = config or DEFAULT_OPTIMIZER_CONFIG
    ds = dataset if isinstance(dataset, Dataset) else Dataset(dataset)
    inv = inventory or build_inventory(ds, start, end, cfg.value_class, cfg.labels)
    if container_profiles is None:
        from optimizer.profiles import compute_profiles

        container_profiles = compute_profiles(ds, start=start, end=end, entity="container")
    per_container = container_stats_by_workload(inv, container_profiles)
    costs = cost_model or CostModel(catalog, cfg.region)
    window_h = inv.window_seconds / 3600
    allocated = None if allocated_costs is None else {k: v / window_h for k, v in allocated_costs.items()}
    if serving is None:  # tokens.csv prices the same summaries (RecommendationSet.serving_usage)
        serving = serving_usage(read_tokens(ds, start, end))
    ctx = Context(inv, costs, catalog, cfg, allocated, serving_by_workload(serving, inv), managed_prices(cfg))

    # ``autoscalers``: a listing made at report time (recommend --list-autoscalers), else the dataset's latest
    autoscalers = read_autoscalers(ds, start, end) if autoscalers is None else autoscalers
    ctx.autoscalers = autoscalers
    ctx.replica_use = replica_use if replica_use is not None else busy_replicas(
        ds, inv.pod_workload, start, end, cfg.decisions.replicas_bucket_s, kinds=cfg.decisions.replicas_kinds,
        pod_nodes={(p.namespace, p.name): p.node for w in inv.workloads.values() for p in w.pods})
    skipped: list[NotEvaluated] = []
    chosen_by: list[tuple[Workload, Candidate, Recommendation]] = []
    shapes, leaving = {}, set()
    for key, w in inv.workloads.items():
        if not w.spec_known:
            continue  # a bare pod: no requests known, nothing to propose; it stays in the node plan
        policy = ctx.policy(w)
        d = workload_demand(w, inv, profiles, per_container.get(key, {}), policy, cfg.demand)
        kv_sizing.size_demand(w, d, ctx.serving.get(key, []), policy, cfg.llm.kv)
        candidates = [decide(w, d, ctx) for decide in WORKLOAD_DECISIONS]
        for c in candidates:
            if c is not None:
                kv_sizing.annotate(c, w, d)
        chosen = resolve(w, candidates, ctx)
        if chosen is None:
            skipped.append(why_not(w, d, ctx))
            continue
        if chosen.shape is not None:
            shapes[key] = chosen.shape
        if "replicas" in chosen.tags or "managed" in chosen.tags:
            leaving.add(key)  # scaled to zero between bursts, or served by a managed API
        _autoscaler_note(chosen, w, autoscalers.get(key))
        chosen.extra.setdefault("value_class_reason", w.value_class.reason)
        chosen.extra.setdefault("history_hours", round(d.history_hours, 1))
        if d.activity_source:
            chosen.extra.setdefault("activity_source", d.activity_source)
        if allocated_costs is not None and key in allocated_costs:
            chosen.extra["cost_in_window_current"] = round(allocated_costs[key], 2)
        rec = _to_rec(chosen, namespace=w.namespace, kind=w.kind, name=w.name, team=w.team, project=w.project,
                      use_case=w.use_case, value_class=w.value_class.name, inferred=w.value_class.inferred,
                      confidence=d.confidence)
        chosen_by.append((w, chosen, rec))

    occupied = bill.occupants(ctx)
    effects: dict[str, bill.BillEffect] = {}
    recs: list[Recommendation] = []
    for w, cand, rec in chosen_by:
        recurring, why = recurrence(w, inv.interval_s)
        rec.details["recurring"] = recurring
        rec.details["recurrence"] = why
        if recurring:
            effect = bill.alone(ctx, w, cand, occupied)
        else:
            _per_run(rec, cand, window_h, runs_of(w, inv.interval_s), why)
            effect = bill.BillEffect(0.0, "a one-off Job holds no node once its run is over")
        effects[rec.id] = effect
        recs.append(rec)
    node_recs = []
    for node, cand in reclaim_idle.unallocated(ctx):
        if cand.hourly_savings * HOURS_PER_MONTH >= cfg.decisions.min_monthly_savings:
            confidence = risk.history_confidence(cand.extra["observed_hours"], cfg.demand.full_confidence_days)
            rec = _to_rec(cand, namespace=None, kind="Node", name=node.name, confidence=confidence)
            effects[rec.id] = bill.node_alone(ctx, node, int(cand.current.get("gpu_count") or 0), occupied)
            node_recs.append(rec)
    recs += node_recs

    today = bill.today_nodes(ctx)
    today_h = sum(costs.node_hourly(n) for n in today)
    by_action_recs: dict[str, list[Recommendation]] = {}
    for r in recs:
        by_action_recs.setdefault(r.action, []).append(r)

    def no_repack(excluded: str | None = None) -> float:
        return today_h - sum(effects[r.id].hourly for r in recs if r.action != excluded and r.kind != "Cluster")

    def bursts(keys: set) -> float:
        # scale-to-zero work still runs in its bursts: the nodes only it used run while it does, at their
        # price; on nodes it shared, its share of them for that time
        total = 0.0
        for w, c, r in chosen_by:
            if w.key not in keys or not r.details.get("recurring"):
                continue
            if "managed" in c.tags:  # the pods are gone; the API's spend takes their place in the bill
                total += c.hourly_proposed
                continue
            removed = effects[r.id].removed
            active = float(c.extra.get("active_fraction", 1.0))
            total += (sum(costs.node_hourly(inv.nodes[n]) for n in removed) * active if removed
                      else c.hourly_proposed)
        return total

    solver_stats: dict = {}
    plan_h = no_repack()
    by_action: dict[str, float] = {}
    if consolidate_cluster:
        solved_before: dict = {}
        plan = consolidate.solve_plan(ctx, shapes, leaving, solved_before)
        cand, solver_stats = consolidate.decide(ctx, shapes, leaving, plan)
        solved = plan.cost + bursts(leaving)
        plan_h = min(plan_h, solved)
        if cand is not None:
            # the plan is as sure as its least-known workload; wrong, re-packed pods restart or wait: restart
            confidence = min([r.confidence for r in recs if r.kind not in ("Node", "Cluster")] or [1.0])
            cand.risk = risk.rate(confidence, risk.RESTART, cfg.risk)
            cand.extra["consequence"] = risk.RESTART
            rec = _to_rec(cand, namespace=None, kind="Cluster", name="cluster", confidence=confidence)
            effects[rec.id] = bill.BillEffect(today_h - plan.cost, "the node plan")
            recs.append(rec)
        for action, group in sorted(by_action_recs.items()):
            keys = {(r.namespace, r.kind, r.name) for r in group if r.kind not in ("Node", "Cluster")}
            if not keys:
                by_action[action] = no_repack(action) - no_repack()
                continue
            without = consolidate.solve_plan(ctx, {k: v for k, v in shapes.items() if k not in keys}, leaving - keys,
                                             solved_before)
            by_action[action] = min(no_repack(action), without.cost + bursts(leaving - keys)) - plan_h
        by_action["consolidate-nodes"] = no_repack() - plan_h
    else:
        by_action = {a: no_repack(a) - no_repack() for a in by_action_recs}
    for r in recs:
        e = effects.get(r.id)
        if e is None:
            continue
        r.monthly_bill_savings = _money(e.hourly) if r.details.get("recurring", True) else 0.0
        r.details["bill_effect"] = {"nodes_removed": e.removed, "nodes_replaced": e.replaced, "why": e.sentence}
        if r.kind != "Cluster":
            money = f"${abs(_money(e.hourly)):,.2f}/month"
            effect = (f"applied alone it cuts the node bill by {money}: {e.sentence}" if e.hourly > 0 else
                      f"applied alone it raises the node bill by {money}: {e.sentence}" if e.hourly < 0 else
                      f"applied alone the node bill stays the same: {e.sentence}")
            r.rationale = r.rationale.rstrip(".") + "; " + effect + "."
    recs.sort(key=lambda r: (-r.monthly_bill_savings, -r.monthly_savings, r.id))

    unpriced = costs.unpriced
    seen = nodes_seen if nodes_seen is not None else len({n for n in inv.nodes if inv.nodes[n].first_ms is not None})
    priced_n = max(0, seen - len([u for u in unpriced]))
    if allocated_monthly_cost is not None:
        monthly_cost = allocated_monthly_cost
    else:
        node_cost = 0.0
        for n in inv.nodes.values():
            h = costs.node_hourly(n)
            if h is not None:
                node_cost += h * min(1.0, n.seconds / inv.window_seconds)
        monthly_cost = _money(node_cost)
    notes = []
    if inv.pods_without_spec:
        notes.append(f"{inv.pods_without_spec} pods had samples but no pods-table row: kept as bare pods (kind Pod) "
                     "with their node, running time and GPUs, no known requests, and no recommendation")
    if unpriced:
        notes.append(f"{priced_sentence(priced_n, seen)}; left out of every dollar figure: "
                     + "; ".join(f"{u.node} ({u.reason})" for u in unpriced))
    api_h = sum(c.hourly_proposed for _, c, r in chosen_by if "managed" in c.tags and r.details.get("recurring"))
    node_bill = NodeBill(today_h, plan_h, by_action, priced_n, seen, unpriced, costs.prices_summary(), api_h)
    result = RecommendationSet(datetime.now(UTC), inv.start, inv.end, recs, monthly_cost,
                               {k: v for k, v in solver_stats.items() if k != "placement"}, notes, bill=node_bill)
    result.not_evaluated = sorted(skipped, key=lambda x: (x.reason, x.namespace or "", x.kind, x.name))
    result.serving_usage = serving
    result.inventory = inv
    return result
