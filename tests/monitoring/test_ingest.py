"""The ingest pipeline: duplicates (in a batch, already stored, or stored concurrently) never
make a second mention; queries per batch do not grow with the batch; watch terms are matched
with a per-organisation matcher that is rebuilt when the terms change; hooks see new ids."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_scopes import scopes_disabled

from monitoring.connectors import MentionIn
from monitoring.models import Mention, Source
from monitoring.services import ingest as ingest_module
from monitoring.services import (
    mentions_ingest,
    register_ingest_hook,
    watch_term_create,
    watch_term_delete,
)
from organisations.events import Actor
from organisations.models import Organisation
from tests.factories import OrganisationFactory, make_source

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("tests")
POSTED = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def post(n: int, text: str = "") -> MentionIn:
    return MentionIn(
        external_id=f"p{n}",
        text=text or f"Post {n}: my Acme kettle broke again, terrible service.",
        posted_at=POSTED,
        author_followers=n,
    )


def count(source: Source) -> int:
    with scopes_disabled():
        return Mention.all_tenants.filter(source=source).count()


def test_duplicates_inside_a_batch_and_across_batches_are_dropped(org: Organisation) -> None:
    source = make_source(org)
    first = mentions_ingest(source=source, mentions=[post(1), post(2), post(1)], actor=ACTOR)
    assert (first.stored, first.duplicates) == (2, 1)
    second = mentions_ingest(source=source, mentions=[post(2), post(3)], actor=ACTOR)
    assert (second.stored, second.duplicates) == (1, 1)
    assert count(source) == 3


def test_same_external_id_in_two_sources_is_two_mentions(org: Organisation) -> None:
    a, b = make_source(org), make_source(org)
    mentions_ingest(source=a, mentions=[post(1)], actor=ACTOR)
    mentions_ingest(source=b, mentions=[post(1)], actor=ACTOR)
    assert (count(a), count(b)) == (1, 1)


def test_text_is_cleaned_of_nul_and_clipped_to_the_columns(org: Organisation) -> None:
    source = make_source(org)
    raw = MentionIn(
        external_id="x" * 300,
        text="bad\x00byte " + "y" * 20_000,
        posted_at=POSTED,
        author_handle="h" * 400,
        url="https://example.com/" + "p" * 3000,
    )
    assert mentions_ingest(source=source, mentions=[raw], actor=ACTOR).stored == 1
    with scopes_disabled():
        mention = Mention.all_tenants.get(source=source)
    assert "\x00" not in mention.text
    assert len(mention.text) == 10_000
    assert len(mention.external_id) == 255
    assert len(mention.author_handle) == 255
    assert len(mention.url) <= 2000


@pytest.mark.django_db(transaction=True)
def test_concurrent_ingest_of_the_same_posts_stores_each_once() -> None:
    organisation = OrganisationFactory()
    source = make_source(organisation)
    batch = [post(n) for n in range(200)]
    results: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def worker() -> None:
        try:
            # Every worker has already decided the posts are new (its dedupe read ran before
            # the others committed): only the unique constraint stands between them.
            prepared = ingest_module.mentions_prepare(source=source, mentions=batch)
            barrier.wait()
            from django.db import transaction

            with transaction.atomic():
                results.append(ingest_module.mentions_store(prepared=prepared, actor=ACTOR).stored)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(results) == 200
    assert count(source) == 200


def test_queries_per_batch_do_not_grow_with_the_batch(org: Organisation) -> None:
    source = make_source(org)
    watch_term_create(organisation=org, actor=ACTOR, phrase="Acme", kind="brand")
    mentions_ingest(source=source, mentions=[post(0)], actor=ACTOR)  # warm the matcher cache
    sizes = {}
    for size, offset in ((10, 1_000), (500, 2_000)):
        with CaptureQueriesContext(connection) as queries:
            result = mentions_ingest(
                source=source, mentions=[post(offset + n) for n in range(size)], actor=ACTOR
            )
        assert result.stored == size
        sizes[size] = len(queries)
    assert sizes[10] == sizes[500]


def test_watch_terms_match_and_the_matcher_follows_changes(org: Organisation) -> None:
    source = make_source(org)
    term = watch_term_create(organisation=org, actor=ACTOR, phrase="Acme", kind="brand")
    mentions_ingest(source=source, mentions=[post(1, "Acme kettles overheat")], actor=ACTOR)
    with scopes_disabled():
        hits = Mention.all_tenants.get(source=source, external_id="p1").matched_terms
    assert [h["term_id"] for h in hits] == [str(term.pk)]
    assert hits[0]["text"].lower() == "acme"
    watch_term_delete(term=term, actor=ACTOR)
    mentions_ingest(source=source, mentions=[post(2, "Acme kettles overheat")], actor=ACTOR)
    with scopes_disabled():
        assert Mention.all_tenants.get(source=source, external_id="p2").matched_terms == []


def test_a_term_bound_to_a_language_only_matches_posts_in_it(org: Organisation) -> None:
    source = make_source(org)
    watch_term_create(organisation=org, actor=ACTOR, phrase="Acme", kind="brand", language="pl")
    text = "The Acme kettle is dangerous and the company ignores every complaint we send."
    mentions_ingest(source=source, mentions=[post(1, text)], actor=ACTOR)
    with scopes_disabled():
        mention = Mention.all_tenants.get(source=source)
    assert mention.language == "en"
    assert mention.matched_terms == []


def test_hooks_receive_only_newly_stored_ids(org: Organisation) -> None:
    source = make_source(org)
    seen: list[tuple[Any, list[Any]]] = []

    def hook(organisation_id: Any, mention_ids: list[Any]) -> None:
        seen.append((organisation_id, mention_ids))

    register_ingest_hook(hook)
    try:
        mentions_ingest(source=source, mentions=[post(1), post(2)], actor=ACTOR)
        mentions_ingest(source=source, mentions=[post(2)], actor=ACTOR)  # nothing new
    finally:
        ingest_module._hooks.remove(hook)
    assert len(seen) == 1
    organisation_id, ids = seen[0]
    assert organisation_id == org.pk
    with scopes_disabled():
        assert set(
            Mention.all_tenants.filter(pk__in=ids).values_list("external_id", flat=True)
        ) == {"p1", "p2"}


def test_reach_grows_with_the_audience(org: Organisation) -> None:
    source = make_source(org)
    small = MentionIn(external_id="s", text="Acme is bad", posted_at=POSTED, author_followers=10)
    large = MentionIn(external_id="l", text="Acme is bad", posted_at=POSTED, author_followers=10**6)
    mentions_ingest(source=source, mentions=[small, large], actor=ACTOR)
    with scopes_disabled():
        reach = dict(Mention.all_tenants.filter(source=source).values_list("external_id", "reach"))
    assert 0 <= reach["s"] < reach["l"] <= 1


def test_the_portable_storage_path_dedupes_too(org: Organisation) -> None:
    """`make run` on SQLite stores with bulk_create(ignore_conflicts=True): same rules."""
    source = make_source(org)
    first = ingest_module.mentions_prepare(source=source, mentions=[post(1), post(2)])
    again = ingest_module.mentions_prepare(source=source, mentions=[post(2), post(3)])
    stored = ingest_module._store_portable(first.rows)
    assert len(stored) == 2
    # `again` was prepared before the first rows were stored: p2 is new to it, not to the table.
    assert {r["external_id"] for r in again.rows} == {"p2", "p3"}
    assert len(ingest_module._store_portable(again.rows)) == 1
    assert count(source) == 3
