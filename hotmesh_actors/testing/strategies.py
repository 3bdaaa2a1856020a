"""Hypothesis strategies over a user's graph: delivery orders, crash points and duplicates for one job.

    from hotmesh_actors.testing.strategies import delivery_schedules

    @given(schedule=delivery_schedules(app))
    async def test_order_survives_any_schedule(schedule): ...

A schedule is a list of `Deliver` / `Duplicate` / `SendSignal` steps (hotmesh_actors.testing.schedule);
`ScheduleRunner.run` applies it to a real job. The graph sizes the search: how many messages can be live
at once (the picks) and how long a schedule is worth being.
"""

from __future__ import annotations

from hypothesis import strategies as st

from hotmesh_actors.core.graph import AppVersion
from hotmesh_actors.testing.schedule import Deliver, Duplicate, SendSignal, Step


def delivery_schedules(app: AppVersion, *, max_steps: int | None = None, crashes: bool = True,
                       duplicates: bool = True, signals: bool | None = None) -> st.SearchStrategy[list[Step]]:
    """Schedules for one job of `app`: any delivery order over its engine and worker messages, with crashes
    before COMMIT (`crashes`), redelivered engine messages (`duplicates`) and signals sent at any moment
    (`signals`; default: when the app has hooks).

    `max_steps` bounds a schedule's length (default: four steps per activity); the drain after it
    delivers whatever is left, so a short schedule is a complete run too. Shrinks towards fewer steps,
    earlier picks and no faults.
    """
    activities = max(1, len(app.activities))
    length = 4 * activities if max_steps is None else max_steps
    pick = st.integers(min_value=0, max_value=max(1, activities - 1))
    crash = st.booleans() if crashes else st.just(False)
    choices: list[st.SearchStrategy[Step]] = [
        st.builds(Deliver, stream=st.sampled_from(["engine", "worker"]), pick=pick, crash=crash)]
    if duplicates:
        choices.append(st.builds(Duplicate, pick=st.integers(min_value=0, max_value=2), now=st.booleans()))
    if signals if signals is not None else bool(app.hook_rules):
        choices.append(st.just(SendSignal()))
    return st.lists(st.one_of(choices), max_size=length)
