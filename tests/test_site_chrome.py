"""The site around the admin and the API: the front door, the icon, and no link to a page that
does not exist."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.contrib.staticfiles import finders
from django.templatetags.static import static
from django.test import Client


@pytest.mark.django_db
def test_the_root_leads_to_the_admin_login_when_signed_out(client: Client) -> None:
    response = client.get("/", follow=True)

    assert response.status_code == 200
    assert response.redirect_chain[0] == ("/admin/", 302)
    assert response.request["PATH_INFO"] == "/admin/login/"


def test_favicon_ico_leads_to_an_icon_that_is_served(client: Client) -> None:
    response = client.get("/favicon.ico")

    assert response.status_code == 302
    assert response["Location"] == static("calls/favicon.svg")
    found = finders.find("calls/favicon.svg")
    assert found and Path(found).read_text().startswith("<svg")


@pytest.mark.django_db
def test_admin_pages_name_the_icon_and_offer_no_view_site_link(client: Client) -> None:
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))

    pages = {path: client.get(path) for path in ("/admin/", "/admin/calls/call/")}
    pages["/admin/login/"] = Client().get("/admin/login/")
    for path, response in pages.items():
        assert response.status_code == 200, path
        page = response.content.decode()
        assert 'rel="icon"' in page and "calls/favicon.svg" in page, path
        assert "View site" not in page, path
