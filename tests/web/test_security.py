"""Safe by default: read-only without credentials, a login or basic auth before anything
else when there are, CSRF and same-origin checks on every change, security headers."""

from __future__ import annotations

import pytest

from ingest.pause import pause_key
from tests.web.conftest import GROUP, STREAM, TOKEN, Web, add_dead, csrf_of, dead_ids

pytestmark = pytest.mark.redis


def _pause_form(web: Web, csrf: str | None = None) -> dict[str, str]:
    return {"csrf": csrf if csrf is not None else web.csrf(), "stream": STREAM, "group": GROUP}


def test_read_only_mode_shows_a_banner_and_no_action_buttons(make_web, client):
    client.xgroup_create(STREAM, GROUP, "0", mkstream=True)
    add_dead(client, "r1")
    web = make_web(credentials=None)

    streams = web.http.get("/streams").text
    dead = web.http.get(f"/dead?stream={STREAM}").text

    assert 'id="read-only-banner">Read-only mode' in streams
    assert "Pause</button>" not in streams
    assert 'type="checkbox" name="id"' not in dead
    assert "Replay" not in dead.split("</header>")[1]


def test_read_only_mode_refuses_every_change(make_web, client):
    dead = add_dead(client, "r1")
    web = make_web(credentials=None)
    csrf = "no-form-shows-one"

    replies = [
        web.post("/dead/replay", {"csrf": csrf, "stream": STREAM, "scope": "selected", "id": dead}),
        web.post(
            "/dead/purge", {"csrf": csrf, "stream": STREAM, "scope": "filter", "confirm": "yes"}
        ),
        web.post("/pause", _pause_form(web, csrf)),
    ]

    assert [r.status_code for r in replies] == [403, 403, 403]
    assert all("read-only mode" in r.text for r in replies)
    assert dead_ids(client) == [dead]
    assert client.exists(pause_key(STREAM, GROUP)) == 0


def test_a_token_dashboard_sends_strangers_to_the_login_page(make_web):
    web = make_web(login=False)

    page = web.http.get("/streams?x=1", follow_redirects=False)
    fragment = web.http.get("/streams/live", headers={"HX-Request": "true"})
    posted = web.post("/pause", {"stream": STREAM, "group": GROUP})

    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=%2Fstreams%3Fx%3D1"
    assert fragment.status_code == 401
    assert posted.status_code == 401
    assert web.http.get("/healthz").status_code == 200
    assert web.http.get("/static/style.css").status_code == 200


def test_a_wrong_token_does_not_log_in(make_web):
    web = make_web(login=False)
    form = web.http.get("/login").text

    reply = web.post("/login", {"csrf": csrf_of(form), "token": TOKEN + "x"})

    assert reply.status_code == 401
    assert "wrong token" in reply.text
    assert web.http.get("/streams", follow_redirects=False).status_code == 303


def test_a_login_without_the_forms_csrf_token_is_refused(make_web):
    web = make_web(login=False)

    reply = web.post("/login", {"token": TOKEN})

    assert reply.status_code == 403
    assert web.http.get("/streams", follow_redirects=False).status_code == 303


def test_a_change_without_or_with_a_wrong_csrf_token_is_refused(web: Web, client):
    missing = web.post("/pause", {"stream": STREAM, "group": GROUP})
    wrong = web.post("/pause", _pause_form(web, "not-the-token"))

    assert missing.status_code == wrong.status_code == 403
    assert "CSRF token is missing or stale" in wrong.text
    assert client.exists(pause_key(STREAM, GROUP)) == 0


def test_a_change_from_another_site_is_refused(web: Web, client):
    form = _pause_form(web)

    by_origin = web.post("/pause", form, headers={"Origin": "https://evil.example"})
    by_fetch = web.post("/pause", form, headers={"Sec-Fetch-Site": "cross-site"})
    same = web.post(
        "/pause", form, headers={"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}
    )

    assert by_origin.status_code == by_fetch.status_code == 403
    assert "cross-site request refused" in by_origin.text
    assert same.status_code == 303
    assert client.exists(pause_key(STREAM, GROUP)) == 1


def test_a_change_is_post_only(web: Web, client):
    dead = add_dead(client, "g1")

    reply = web.http.get(f"/dead/purge?stream={STREAM}&scope=filter&confirm=yes")

    assert reply.status_code == 405
    assert dead_ids(client) == [dead]


def test_logging_out_ends_the_session(web: Web):
    reply = web.post("/logout", {"csrf": web.csrf()})

    assert reply.status_code == 303
    assert web.http.get("/streams", follow_redirects=False).status_code == 303


def test_basic_auth_challenges_then_lets_the_right_user_in(make_web, client):
    web = make_web(credentials="basic")
    web.http.auth = None

    stranger = web.http.get("/streams")
    wrong = web.http.get("/streams", auth=("ops", "nope"))
    right = web.http.get("/streams", auth=("ops", TOKEN))

    assert stranger.status_code == wrong.status_code == 401
    assert stranger.headers["www-authenticate"].startswith('Basic realm="redis-ingest dashboard"')
    assert right.status_code == 200
    assert "Read-only mode" not in right.text


def test_basic_auth_changes_still_need_the_csrf_token(make_web, client):
    client.xgroup_create(STREAM, GROUP, "0", mkstream=True)
    web = make_web(credentials="basic")

    forged = web.post("/pause", {"stream": STREAM, "group": GROUP})
    real = web.post("/pause", _pause_form(web))

    assert forged.status_code == 403
    assert real.status_code == 303


def test_the_session_cookie_is_httponly_and_strict(make_web):
    web = make_web(login=False)

    reply = web.http.get("/login")

    cookie = reply.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie


def test_every_response_carries_the_security_headers(web: Web):
    for url in ("/streams", "/static/style.css", "/nope"):
        headers = web.http.get(url).headers
        assert "script-src 'self'" in headers["content-security-policy"], url
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
