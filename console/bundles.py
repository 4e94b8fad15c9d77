"""STIX bundles in the console: upload one into a collection (through
``ingest.store``, with every object's outcome shown) and download a search
result or a collection's latest versions as a bundle."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from django import forms
from django.http import HttpRequest, HttpResponse

from console import selectors
from console.common import page, staff_only
from console.objects import search_from
from intelshare import sightings
from intelshare.models import Collection, Partner

MAX_BYTES = 20 * 1024 * 1024


class UploadForm(forms.Form):
    bundle = forms.FileField(
        help_text='A STIX 2.1 bundle, or a TAXII envelope ({"objects": [...]}), as JSON.'
    )
    collection = forms.ModelChoiceField(queryset=Collection.objects.select_related("api_root"))
    source_partner = forms.ModelChoiceField(
        queryset=Partner.objects.all(),
        required=False,
        help_text="The partner it came from (policy: originator control); empty = the hub.",
    )

    def clean_bundle(self) -> list[Any]:
        upload = self.cleaned_data["bundle"]
        if upload.size > MAX_BYTES:
            raise forms.ValidationError(f"Larger than {MAX_BYTES // 1024 // 1024} MB.")
        try:
            data = orjson.loads(upload.read())
        except orjson.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not JSON: {exc}") from None
        objects = data.get("objects") if isinstance(data, dict) else None
        if not isinstance(objects, list) or not objects:
            raise forms.ValidationError("No 'objects' list in it.")
        return objects


@staff_only
def upload(request: HttpRequest) -> HttpResponse:
    form = UploadForm(request.POST or None, request.FILES or None)
    result = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        result = sightings.store(
            collection=data["collection"],
            objects=data["bundle"],
            source_partner=data["source_partner"],
            origin=f"console:{request.user.get_username()}",
        )
    return page(
        request,
        "console/upload.html",
        {"form": form, "result": result},
        title="Upload a STIX bundle",
        tab="console:objects",
    )


@staff_only
def download(request: HttpRequest) -> HttpResponse:
    """The latest versions matching the object browser's filters (a collection
    alone: its latest versions), at most ``BUNDLE_LIMIT``, as one bundle."""
    raws = selectors.search_raw(search_from(request.GET))
    body = b"".join(
        (
            b'{"type":"bundle","id":"bundle--',
            str(uuid.uuid4()).encode(),
            b'","objects":[',
            ",".join(raws).encode(),
            b"]}",
        )
    )
    response = HttpResponse(body, content_type="application/stix+json;version=2.1")
    response["Content-Disposition"] = 'attachment; filename="intelshare-bundle.json"'
    return response
