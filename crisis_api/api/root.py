"""`GET /api/v1/`: where things are, for people and crawlers of the API."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView


class ApiRootView(APIView):
    """Links to the schema, the interactive docs, authentication and the caller's organisations."""

    permission_classes = (AllowAny,)
    authentication_classes = ()

    @extend_schema(
        summary="API root",
        responses=inline_serializer(
            "ApiRoot", {name: serializers.URLField() for name in ("schema", "docs", "auth", "orgs")}
        ),
    )
    def get(self, request: Request) -> Response:
        return Response(
            {
                "schema": reverse("schema", request=request),
                "docs": reverse("docs", request=request),
                "auth": reverse("auth-me", request=request).removesuffix("me/"),
                "orgs": reverse("organisations-list", request=request),
            }
        )
