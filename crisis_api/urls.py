"""Root URLs: the versioned API, health probes and the platform admin."""

from django.contrib import admin
from django.urls import include, re_path

from crisis_api import health
from crisis_api.ops import http as ops_http

handler400 = "crisis_api.api.errors.bad_request"
handler403 = "crisis_api.api.errors.forbidden"
handler404 = "crisis_api.api.errors.not_found"
handler500 = "crisis_api.api.errors.server_error"

urlpatterns = [
    re_path(r"^api/v1/", include("crisis_api.api.urls")),
    re_path(r"^healthz$", health.healthz, name="healthz"),
    re_path(r"^readyz$", health.readyz, name="readyz"),
    re_path(r"^metrics$", ops_http.metrics, name="metrics"),
    re_path(r"^admin/", admin.site.urls),
]
