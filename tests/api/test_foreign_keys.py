"""Foreign keys arriving in bodies or query strings resolve inside the caller's organisation:
another tenant's id is a 404, exactly like an id that does not exist."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from rest_framework.exceptions import NotFound
from rest_framework.test import APIRequestFactory

from crisis_api.api.filters import TenantModelChoiceFilter
from crisis_api.api.serializers import StrictInput, TenantRelatedField
from organisations.models import Membership, Organisation
from tests.factories import make_membership

pytestmark = pytest.mark.django_db


class AssignInput(StrictInput):
    member = TenantRelatedField(Membership)


@pytest.mark.usefixtures("unscoped")
def test_body_foreign_key_resolves_within_the_organisation(
    org: Organisation, other_org: Organisation
) -> None:
    own, foreign = make_membership(org), make_membership(other_org)
    data = AssignInput(data={"member": str(own.pk)}, context={"organisation": org})
    assert data.is_valid(), data.errors
    assert data.validated_data["member"] == own
    for bad in (str(foreign.pk), str(uuid.uuid4()), "not-a-uuid"):
        with pytest.raises(NotFound, match="member: no such membership"):
            AssignInput(data={"member": bad}, context={"organisation": org}).is_valid()


@pytest.mark.usefixtures("unscoped")
def test_query_foreign_key_resolves_within_the_organisation(
    org: Organisation, other_org: Organisation
) -> None:
    own, foreign = make_membership(org), make_membership(other_org)
    request: Any = APIRequestFactory().get("/")
    request.tenant_organisation = org

    class Parent:
        pass

    flt = TenantModelChoiceFilter(Membership, field_name="pk")
    flt.parent = Parent()  # type: ignore[assignment]
    flt.parent.request = request  # type: ignore[attr-defined]
    queryset = Membership.all_tenants.all()
    assert list(flt.filter(queryset, str(own.pk))) == [own]
    assert list(flt.filter(queryset, "")) == list(queryset)
    for bad in (str(foreign.pk), str(uuid.uuid4()), "x"):
        with pytest.raises(NotFound):
            flt.filter(queryset, bad)
