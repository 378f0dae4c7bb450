"""Case grouping survives a lost after-commit task: every stored mention is marked pending until
`cases_group` has looked at it, and the grouping sweep (beat) groups what is still pending after
the grace period — once, whoever gets there first, per organisation in bounded batches."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from celery.contrib.testing.worker import start_worker
from django.db import connections
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from crisis_api.celery import app
from monitoring.connectors import MentionIn
from monitoring.models import Case, Mention, Source
from monitoring.services import cases as cases_module
from monitoring.services import ingest as ingest_module
from monitoring.services import mentions_ingest
from monitoring.services.cases import cases_group, cases_group_pending
from monitoring.tasks_detection import after_ingest_task, cases_group_pending_task
from organisations.events import Actor
from organisations.models import Event, Organisation
from tests.factories import OrganisationFactory, make_source
from tests.notifications.test_broker_outage import REDIS_SERVER, PrivateRedis, broker

__all__ = ["broker"]

ACTOR = Actor.system("tests")
T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ANGRY = "Terrible service, the Acme kettle broke twice and support is awful. I hate this."
CALM = "Lovely weather today, great coffee and a wonderful walk in the park."
Capture = Callable[..., Any]


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def posts(authors: list[str], *, prefix: str = "p", text: str = ANGRY) -> list[MentionIn]:
    return [
        MentionIn(
            external_id=f"{prefix}{n}",
            text=text,
            posted_at=T0 - timedelta(minutes=1),
            author_id=author,
            author_handle=f"@{author}" if author else "",
        )
        for n, author in enumerate(authors)
    ]


def store(source: Source, mentions: list[MentionIn]) -> list[str]:
    return [
        str(pk) for pk in mentions_ingest(source=source, mentions=mentions, actor=ACTOR).stored_ids
    ]


def pending(organisation: Organisation | None = None) -> int:
    rows = Mention.all_tenants.filter(grouping_pending=True)
    return (rows.filter(organisation=organisation) if organisation else rows).count()


def created_events(organisation: Organisation) -> int:
    return Event.all_tenants.filter(organisation=organisation, type="case.created").count()


def broker_down(*args: Any, **kwargs: Any) -> None:
    raise ConnectionError("redis is down")


@pytest.fixture
def lost_publish(monkeypatch: pytest.MonkeyPatch) -> None:
    """The after-commit publish fails, as it does when Redis is unreachable."""
    monkeypatch.setattr(after_ingest_task, "delay", broker_down)


# --- the marker ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_stored_mentions_are_pending_on_both_storage_paths(
    org: Organisation, unscoped: None
) -> None:
    source = make_source(org)
    copied = store(source, posts(["a", "b"]))
    prepared = ingest_module.mentions_prepare(source=source, mentions=posts(["c"], prefix="q"))
    portable = ingest_module._store_portable(prepared.rows)  # SQLite's path (`make run`)
    assert (len(copied), len(portable)) == (2, 1)
    assert pending(org) == 3


@pytest.mark.django_db
def test_grouping_settles_every_mention_it_looks_at_even_those_that_join_no_case(
    org: Organisation, unscoped: None
) -> None:
    source = make_source(org)
    ids = store(source, posts(["angry", ""]) + posts(["calm"], prefix="c", text=CALM))
    assert cases_group(organisation_id=org.pk, mention_ids=ids) == 1
    assert pending(org) == 0  # the author-less and the calm mention too: nothing left to sweep
    grouped = dict(Mention.all_tenants.values_list("author_id", "case__author_key"))
    assert grouped == {"angry": "angry", "": None, "calm": None}


# --- the sweep ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_batch_whose_task_was_never_published_is_grouped_by_the_sweep_once(
    org: Organisation,
    clock: time_machine.Traveller,
    lost_publish: None,
    django_capture_on_commit_callbacks: Capture,
    unscoped: None,
) -> None:
    source = make_source(org)
    with django_capture_on_commit_callbacks(execute=True):
        ids = store(source, posts(["ann", "ann", "bob"]))
    assert len(ids) == 3
    assert pending(org) == 3  # the ingest committed; its grouping task is lost
    assert not Case.all_tenants.exists()

    clock.shift(timedelta(seconds=31))
    assert cases_group_pending_task() == 3  # what beat runs every minute
    assert pending(org) == 0
    counts = dict(Case.all_tenants.values_list("author_key", "mention_count"))
    assert counts == {"ann": 2, "bob": 1}
    assert created_events(org) == 2

    clock.shift(timedelta(seconds=60))
    assert cases_group_pending_task() == 0  # idempotent: nothing left, nothing opened twice
    assert after_ingest_task(str(org.pk), ids) == 0  # the lost task, delivered late after all
    assert created_events(org) == 2
    assert Case.all_tenants.count() == 2
    assert Mention.all_tenants.filter(case__isnull=True).count() == 0


@pytest.mark.django_db
def test_the_sweep_leaves_mentions_within_the_grace_period_to_their_task(
    org: Organisation, clock: time_machine.Traveller, unscoped: None, settings: Any
) -> None:
    settings.CASES_GROUPING_GRACE_SECONDS = 30
    store(make_source(org), posts(["ann"]))
    clock.shift(timedelta(seconds=29))
    assert cases_group_pending() == 0
    assert pending(org) == 1
    clock.shift(timedelta(seconds=2))
    assert cases_group_pending() == 1
    assert pending(org) == 0


@pytest.mark.django_db
def test_a_batch_grouped_by_its_task_leaves_nothing_for_the_sweep(
    org: Organisation, clock: time_machine.Traveller, unscoped: None
) -> None:
    ids = store(make_source(org), posts(["ann", "bob"]))
    after_ingest_task(str(org.pk), ids)
    clock.shift(timedelta(minutes=5))
    assert cases_group_pending() == 0
    assert created_events(org) == 2


@pytest.mark.django_db
def test_the_sweep_groups_each_organisation_into_its_own_cases_in_turns(
    org: Organisation, other_org: Organisation, clock: time_machine.Traveller, unscoped: None
) -> None:
    store(make_source(org), posts(["ann", "bob", "cat", "dan", "eve"]))
    store(make_source(other_org), posts(["ann"]))  # the same author id in another tenant
    clock.shift(timedelta(minutes=1))

    # Two batches of two: one each, so a large backlog cannot starve another tenant.
    assert cases_group_pending(batch_size=2, max_batches=2) == 3
    assert (pending(org), pending(other_org)) == (3, 0)
    assert cases_group_pending(batch_size=2, max_batches=10) == 3
    assert (pending(org), pending(other_org)) == (0, 0)

    for organisation, authors in ((org, 5), (other_org, 1)):
        cases = Case.all_tenants.filter(organisation=organisation)
        assert cases.count() == authors
        assert created_events(organisation) == authors
        mentions = Mention.all_tenants.filter(organisation=organisation)
        assert set(mentions.values_list("case__organisation", flat=True)) == {organisation.pk}


@pytest.mark.django_db
def test_grouping_never_touches_another_organisations_mentions(
    org: Organisation, other_org: Organisation, unscoped: None
) -> None:
    ids = store(make_source(org), posts(["ann"]))
    assert cases_group(organisation_id=other_org.pk, mention_ids=ids) == 0
    assert pending(org) == 1
    assert not Case.all_tenants.exists()


@pytest.mark.django_db
def test_pending_grouping_is_in_the_metrics(
    org: Organisation, clock: time_machine.Traveller, unscoped: None
) -> None:
    def scrape() -> dict[str, float]:
        text = Client().get("/metrics").content.decode()
        return {
            sample.name: sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name.startswith("crisis_mentions_grouping")
        }

    assert scrape() == {
        "crisis_mentions_grouping_pending": 0.0,
        "crisis_mentions_grouping_pending_oldest_seconds": 0.0,
    }
    store(make_source(org), posts(["ann", "bob"]))
    clock.shift(timedelta(seconds=45))
    assert scrape() == {
        "crisis_mentions_grouping_pending": 2.0,
        "crisis_mentions_grouping_pending_oldest_seconds": 45.0,
    }


# --- races (real transactions) ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("racers", [2, 4])
def test_the_sweep_racing_the_task_groups_each_mention_once(
    org: Organisation, racers: int, unscoped: None
) -> None:
    ids = store(make_source(org), posts(["ann", "ann", "bob", "bob", "cat"] * 4))
    barrier = threading.Barrier(racers)
    errors: list[BaseException] = []

    def race(n: int) -> None:
        try:
            barrier.wait(timeout=10)
            if n % 2:
                cases_group_pending(grace=timedelta(0))
            else:
                after_ingest_task(str(org.pk), ids)
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=race, args=(n,)) for n in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert pending(org) == 0
    counts = dict(Case.all_tenants.values_list("author_key", "mention_count"))
    assert counts == {"ann": 8, "bob": 8, "cat": 4}
    assert created_events(org) == 3
    assert Mention.all_tenants.filter(case__isnull=True).count() == 0


@pytest.mark.django_db(transaction=True)
def test_the_sweep_passes_over_a_batch_its_task_is_grouping_without_waiting(
    org: Organisation, monkeypatch: pytest.MonkeyPatch, unscoped: None
) -> None:
    """The task has locked and grouped its batch but not committed (a slow worker): the sweep
    neither blocks on it nor groups it again; it stays the task's to finish."""
    ids = store(make_source(org), posts(["ann", "bob"]))
    inside, release = threading.Event(), threading.Event()
    refresh = cases_module._refresh_counts

    def slow_refresh(case_ids: list[Any]) -> None:
        inside.set()
        release.wait(timeout=20)
        refresh(case_ids)

    monkeypatch.setattr(cases_module, "_refresh_counts", slow_refresh)
    errors: list[BaseException] = []

    def task() -> None:
        try:
            after_ingest_task(str(org.pk), ids)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    worker = threading.Thread(target=task)
    worker.start()
    try:
        assert inside.wait(timeout=20)
        started = time.monotonic()
        assert cases_group_pending(grace=timedelta(0)) == 0
        assert time.monotonic() - started < 5
    finally:
        release.set()
        worker.join(timeout=30)
    assert errors == []
    assert cases_group_pending(grace=timedelta(0)) == 0
    assert pending(org) == 0
    assert created_events(org) == 2


# --- a real broker outage -----------------------------------------------------------------------


@pytest.mark.skipif(REDIS_SERVER is None, reason="needs redis-server")
def test_a_batch_stored_while_redis_is_down_is_grouped_once_it_is_back(
    transactional_db: None, broker: PrivateRedis, settings: Any
) -> None:
    """A private Redis is stopped while a batch commits (the after-commit publish fails and is
    logged); once it is back, beat's sweep on a real worker groups the batch."""
    organisation = OrganisationFactory(slug="grouping-outage")
    source = make_source(organisation)
    broker.stop()
    ids = store(source, posts(["ann", "ann", "bob"]))
    assert len(ids) == 3
    assert pending(organisation) == 3
    assert not Case.all_tenants.exists()

    broker.start()
    settings.CASES_GROUPING_GRACE_SECONDS = 0
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        cases_group_pending_task.delay()  # what beat sends every minute
        deadline = time.monotonic() + 20
        while pending(organisation) and time.monotonic() < deadline:
            time.sleep(0.1)
    assert pending(organisation) == 0
    assert dict(Case.all_tenants.values_list("author_key", "mention_count")) == {
        "ann": 2,
        "bob": 1,
    }
    assert created_events(organisation) == 2
