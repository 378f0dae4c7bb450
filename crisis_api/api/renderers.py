"""JSON rendering: UTF-8, compact, with problem documents keeping their own content type."""

from rest_framework import renderers


class JSONRenderer(renderers.JSONRenderer):
    """DRF's JSON renderer without the browsable API: the API speaks JSON only."""

    charset = None
