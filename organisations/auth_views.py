"""`/api/v1/auth/`: sessions (browsers, with CSRF), app tokens, current user, password reset,
and accepting invitations."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate, login, logout
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError as DjangoValidationError
from django.middleware.csrf import get_token
from django.utils.decorators import method_decorator
from django.utils.encoding import force_str
from django.utils.http import urlsafe_base64_decode
from django.views.decorators.csrf import ensure_csrf_cookie
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import (
    AuthenticationFailed,
    Throttled,
    ValidationError,
)
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from crisis_api.api.serializers import StrictInput
from crisis_api.api.throttling import CredentialRateThrottle, LoginRateThrottle
from organisations import lockout, services
from organisations.authentication import BearerAuthentication, SessionAuthentication
from organisations.models import AuthToken, Membership, Role, User
from organisations.serializers import UserOutput


class CredentialsInput(StrictInput):
    email = serializers.EmailField()
    password = serializers.CharField(trim_whitespace=False)


class TokenCreateInput(CredentialsInput):
    name = serializers.CharField(max_length=100, required=False, default="")


class PasswordResetInput(StrictInput):
    email = serializers.EmailField()


class PasswordResetConfirmInput(StrictInput):
    uid = serializers.CharField()
    token = serializers.CharField()
    password = serializers.CharField(trim_whitespace=False)


class InvitationAcceptInput(StrictInput):
    token = serializers.CharField()
    password = serializers.CharField(trim_whitespace=False, required=False, default="")
    full_name = serializers.CharField(max_length=200, required=False, default="")


class MembershipBriefOutput(serializers.Serializer[Any]):
    organisation = serializers.SlugField(source="organisation.slug")
    organisation_name = serializers.CharField(source="organisation.name")
    role = serializers.ChoiceField(choices=Role.choices)


class MeOutput(UserOutput):
    memberships = MembershipBriefOutput(many=True)


class TokenOutput(serializers.Serializer[Any]):
    token = serializers.CharField(help_text="Send as `Authorization: Bearer <token>`. Shown once.")
    expires_at = serializers.DateTimeField()
    user = UserOutput()


def _check_credentials(request: Request, email: str, password: str) -> User:
    """The user for these credentials, honouring the lockout; failures are counted."""
    locked = lockout.login_locked_for(email)
    if locked:
        raise Throttled(
            wait=locked, detail="Too many failed log-ins for this address.", code="login_locked"
        )
    user = authenticate(request._request, username=email, password=password)
    if user is None:
        lockout.login_failed(email)
        raise AuthenticationFailed("Wrong e-mail or password.", code="invalid_credentials")
    lockout.login_succeeded(email)
    assert isinstance(user, User)
    return user


def _me(user: User) -> dict[str, Any]:
    memberships = Membership.all_tenants.filter(user=user).select_related("organisation")
    return dict(MeOutput({**UserOutput(user).data, "memberships": memberships}).data)


class AuthView(APIView):
    """Auth endpoints: no tenant; authenticated ones need a user, not an API key."""

    throttle_classes: tuple[type[BaseThrottle], ...] = (LoginRateThrottle,)

    def get_authenticate_header(self, request: Request) -> str:
        """Wrong credentials are a 401 even where no authenticator runs (DRF turns an
        AuthenticationFailed into a 403 when the view offers no WWW-Authenticate challenge)."""
        return BearerAuthentication().authenticate_header(request)


@method_decorator(ensure_csrf_cookie, name="get")
class CsrfView(AuthView):
    permission_classes = (AllowAny,)
    authentication_classes = ()

    @extend_schema(
        summary="Get a CSRF token (and cookie) for browser log-in",
        responses=inline_serializer("CsrfOutput", {"csrf_token": serializers.CharField()}),
    )
    def get(self, request: Request) -> Response:
        return Response({"csrf_token": get_token(request._request)})


class LoginView(AuthView):
    permission_classes = (AllowAny,)

    @extend_schema(
        summary="Log in a browser session (send X-CSRFToken from /auth/csrf/)",
        request=CredentialsInput,
        responses=MeOutput,
    )
    def post(self, request: Request) -> Response:
        # The same check (and 403 csrf_failed) as every session request: log-in CSRF matters
        # although the caller is not authenticated yet.
        SessionAuthentication().enforce_csrf(request)
        data = CredentialsInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = _check_credentials(request, **data.validated_data)
        login(request._request, user)
        return Response(_me(user))


class LogoutView(AuthView):
    permission_classes = (IsAuthenticated,)

    @extend_schema(
        summary="End this session, or revoke the token used", request=None, responses={204: None}
    )
    def post(self, request: Request) -> Response:
        if isinstance(request.auth, AuthToken):
            services.auth_token_revoke(token=request.auth)
        else:
            logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenView(AuthView):
    permission_classes = (AllowAny,)
    authentication_classes = ()

    @extend_schema(
        summary="Exchange credentials for an app token (mobile and desktop apps)",
        request=TokenCreateInput,
        responses={201: TokenOutput},
    )
    def post(self, request: Request) -> Response:
        data = TokenCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = _check_credentials(
            request, data.validated_data["email"], data.validated_data["password"]
        )
        token, secret = services.auth_token_create(user=user, name=data.validated_data["name"])
        body = {"token": secret, "expires_at": token.expires_at, "user": user}
        return Response(TokenOutput(body).data, status=status.HTTP_201_CREATED)


class MeView(AuthView):
    permission_classes = (IsAuthenticated,)
    throttle_classes = (CredentialRateThrottle,)

    @extend_schema(summary="The logged-in user and their organisations", responses=MeOutput)
    def get(self, request: Request) -> Response:
        return Response(_me(request.user))  # type: ignore[arg-type]


class PasswordResetView(AuthView):
    permission_classes = (AllowAny,)
    authentication_classes = ()

    @extend_schema(
        summary="Mail a password-reset link (answers 202 whether or not the address exists)",
        request=PasswordResetInput,
        responses={202: None},
    )
    def post(self, request: Request) -> Response:
        data = PasswordResetInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.password_reset_request(email=data.validated_data["email"])
        return Response(status=status.HTTP_202_ACCEPTED)


class PasswordResetConfirmView(AuthView):
    permission_classes = (AllowAny,)
    authentication_classes = ()

    @extend_schema(
        summary="Set a new password with the link's uid and token",
        request=PasswordResetConfirmInput,
        responses={204: None},
    )
    def post(self, request: Request) -> Response:
        data = PasswordResetConfirmInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            pk = force_str(urlsafe_base64_decode(data.validated_data["uid"]))
            user = User.objects.get(pk=pk, is_active=True)
        except (
            ValueError,
            TypeError,
            OverflowError,
            User.DoesNotExist,
            DjangoValidationError,
        ) as exc:
            raise ValidationError({"token": ["The reset link is not valid."]}) from exc
        if not default_token_generator.check_token(user, data.validated_data["token"]):
            raise ValidationError({"token": ["The reset link is not valid."]})
        services.password_reset_confirm(user=user, password=data.validated_data["password"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationAcceptView(AuthView):
    permission_classes = (AllowAny,)

    @extend_schema(
        summary="Accept an invitation (logged in as the invited address, or creating the account)",
        request=InvitationAcceptInput,
        responses={201: MembershipBriefOutput},
    )
    def post(self, request: Request) -> Response:
        data = InvitationAcceptInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = request.user if request.user.is_authenticated else None
        membership = services.invitation_accept(user=user, **data.validated_data)
        return Response(MembershipBriefOutput(membership).data, status=status.HTTP_201_CREATED)
