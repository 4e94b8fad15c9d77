"""Writes of the sync app on feeds and quarantine, and the dispatcher; the run
lifecycle (lease, backoff) is ``sync.runs``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import orjson
from celery import current_app
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from intelshare import ingest
from intelshare.models import User
from sync import crypto, runs
from sync.client import (
    ApiRootInfo,
    Auth,
    BasicAuth,
    BearerAuth,
    ClientCert,
    HeaderAuth,
    RemoteCollection,
    RemoteError,
    TaxiiClient,
    Timeout,
)
from sync.models import Feed, Quarantine

logger = logging.getLogger(__name__)


class FeedBusy(Exception):
    """A run holds the feed; the operation would race with it."""


ClientFactory = Callable[[Feed], TaxiiClient]


def client_for(feed: Feed) -> TaxiiClient:
    """The TAXII client of a feed, with its decrypted credential."""
    auth: Auth | None = None
    if feed.auth_type == Feed.AUTH_BASIC:
        auth = BasicAuth(feed.username, feed.secret)
    elif feed.auth_type == Feed.AUTH_BEARER:
        auth = BearerAuth(feed.secret)
    elif feed.auth_type == Feed.AUTH_HEADER:
        auth = HeaderAuth(feed.header_name, feed.secret)
    cert = ClientCert(feed.client_cert, feed.client_key or None) if feed.client_cert else None
    verify: bool | str = feed.ca_bundle if feed.verify_tls and feed.ca_bundle else feed.verify_tls
    return TaxiiClient(
        feed.api_root_url,
        feed.remote_collection_id,
        version=feed.taxii_version,  # type: ignore[arg-type]
        auth=auth,
        timeout=Timeout.from_settings(),
        verify=verify,
        client_cert=cert,
    )


# --- scheduling ----------------------------------------------------------------------


PULL_TASK, PUSH_TASK = "sync.pull_feed", "sync.push_feed"


def _enqueue(feed_id: int, direction: str, expires: float) -> None:
    # By name: the task module imports this one, never the other way round.
    name = PULL_TASK if direction == Feed.PULL else PUSH_TASK
    current_app.send_task(name, args=[feed_id], expires=expires)


def _expires(feed: Feed) -> float:
    # A message older than one interval is superseded by the next dispatch.
    return max(60.0, feed.interval.total_seconds())


def dispatch_due(*, now: datetime | None = None) -> list[int]:
    """Enqueue every enabled feed that is due and not running; returns their ids."""
    now = now or timezone.now()
    due = (
        Feed.objects.filter(enabled=True)
        .filter(Q(next_attempt__isnull=True) | Q(next_attempt__lte=now))
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .only("pk", "direction", "interval", "next_attempt")
    )
    sent = []
    with transaction.atomic():
        for feed in due:
            same = (
                Q(next_attempt__isnull=True)
                if feed.next_attempt is None
                else Q(next_attempt=feed.next_attempt)
            )
            if Feed.objects.filter(same, pk=feed.pk).update(next_attempt=now + feed.interval):
                transaction.on_commit(partial(_enqueue, feed.pk, feed.direction, _expires(feed)))
                sent.append(feed.pk)
    if sent:
        logger.info("dispatched %d due feeds", len(sent))
    return sent


# --- admin and CLI -------------------------------------------------------------------


def feed_create(*, secret: str = "", **fields: Any) -> Feed:
    """A new feed, validated; ``secret`` is encrypted before it is saved."""
    feed = Feed(**fields)
    feed.set_secret(secret)
    feed.full_clean()
    feed.save()
    return feed


def feed_set_secret(*, feed: Feed, secret: str) -> None:
    feed.set_secret(secret)
    Feed.objects.filter(pk=feed.pk).update(secret_encrypted=feed.secret_encrypted)


def feed_pause(*, feed: Feed) -> None:
    """Stop dispatching the feed (a running run finishes)."""
    Feed.objects.filter(pk=feed.pk).update(enabled=False)


def feed_resume(*, feed: Feed) -> None:
    """Dispatch the feed again, at the next dispatcher tick."""
    Feed.objects.filter(pk=feed.pk).update(enabled=True, next_attempt=None)


def feed_reset_position(*, feed: Feed) -> None:
    """Start the feed over at its next run: pull everything again (duplicates are
    ignored) or push everything again (a remote may report re-sent versions as
    failures). Refused while a run holds the feed, which would move it on."""
    now = timezone.now()
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    if not Feed.objects.filter(free, pk=feed.pk).update(
        checkpoint=None, push_cursor_date=None, push_cursor_pk=None, push_inflight=None
    ):
        raise FeedBusy(f"{feed} is running; try again when it has finished")


def feed_run_now(*, feed: Feed) -> None:
    """Enqueue a run after the surrounding transaction commits."""
    Feed.objects.filter(pk=feed.pk).update(next_attempt=timezone.now() + feed.interval)
    transaction.on_commit(partial(_enqueue, feed.pk, feed.direction, _expires(feed)))


@dataclass(frozen=True)
class Probe:
    """What a feed's remote answered: its API root and collections, or the error."""

    ok: bool
    api_root: ApiRootInfo | None = None
    collections: tuple[RemoteCollection, ...] = ()
    error: str = ""


def feed_probe(*, feed: Feed) -> Probe:
    """Test a feed's connection with its own credential: API root information
    (TAXII 2.1 §4.2) and the collection list (§5.1). Nothing is stored."""
    client = client_for(feed)
    try:
        info = client.api_root_info()
        found = tuple(client.collections())
    except RemoteError as exc:
        return Probe(ok=False, error=runs.describe_error(exc))
    except ValueError as exc:  # a URL the client refuses
        return Probe(ok=False, error=str(exc))
    finally:
        client.close()
    return Probe(ok=True, api_root=info, collections=found)


def feed_set_remote_collection(*, feed: Feed, collection_id: str) -> None:
    """Point the feed at another remote collection (picked from ``feed_probe``);
    the position starts over, as it belonged to the old collection."""
    feed.remote_collection_id = collection_id
    feed.full_clean()
    Feed.objects.filter(pk=feed.pk).update(
        remote_collection_id=collection_id,
        checkpoint=None,
        push_cursor_date=None,
        push_cursor_pk=None,
        push_inflight=None,
    )


def feed_secrets_rotate() -> int:
    """Re-encrypt every stored credential with the first key; returns how many."""
    done = 0
    with transaction.atomic():
        for feed in Feed.objects.exclude(secret_encrypted="").select_for_update():
            Feed.objects.filter(pk=feed.pk).update(
                secret_encrypted=crypto.rotate_token(feed.secret_encrypted)
            )
            done += 1
    logger.info("re-encrypted %d feed credentials with the first key", done)
    return done


def quarantine_release(*, item: Quarantine, by: User | None = None) -> ingest.Outcome:
    """Store a quarantined object through ``ingest`` as its feed partner's contribution,
    if it now passes validation; otherwise it stays pending with the new reason.
    """
    feed = item.feed
    try:
        obj = orjson.loads(item.raw)
    except orjson.JSONDecodeError as exc:
        outcome = ingest.Outcome(item.stix_id, item.version, ok=False, message=f"not JSON: {exc}")
    else:
        with transaction.atomic():
            result = ingest.store(
                collection=feed.collection,
                objects=[obj],
                source_partner=feed.partner,
                default_tlp=feed.default_tlp,
                origin=f"feed:{feed.pk}/quarantine:{item.pk}",
            )
            outcome = result.outcomes[0]
            if outcome.ok:
                Quarantine.objects.filter(pk=item.pk).update(
                    state=Quarantine.RELEASED, decided_at=timezone.now(), decided_by=by
                )
    if not outcome.ok:
        Quarantine.objects.filter(pk=item.pk).update(reason=outcome.message)
    item.refresh_from_db()
    return outcome


def quarantine_discard(*, item: Quarantine, by: User | None = None) -> None:
    Quarantine.objects.filter(pk=item.pk, state=Quarantine.PENDING).update(
        state=Quarantine.DISCARDED, decided_at=timezone.now(), decided_by=by
    )


def feed_by_key(key: str) -> Feed | None:
    """A feed by id or by name (for the CLI)."""
    feeds = Feed.objects.select_related("partner", "collection")
    if key.isdigit():
        found = feeds.filter(pk=int(key)).first()
        if found is not None:
            return found
    return feeds.filter(name=key).first()
