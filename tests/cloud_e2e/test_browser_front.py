"""Browsers, OAuth and orgs through the deployed front (`https://{api}.execute-api.../v1/...`: api_front.py).

A browser sends no API key and no Authorization header: it follows an emailed link, loads the page and its modules
from inside the stage, signs in with the HttpOnly cookie, and from then on the cookie alone authenticates (the
API's authorizer maps it to the org's usage-plan key). Each org is metered under its own key, another org's
session is 404, and an org over its plan gets API Gateway's 429 as problem+json. An OAuth provider's redirect back
(cross-site: no cookie) is authenticated by its signed single-use state, and the grant lands in the vault as KMS
ciphertext in the table.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import pytest

from .client import ApiClient
from .harness import HERE, OPERATOR_CREDENTIALS, Cloud
from .procs import Child, python
from .provision import REGION

pytestmark = pytest.mark.timeout(600)

SAME_ORIGIN = {"sec-fetch-site": "same-origin"}  # what a browser adds to its page's own fetches


def add_org(cloud: Cloud, name: str) -> dict[str, Any]:
    """`dexa cloud add-org NAME --json` as an operator runs it against the deployed stack."""
    (plan,) = cloud.deployment.physical(cloud.api_stack, "AWS::ApiGateway::UsagePlan")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DEXA_", "ANTHROPIC_"))},
        **OPERATOR_CREDENTIALS,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": cloud.moto.url,
        "HOME": str(cloud.work_dir / "operator-home"),
    }
    dexa = Path(sys.executable).parent / "dexa"
    argv = [str(dexa), "cloud", "add-org", name, "--admin", f"{name}-admin", "--json"]
    argv += ["--table", cloud.table, "--usage-plan-id", plan.ref]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    doc = json.loads(done.stdout.strip().splitlines()[-1])
    assert doc["gateway_key_id"] and doc["token"], doc
    cloud.api.refresh()  # the new org's gateway key joined the plan
    return doc


@pytest.fixture(scope="module")
def org_a(cloud: Cloud) -> dict[str, Any]:
    return add_org(cloud, "browser-a")


@pytest.fixture(scope="module")
def org_b(cloud: Cloud) -> dict[str, Any]:
    return add_org(cloud, "browser-b")


def origin(cloud: Cloud) -> str:
    """The front's origin: what a browser has in its address bar, without the stage."""
    parts = urlsplit(cloud.api.url)
    return f"{parts.scheme}://{parts.netloc}"


def problem(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    return response.json()


def test_an_emailed_link_lands_on_the_page_inside_the_stage_and_the_cookie_approves(
    cloud: Cloud, org_a: dict[str, Any]
) -> None:
    admin = ApiClient(cloud.api.url, org_a["token"])
    reviewer = "browser-reviewer@e2e.example"
    admin.ok("PUT", "/review-channels", json={"emails": [reviewer]})
    sid = admin.create_session("[script:browser_mail] write browsed.txt")["id"]
    admin.watch(sid, until="permission.required", timeout=120)
    mails: list[dict[str, Any]] = []
    deadline = time.monotonic() + 30
    while not mails and time.monotonic() < deadline:
        mails = [m for m in cloud.sent_mail() if reviewer in json.dumps(m["destinations"]) and sid in m["body"]]
        time.sleep(0.3)
    assert mails, f"no mail to {reviewer} about {sid}"
    (link, raw_token) = re.findall(r"(https?://[^\s\"'<>]+/outputs/review\?token=)([^\s\"'<>&]+)", mails[0]["body"])[0]
    stage = urlsplit(cloud.api.url).path  # "/v1"

    browser = httpx.Client(base_url=origin(cloud), timeout=30, follow_redirects=False)
    # 1. The link, with nothing but the URL: the redirect stays inside the stage (outside it API Gateway says 403).
    landing = browser.get(urlsplit(link).path + "?token=" + raw_token)
    assert landing.status_code == 307, landing.text[:300]
    location = landing.headers["location"]
    assert location.startswith(f"{stage}/ui/review?token="), location
    page = browser.get(location)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html"), page.text[:300]
    # The page's modules, styles and links are under the stage, and the modules are told where they are mounted.
    scripts = re.findall(r'<script type="module" src="([^"]+)"', page.text)
    assert scripts == [f"{stage}/ui/static/js/main.js"], scripts
    assert f'href="{stage}/ui/review"' in page.text
    config = json.loads(re.search(r'<script type="application/json" id="dexa-config">(.*?)</script>', page.text)[1])  # type: ignore[index]
    assert config["base"] == stage
    module = browser.get(scripts[0])
    assert module.status_code == 200 and module.headers["content-type"].startswith("text/javascript")
    assert "import" in module.text
    # Without a credential the API itself is closed to this browser.
    assert browser.get(f"{stage}/sessions").status_code == 401

    # 2. Sign in (the login page posts the pasted key): an HttpOnly, SameSite=Strict session cookie comes back.
    login = browser.post(f"{stage}/ui/login", json={"token": org_a["token"]}, headers=SAME_ORIGIN)
    assert login.status_code == 204, login.text
    set_cookie = login.headers["set-cookie"]
    assert "HttpOnly" in set_cookie and "samesite=strict" in set_cookie.lower() and "Path=/" in set_cookie
    cookie = set_cookie.split(";", 1)[0]
    assert org_a["token"] not in cookie  # the cookie holds a session key of its own
    jar = {"cookie": cookie}

    # 3. Only the cookie from now on: the authorizer takes it, the org's plan meters it, the app authenticates it.
    before = cloud.api.metered[org_a["gateway_key_id"]]
    listed = browser.get(f"{stage}/sessions", headers=jar)
    assert listed.status_code == 200, listed.text
    assert sid in [s["id"] for s in listed.json()["data"]]
    assert cloud.api.metered[org_a["gateway_key_id"]] == before + 1
    token = unquote(raw_token)
    peek = browser.post(f"{stage}/approval-links/peek", json={"token": token}, headers={**jar, **SAME_ORIGIN})
    assert peek.status_code == 200, peek.text
    # A write from another site with the same cookie (a form or fetch it planted) is refused before it acts.
    forged = browser.post(
        f"{stage}/approval-links/redeem",
        json={"token": token},
        headers={**jar, "sec-fetch-site": "cross-site", "origin": "https://evil.example"},
    )
    assert forged.status_code == 403 and problem(forged)["code"] == "forbidden", forged.text
    forged_login = browser.post(
        f"{stage}/ui/login", json={"token": org_a["token"]}, headers={"origin": "https://evil.example"}
    )
    assert forged_login.status_code == 403 and problem(forged_login)["code"] == "forbidden"
    # The page's own redeem approves, and the parked turn runs the tool.
    redeemed = browser.post(f"{stage}/approval-links/redeem", json={"token": token}, headers={**jar, **SAME_ORIGIN})
    assert redeemed.status_code == 200, redeemed.text
    events = admin.watch(sid, until="turn.completed", timeout=120)
    assert "permission.resolved" in [e.type for e in events]
    assert admin.session(sid)["result"] == "Approved from the browser."
    # Sign out ends the cookie's session key: the same cookie no longer passes the authorizer.
    assert browser.post(f"{stage}/ui/logout", headers={**jar, **SAME_ORIGIN}).status_code == 204
    gone = browser.get(f"{stage}/sessions", headers=jar)
    assert gone.status_code == 401 and problem(gone)["code"] == "unauthenticated", gone.text


def test_each_org_is_metered_under_its_own_key_and_cannot_see_the_others_session(
    cloud: Cloud, org_a: dict[str, Any], org_b: dict[str, Any]
) -> None:
    a = ApiClient(cloud.api.url, org_a["token"])
    b = ApiClient(cloud.api.url, org_b["token"])
    assert org_a["gateway_key_id"] != org_b["gateway_key_id"]
    sid = a.create_session("[script:hello] say hello")["id"]
    a.watch(sid, until="turn.completed", timeout=120)
    counted_a, counted_b = cloud.api.metered[org_a["gateway_key_id"]], cloud.api.metered[org_b["gateway_key_id"]]
    assert a.request("GET", f"/sessions/{sid}").status_code == 200
    other = b.request("GET", f"/sessions/{sid}")
    assert other.status_code == 404 and problem(other)["code"] == "not_found", other.text
    assert b.request("GET", f"/sessions/{sid}/events").status_code == 404
    assert sid not in [s["id"] for s in b.ok("GET", "/sessions")["data"]]
    # Each request counted against its own org's key, and only there.
    assert cloud.api.metered[org_a["gateway_key_id"]] == counted_a + 1
    assert cloud.api.metered[org_b["gateway_key_id"]] == counted_b + 3


def move_to_plan(cloud: Cloud, key_id: str, **limits: Any) -> None:
    """An operator puts an org on a plan of its own (a tier), as API Gateway allows: one plan per key and stage."""
    apigw = cloud.client("apigateway")
    (org_plan,) = cloud.deployment.physical(cloud.api_stack, "AWS::ApiGateway::UsagePlan")
    apigw.delete_usage_plan_key(usagePlanId=org_plan.ref, keyId=key_id)
    plan = apigw.create_usage_plan(
        name=f"tier-{key_id}", apiStages=[{"apiId": cloud.api.api_id, "stage": cloud.api.stage}], **limits
    )
    apigw.create_usage_plan_key(usagePlanId=plan["id"], keyId=key_id, keyType="API_KEY")
    cloud.api.refresh()


def test_an_org_over_its_quota_gets_429_problem_json_while_another_org_goes_on(
    cloud: Cloud, org_a: dict[str, Any]
) -> None:
    small = add_org(cloud, "browser-quota")
    move_to_plan(cloud, small["gateway_key_id"], quota={"limit": 3, "period": "DAY"})
    client = ApiClient(cloud.api.url, small["token"])
    assert [client.request("GET", "/sessions").status_code for _ in range(3)] == [200, 200, 200]
    over = client.request("GET", "/sessions")
    assert over.status_code == 429, over.text
    body = problem(over)
    assert body["code"] == "quota_exceeded" and body["status"] == 429, body
    # The quota is the org's, not the API's: another org is unaffected.
    assert ApiClient(cloud.api.url, org_a["token"]).request("GET", "/sessions").status_code == 200


def test_an_org_over_its_rate_gets_429_rate_limited(cloud: Cloud) -> None:
    fast = add_org(cloud, "browser-rate")
    move_to_plan(cloud, fast["gateway_key_id"], throttle={"rateLimit": 0.01, "burstLimit": 2})
    client = ApiClient(cloud.api.url, fast["token"])
    codes = [client.request("GET", "/sessions").status_code for _ in range(3)]
    assert codes == [200, 200, 429], codes
    assert problem(client.request("GET", "/sessions"))["code"] == "rate_limited"


@pytest.fixture(scope="module")
def vendor(cloud: Cloud) -> Any:
    child = Child("oauth-vendor", [python(), str(HERE / "oauth_server.py")], log_dir=cloud.log_dir)
    yield child
    child.stop()


def vendor_state(vendor: Any) -> dict[str, Any]:
    return httpx.get(f"{vendor.url}/_e2e/vendor", timeout=10).json()


def consent(authorize_url: str) -> str:
    """The user's browser at the vendor: open the authorize URL, approve on its consent page; where it sends them."""
    with httpx.Client(timeout=30, follow_redirects=False) as browser:
        to_consent = browser.get(authorize_url)
        assert to_consent.status_code == 302, to_consent.text
        page = browser.get(to_consent.headers["location"])
        txn = re.search(r'name="txn" value="([^"]+)"', page.text)
        assert txn is not None, page.text
        answer = browser.post(to_consent.headers["location"].split("?")[0], data={"txn": txn[1], "approve": "yes"})
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


def vault_items(cloud: Cloud) -> list[dict[str, Any]]:
    ddb = cloud.client("dynamodb")
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": cloud.table}
    while True:
        page = ddb.scan(**kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def test_oauth_completes_through_the_front_by_its_state_and_the_grant_is_kms_ciphertext(
    cloud: Cloud, org_a: dict[str, Any], vendor: Any
) -> None:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    admin = ApiClient(cloud.api.url, org_a["token"])
    mcp = vendor_state(vendor)["mcp"]
    # On a deployed stack the org's MCP allowlist is set through the API (no local CLI reaches the table).
    allow = admin.ok("PUT", "/integrations/mcp-allowlist", json={"patterns": ["http://127.0.0.1:*"]})
    assert allow["patterns"] == ["http://127.0.0.1:*"]
    made = admin.ok("POST", "/integrations", json={"kind": "custom_mcp", "name": "crm", "config": {"url": mcp}})
    integ = made["id"]
    # The API function discovers the vendor's authorization server and registers itself there.
    authorize = admin.ok("POST", f"/integrations/{integ}/oauth/start")["authorize_url"]
    assert authorize.startswith(vendor_state(vendor)["issuer"].rstrip("/") + "/authorize?"), authorize
    back = consent(authorize)
    # The vendor sends the browser to the stack's public URL, inside the stage.
    assert back.startswith(f"{cloud.api.url}/oauth/callback?"), back
    state = re.search(r"[?&]state=([^&]+)", back)
    assert state is not None and "." in unquote(state[1])  # signed

    # The redirect lands with no cookie and no key (a cross-site navigation sends no SameSite=Strict cookie).
    landed = httpx.get(back, headers={"accept": "text/html"}, timeout=60, follow_redirects=False)
    assert landed.status_code == 303, landed.text
    stage = urlsplit(cloud.api.url).path
    assert landed.headers["location"] == f"{stage}/ui/integrations?connected={integ}", landed.headers
    grants = admin.ok("GET", f"/integrations/{integ}/grants")
    assert grants["grant_owner"] == "org" and grants["data"][0]["status"] == "ok", grants

    # The grant is in the table, sealed: a KMS-encrypted data key and AES-GCM ciphertext; no token in clear.
    issued = vendor_state(vendor)["issued"]
    assert issued
    items = vault_items(cloud)
    dump = json.dumps(items, default=repr)
    assert not [t for t in issued if t in dump], "a token is stored in plaintext"
    name = f"oauth/{org_a['org_id']}/{integ}"
    (item,) = [i for i in items if i.get("PK", {}).get("S") == "VAULT" and i.get("SK", {}).get("S") == f"K#{name}"]
    assert set(item) >= {"dk", "nonce", "ct", "kms_key"}
    key = cloud.client("kms").decrypt(CiphertextBlob=item["dk"]["B"], EncryptionContext={"dexa:vault": name})
    grant = json.loads(AESGCM(key["Plaintext"]).decrypt(item["nonce"]["B"], item["ct"]["B"], name.encode()))
    assert grant["access_token"] in issued and grant["owner"] == "org"

    # Replayed: the state was spent.
    again = httpx.get(back, headers={"accept": "application/json"}, timeout=60)
    assert again.status_code == 404 and problem(again)["code"] == "not_found", again.text
    # A forged state on the same code: refused before anything is spent or stored.
    nonce = unquote(state[1]).split(".")[0]
    forged = httpx.get(f"{cloud.api.url}/oauth/callback", params={"state": f"{nonce}.AAAA", "code": "x"}, timeout=60)
    assert forged.status_code == 404, forged.text


CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent: apt-get install -y chromium")
def test_a_real_browser_signs_in_and_works_inside_the_stage(cloud: Cloud, org_b: dict[str, Any]) -> None:
    """Chromium through the front: the app shell, its modules and every fetch stay under /v1; a 401 sends it to
    the login page, the pasted key becomes the cookie, and the session list then loads with the cookie alone."""
    from playwright.sync_api import sync_playwright

    sid = ApiClient(cloud.api.url, org_b["token"]).create_session("[script:hello] say hello")["id"]
    stage = urlsplit(cloud.api.url).path
    outside: list[str] = []  # any request that left the stage (API Gateway would answer 403)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--headless=new", "--no-sandbox"])
        try:
            page = browser.new_page()
            # Generous: the first page load cold-starts API function containers for its modules, in parallel.
            page.set_default_timeout(120_000)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on(
                "request",
                lambda r: outside.append(r.url) if not urlsplit(r.url).path.startswith(stage + "/") else None,
            )
            page.goto(f"{cloud.api.url}/")
            # The session list needs a key: the app goes to its login page, inside the stage.
            page.wait_for_selector("input[type=password]")
            assert urlsplit(page.url).path == f"{stage}/ui/login", (page.url, errors)
            page.fill("input[type=password]", org_b["token"])
            page.click("button[type=submit]")
            page.wait_for_url(f"{cloud.api.url}/")
            page.wait_for_selector(f'a.session-link[data-session-id="{sid}"]')
            link = page.get_attribute(f'a.session-link[data-session-id="{sid}"]', "href")
            assert link == f"{stage}/ui/sessions/{sid}", link
            page.click(f'a.session-link[data-session-id="{sid}"]')
            page.wait_for_url(f"**{stage}/ui/sessions/{sid}")
            page.get_by_text("Review", exact=False).first.wait_for()
            cookies: dict[str, Any] = {str(c.get("name")): c for c in page.context.cookies()}
            assert cookies["dexa_token"].get("httpOnly") and cookies["dexa_token"].get("sameSite") == "Strict"
            assert not errors, errors
        finally:
            browser.close()
    assert not outside, outside
