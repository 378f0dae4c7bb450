"""`/api/v1/`: the router's endpoints, auth, the OpenAPI schema and its interactive docs."""

from django.conf import settings
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from communications import public_views
from crisis_api.api import root
from crisis_api.api.router import router
from notifications import channel_views
from organisations import auth_views

auth_patterns = [
    path("csrf/", auth_views.CsrfView.as_view(), name="auth-csrf"),
    path("login/", auth_views.LoginView.as_view(), name="auth-login"),
    path("logout/", auth_views.LogoutView.as_view(), name="auth-logout"),
    path("tokens/", auth_views.TokenView.as_view(), name="auth-tokens"),
    path("me/", auth_views.MeView.as_view(), name="auth-me"),
    path("password-reset/", auth_views.PasswordResetView.as_view(), name="auth-password-reset"),
    path(
        "password-reset/confirm/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="auth-password-reset-confirm",
    ),
    path(
        "invitations/accept/",
        auth_views.InvitationAcceptView.as_view(),
        name="auth-invitation-accept",
    ),
]

urlpatterns = [
    path("", root.ApiRootView.as_view(), name="api-root"),
    path("ack/<str:token>/", channel_views.acknowledge_link, name="notification-ack"),
    path("hooks/twilio/status/", channel_views.twilio_status, name="twilio-status"),
    path("auth/", include(auth_patterns)),
    path(
        "public/<slug:org>/status/", public_views.PublicStatusView.as_view(), name="public-status"
    ),
    path(
        "public/<slug:org>/status/feed.atom",
        public_views.PublicStatusFeedView.as_view(),
        name="public-status-feed",
    ),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    *router.urls,
]

if settings.ANYMAIL.get("WEBHOOK_SECRET"):
    # E-mail provider tracking webhooks, only when they can be authenticated (basic auth).
    urlpatterns.append(path("hooks/anymail/", include("anymail.urls")))
