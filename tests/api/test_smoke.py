from rest_framework.test import APIClient


def test_members_list_shows_own_org(owner: APIClient) -> None:
    response = owner.get("/api/v1/orgs/xyz/members/")
    assert response.status_code == 200
    assert len(response.json()["results"]) == 1
