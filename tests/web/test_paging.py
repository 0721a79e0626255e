"""The one pager of numbered lists (care/web/paging.py) and its `?page=` argument."""

from __future__ import annotations

import pytest

from care.web.paging import Pager

PAGED = (
    "/customers/?q=x",
    "/number-corrections/",
    "/reconciliation/",
    "/generation/",
    "/imports/",
    "/admin/users",
    "/messages/outbox",
)


def test_pager_of_a_known_length():
    pager = Pager.of(51, 2, 25)
    assert (pager.page, pager.pages, pager.start) == (2, 3, 25)
    assert (pager.has_prev, pager.prev_num, pager.has_next, pager.next_num) == (True, 1, True, 3)
    assert pager.slice(list(range(51))) == list(range(25, 50))
    assert Pager.of(0, 1, 25).pages == 1
    assert Pager.of(10, 7, 25).slice(list(range(10))) == []  # past the end: empty
    assert Pager.of(10, 7, 25, clamp=True).page == 1  # or the last page
    assert Pager.of(10, 0, 25).page == 1


@pytest.fixture
def everyone(login_as):
    return login_as("admin", "care_manager", "specialist", "general_manager")


@pytest.mark.parametrize(("page", "status"), [("abc", 400), ("0", 400), ("-1", 400), ("1.5", 400), ("99999999", 404)])
def test_every_numbered_list_reads_the_page_the_same_way(client, everyone, page, status):
    answers = {path: client.get(_with_page(path, page)).status_code for path in PAGED}
    assert answers == dict.fromkeys(PAGED, status)


def test_the_first_page_and_one_past_the_end_answer(client, everyone):
    for path in PAGED:
        assert client.get(_with_page(path, "1")).status_code == 200, path
        assert client.get(_with_page(path, "9999999")).status_code in (200, 404), path


def _with_page(path: str, page: str) -> str:
    return f"{path}{'&' if '?' in path else '?'}page={page}"
