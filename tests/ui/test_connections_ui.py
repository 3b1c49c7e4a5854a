"""Every connection type in Airflow's Connections UI, in a real (headless) Chromium.

For each type: Admin -> Connections -> Add Connection, pick the type, check the form shows
exactly the provider's labels, hints, hidden fields and secret fields (``connection_fields``),
fill in the emulator's URL, a key and extras, save, check that the secret never comes back to
the browser (edit form, list, every API answer the page received), press the list's real Test
button (success against the emulator, which logs the request; on Airflow 3.3.1-3.3.x the refusal
a user sees there, apache/airflow#73298), then save a wrong key and test again (a failure that
names the platform's refusal). Screenshots of every step are saved.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import airflow
import pytest
from packaging.version import Version

from airflow_ft_provider.connection_fields import ConnField
from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.platforms.registry import record_for
from airflow_ft_provider.testing import Emulator
from airflow_ft_provider.testing.platforms import SPECS
from tests.conftest import CONN_TYPES
from tests.security.support import foreign_service_account
from tests.ui.conftest import ApiServer, Browser, api_json

pytestmark = pytest.mark.ui

AIRFLOW_RELEASE = Version(airflow.__version__).release
#: From 3.2 the form reads the provider's ``conn-fields`` and renders sensitive extras as
#: password inputs; 3.1 builds it from the legacy wtforms widgets and shows them as text.
SECRET_EXTRAS_MASKED_IN_FORM = AIRFLOW_RELEASE >= (3, 2)

#: What the platform's refusal of a wrong key says (the emulators word it like the real APIs).
REFUSALS = {
    Platform.VERTEX_AI: "Google refused the connection's credentials",
    Platform.GEMINI: "API key not valid",
    Platform.DASHSCOPE: "Check the API key",
    Platform.TOGETHER: "Invalid API key",
    Platform.OPENAI: "Incorrect API key",
    Platform.BEDROCK: "Invalid API key",  # the form's Password alone is a Bedrock API key
    Platform("azure_openai"): "invalid subscription key",
    Platform.SAGEMAKER: "The request signature we calculated does not match",
    Platform.FIREWORKS: "unauthenticated: invalid API key",
    Platform.WATSONX: "IBM Cloud IAM refused the connection's API key",
    Platform.REPLICATE: "You did not pass a valid authentication token",
}
#: Optional extras filled in through the form to see them stored (besides max_retries, timeout and
#: the extras the emulator's connection needs, :func:`form_extras`).
FILLED_EXTRAS: dict[Platform, dict[str, str]] = {
    Platform.OPENAI: {"organization": "org-ui-test", "project": "proj_ui"},
    Platform.DASHSCOPE: {"workspace": "ws-ui-test"},
}


@dataclass
class Credentials:
    field: str  # the form input that holds the secret
    value: str
    wrong: str
    #: Strings that must never come back to the browser.
    secrets: list[str]
    #: Standard fields that go with the secret (an AWS platform's Login: the access key id).
    beside: dict[str, str] = field(default_factory=dict)


def credentials(emu: Emulator, platform: Platform) -> Credentials:
    """A valid and a wrong credential, in the fields the emulator's spec names; Vertex AI gets a
    service-account key in a secret extra."""
    if platform is Platform.VERTEX_AI:
        project = f"ui-{uuid.uuid4().hex[:8]}"
        info = emu.service_account_info(project)
        wrong = foreign_service_account(project, info["token_uri"])
        key_lines = [line for line in info["private_key"].splitlines() if line and not line.startswith("-----")]
        return Credentials("element_keyfile_dict", json.dumps(info), json.dumps(wrong), key_lines)
    core = uuid.uuid4().hex
    key = f"sk-UI-{core}"
    emu.config.api_keys[platform.value] = key
    fields = {name: value for name, value in SPECS[platform].secret_fields(key).items() if value is not None}
    assert fields.pop("password") == key, "the key is not the Password"
    return Credentials("password", key, f"sk-WRONG-{uuid.uuid4().hex}", [key, core], fields)


def form_extras(emu: Emulator, platform: Platform, project: str | None) -> dict[str, str]:
    """The extras filled in through the form: those of the emulator's connection the form shows as
    fields (Fireworks' account, watsonx.ai's project and IAM endpoint), then :data:`FILLED_EXTRAS`."""
    shown = {spec.name: spec for spec in record_for(platform).form.fields}
    conn = SPECS[platform].connection(
        emu, key=None, project=project or "emulator-project", location="us-central1", extra={}
    )
    needed = {name: str(value) for name, value in conn["extra"].items() if name in shown}
    assert not [name for name in needed if shown[name].choices or shown[name].secret], "fill() types text only"
    return {**needed, **FILLED_EXTRAS.get(platform, {})}


@pytest.fixture
def ui_emu(emulator: Emulator) -> Any:
    keys = dict(emulator.config.api_keys)
    emulator.reset()
    yield emulator
    emulator.config.api_keys.clear()
    emulator.config.api_keys.update(keys)
    emulator.reset()


#: Airflow releases whose Connections list cannot test a connection without a port (every ft_* type
#: hides it): the row's Test icon posts ``"port": 0`` (``Number(null)``) and the API refuses that as
#: another endpoint, "Bad Request", before any hook runs. apache/airflow#73298: the check came with
#: 3.3.1 and 3.4.0 treats 0 as unset. A provider cannot give a hidden standard field a stored value,
#: so the docs send users of these releases to ``airflow connections test <conn_id>``.
ROW_TEST_REFUSED = (3, 3, 1) <= AIRFLOW_RELEASE < (3, 4)
ROW_TEST_REFUSAL = "The host or port to test differs from the stored connection"


def field_root(dialog: Any, label: str) -> Any:
    """The form field whose label reads ``label`` (labels carry a trailing space or a '*')."""
    exact = re.compile(rf"^\s*{re.escape(label)}\s*\*?\s*$")
    return dialog.locator("[data-scope=field][data-part=root]").filter(
        has=dialog.page.locator("label").filter(has_text=exact)
    )


def settled(toast: Any) -> Any:
    """The toast once its slide-in has finished, so the screenshot shows it in place."""
    toast.wait_for(state="visible")
    toast.evaluate("el => Promise.all(el.getAnimations({subtree: true}).map(a => a.finished.catch(() => null)))")
    return toast


def toast_text(page: Any, title: str) -> str:
    return settled(page.locator("[data-scope=toast][data-part=root]").filter(has_text=title).last).inner_text()


def open_connections(page: Any, server: ApiServer) -> None:
    # Airflow 3.1's simple auth manager logs the browser in by redirecting to the home page
    # (3.3 returns to the page asked for): sign in on the home page first, then go on.
    page.goto(server.url)
    page.get_by_role("link", name="Admin").or_(page.get_by_role("button", name="Admin")).first.wait_for()
    page.goto(f"{server.url}/connections")


def open_form(page: Any, server: ApiServer) -> Any:
    open_connections(page, server)
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog")
    dialog.wait_for(state="visible")
    return dialog


def pick_type(page: Any, dialog: Any, hook_name: str) -> None:
    dialog.get_by_role("combobox").first.fill(hook_name[:12])
    page.get_by_role("option", name=hook_name, exact=True).click()
    dialog.locator("input[name=host]").wait_for(state="visible")


def expand(dialog: Any, section: str) -> None:
    trigger = dialog.get_by_role("button", name=section, exact=True)
    if trigger.get_attribute("aria-expanded") != "true":
        trigger.click()


def check_extra_field(dialog: Any, spec: ConnField) -> None:
    root = dialog.locator("[data-scope=field][data-part=root]").filter(
        has=dialog.page.locator(f"input[name=element_{spec.name}]")
    )
    assert root.count() == 1, f"no form field for the extra {spec.name!r}"
    assert root.locator("label").first.inner_text().strip() == spec.label
    if spec.description:
        assert root.locator("[data-part=helper-text]").inner_text().strip() == spec.description
    control = root.locator(f"input[name=element_{spec.name}]")
    if spec.secret and SECRET_EXTRAS_MASKED_IN_FORM:
        assert control.get_attribute("type") == "password", f"{spec.name} is a secret but not a password input"
    elif spec.secret:
        # Airflow 3.1's form shows every extra as text, whatever the hook declares; what is
        # stored is still masked in every answer (checked below).
        assert control.get_attribute("type") in (None, "text")
    elif spec.kind == "boolean":
        assert control.get_attribute("type") == "checkbox"
        assert not root.locator("input[type=checkbox]").first.is_checked()  # defaults to off
    else:
        assert control.get_attribute("type") != "password"
    if spec.default is not None and spec.kind in ("string", "number", "integer") and not spec.choices:
        assert control.input_value() == str(spec.default), f"{spec.name} default"
    if spec.choices:
        assert control.input_value() == str(spec.default)  # react-select keeps the value in a hidden input


def check_form(page: Any, dialog: Any, platform: Platform) -> None:
    """Labels, placeholders, hidden and secret fields: exactly what connection_fields declares."""
    record = record_for(platform)
    form = record.form
    ui = form.ui
    host_label, password_label = ui["relabeling"]["host"], ui["relabeling"]["password"]
    host = field_root(dialog, host_label).locator("input[name=host]")
    assert host.get_attribute("placeholder") == ui["placeholders"]["host"]
    password = field_root(dialog, password_label).locator("input[name=password]")
    assert password.get_attribute("type") == "password"
    assert password.get_attribute("placeholder") == ui["placeholders"]["password"]
    for hidden in form.hidden:  # Bedrock shows Login (the access key id)
        assert dialog.locator(f"input[name={hidden}]").count() == 0, f"{hidden} should be hidden"
        assert field_root(dialog, hidden.capitalize()).count() == 0
    expand(dialog, "Extra Fields")
    for spec in form.fields:
        check_extra_field(dialog, spec)
    names = sorted(
        n.removeprefix("element_")
        for n in dialog.locator("input[name^=element_]").evaluate_all("els => els.map(e => e.name)")
    )
    assert names == sorted(f.name for f in form.fields), "the form shows extras the provider does not declare"


def field_input(dialog: Any, name: str) -> Any:
    """The input ``name``, its section of the form opened first (one section is open at a time)."""
    expand(dialog, "Extra Fields" if name.startswith("element_") else "Standard Fields")
    return dialog.locator(f"input[name={name}]")


def fill(dialog: Any, emu: Emulator, platform: Platform, creds: Credentials, extras: dict[str, str]) -> None:
    field_input(dialog, "host").fill(emu.base_url(platform))
    for name, value in creds.beside.items():
        field_input(dialog, name).fill(value)
    field_input(dialog, creds.field).fill(creds.value)
    expand(dialog, "Extra Fields")
    dialog.locator("input[name=element_max_retries]").fill("0")
    dialog.locator("input[name=element_timeout]").fill("15")
    for name, value in extras.items():
        dialog.locator(f"input[name=element_{name}]").fill(value)


def save(page: Any, dialog: Any, title: str) -> None:
    dialog.get_by_role("button", name="Save").click()
    toast_text(page, title)
    dialog.wait_for(state="hidden")


def row(page: Any, conn_id: str) -> Any:
    found = page.get_by_role("row").filter(has_text=conn_id)
    found.wait_for(state="visible")
    return found


def press_test(browser: Browser, api_server: ApiServer, conn_id: str, outcome: str) -> str:
    """Press the row's real Test button; return the test's message, with what the user saw checked.

    Where the button works, its toast (title ``outcome``) and the API's answer must agree. On the
    releases of :data:`ROW_TEST_REFUSED` the user sees Airflow's refusal instead; the hook is then
    tested through the same API with the row's data as Airflow 3.4 sends it (no port).
    """
    page = browser.page
    with page.expect_response("**/api/v2/connections/test") as answer:
        row(page, conn_id).get_by_role("button", name="Test Connection").click()
    if ROW_TEST_REFUSED:
        assert answer.value.status == 400, f"apache/airflow#73298 looks fixed in {airflow.__version__}: update the docs"
        assert ROW_TEST_REFUSAL in answer.value.json()["detail"]
        refused = page.locator("[data-scope=toast][data-part=root]").filter(has_text="Test Connection Failed")
        assert "Bad Request" in settled(refused.last).inner_text()
        browser.shot("the list's test button refused by airflow (apache-airflow-73298)")
        with api_server.api() as api:
            stored = api.get(f"/api/v2/connections/{conn_id}").json()
            body = {k: v for k, v in stored.items() if k != "port" and v is not None}
            result = api_json(api.post("/api/v2/connections/test", json=body))
        assert result["status"] is (outcome == "Test Connection Successful"), result
        return str(result["message"])
    body = answer.value.json()
    assert answer.value.status == 200, body
    toast = (
        page.locator("[data-scope=toast][data-part=root]")
        .filter(has_text=outcome)
        .filter(has_text=body["message"][:60])
    )
    settled(toast.last)
    browser.shot(f"the list's test button: {outcome}")
    assert body["status"] is (outcome == "Test Connection Successful")
    return toast.last.inner_text()


def assert_not_shown(browser: Browser, secrets: list[str], where: str) -> None:
    html = browser.page.content()
    for secret in secrets:
        assert secret not in html, f"a secret is in the page ({where})"
    for url, body in browser.responses:
        for secret in secrets:
            assert secret not in body, f"a secret came back from the server in {url} ({where})"


@pytest.mark.parametrize("platform", list(Platform), ids=str)
def test_connection_form_save_mask_and_test(browser: Browser, api_server: ApiServer, ui_emu: Emulator, platform):
    page = browser.page
    record = record_for(platform)
    conn_id = f"ui_{platform.value}_{uuid.uuid4().hex[:6]}"
    creds = credentials(ui_emu, platform)
    project = json.loads(creds.value)["project_id"] if platform is Platform.VERTEX_AI else None
    extras = form_extras(ui_emu, platform, project)

    # 1. The form for this type, as the provider declares it.
    dialog = open_form(page, api_server)
    browser.shot("add connection dialog")
    dialog.locator("input[name=connection_id]").fill(conn_id)
    pick_type(page, dialog, record.hook_name)
    check_form(page, dialog, platform)
    browser.shot(f"{record.hook_name} form")

    # 2. Filled in and saved.
    fill(dialog, ui_emu, platform, creds, extras)
    browser.shot("filled in")
    save(page, dialog, "Create Connection Request Submitted")
    listed = row(page, conn_id)
    assert CONN_TYPES[platform] in listed.inner_text()
    assert ui_emu.base_url(platform) in listed.inner_text()
    browser.shot("saved and listed")

    # 3. Stored as typed in (through the API: the key itself is masked there too).
    with api_server.api() as api:
        stored = api.get(f"/api/v2/connections/{conn_id}").json()
    assert stored["conn_type"] == CONN_TYPES[platform]
    assert stored["host"] == ui_emu.base_url(platform)
    extra = json.loads(stored["extra"])
    assert extra["max_retries"] == 0
    for name, value in extras.items():
        assert extra[name] == value
    for name, value in creds.beside.items():
        assert stored[name] == value
    if platform is Platform.VERTEX_AI:
        assert extra["keyfile_dict"] == "***"
    else:
        assert stored["password"] == "***"

    # 4. The secret never comes back: edit form, Extra Fields JSON, list, every API answer.
    row(page, conn_id).get_by_role("button", name="Edit Connection").click()
    dialog = page.get_by_role("dialog")
    dialog.wait_for(state="visible")
    secret_input = field_input(dialog, creds.field)
    if creds.field == "password" or SECRET_EXTRAS_MASKED_IN_FORM:
        assert secret_input.get_attribute("type") == "password"
    assert secret_input.input_value() in ("", "***")
    browser.shot("edit form, secret masked")
    expand(dialog, "Extra Fields JSON")
    browser.shot("edit form, extra fields JSON")
    assert_not_shown(browser, creds.secrets, "edit form")
    dialog.get_by_role("button", name="Close").click()
    dialog.wait_for(state="hidden")

    # 5. Test: the API server's hook reaches the emulator with the stored secret.
    ui_emu.clear_requests()
    message = press_test(browser, api_server, conn_id, "Test Connection Successful")
    assert record.hook_name in message
    assert "listed tuning jobs" in message
    spec = SPECS[platform]
    reached = [r for r in ui_emu.requests(platform) if not spec.is_auxiliary(r.path) and r.status == 200]
    assert reached, "the test never reached the platform's API"
    assert_not_shown(browser, creds.secrets, "after a successful test")

    # 6. Editing another field keeps the masked secret (the form posts '***' back, never the key).
    row(page, conn_id).get_by_role("button", name="Edit Connection").click()
    dialog = page.get_by_role("dialog")
    dialog.wait_for(state="visible")
    field_input(dialog, "element_timeout").fill("20")
    save(page, dialog, "Update Connection Request Submitted")
    with api_server.api() as api:
        # A number on 3.2+; 3.1's legacy form stores text. The hooks read both.
        assert float(json.loads(api.get(f"/api/v2/connections/{conn_id}").json()["extra"])["timeout"]) == 20
    press_test(browser, api_server, conn_id, "Test Connection Successful")

    # 7. A wrong key: saved through the form, then Test names the refusal.
    row(page, conn_id).get_by_role("button", name="Edit Connection").click()
    dialog = page.get_by_role("dialog")
    dialog.wait_for(state="visible")
    field_input(dialog, creds.field).fill(creds.wrong)
    browser.shot("wrong key entered")
    save(page, dialog, "Update Connection Request Submitted")
    message = press_test(browser, api_server, conn_id, "Test Connection Failed")
    assert record.hook_name in message
    assert REFUSALS[platform] in message, message
    wrong_secrets = [creds.wrong]
    if platform is Platform.VERTEX_AI:
        wrong_secrets = json.loads(creds.wrong)["private_key"].splitlines()[1:-1]
    assert_not_shown(browser, [*creds.secrets, *wrong_secrets], "after a failed test")

    # 8. Gone again.
    row(page, conn_id).get_by_role("button", name="Delete Connection").click()
    page.get_by_role("dialog").get_by_role("button", name=re.compile("^(Yes, )?Delete$")).click()
    page.get_by_role("row").filter(has_text=conn_id).wait_for(state="detached")
    browser.shot("deleted")


def stored_openai_connection(api_server: ApiServer, emu: Emulator, key: str) -> str:
    """An OpenAI connection created through the REST API, as a deployment script would, without a port."""
    conn_id = f"ui_openai_{uuid.uuid4().hex[:6]}"
    emu.config.api_keys[Platform.OPENAI.value] = key
    body = {
        "connection_id": conn_id,
        "conn_type": CONN_TYPES[Platform.OPENAI],
        "host": emu.base_url(Platform.OPENAI),
        "password": key,
        "extra": json.dumps({"max_retries": 0, "timeout": 15}),
    }
    with api_server.api() as api:
        api_json(api.post("/api/v2/connections", json=body))
    return conn_id


@pytest.mark.xfail(
    ROW_TEST_REFUSED,
    strict=True,
    reason="apache/airflow#73298: the Connections list's Test posts port 0 and Airflow 3.3.1-3.3.x refuses it",
)
def test_the_lists_test_button_tests_a_connection_without_port(browser: Browser, api_server: ApiServer, ui_emu):
    """The button as a user presses it. Expected to fail where Airflow refuses the row's port 0: the day
    the tested release has the fix, this passes, strict xfail fails the run, and the docs' version
    table (docs/connections/index.md) must say the button works again."""
    page = browser.page
    conn_id = stored_openai_connection(api_server, ui_emu, f"sk-UI-{uuid.uuid4().hex}")
    open_connections(page, api_server)
    with page.expect_response("**/api/v2/connections/test") as answer:
        row(page, conn_id).get_by_role("button", name="Test Connection").click()
    browser.shot("the list's test button")
    assert answer.value.status == 200, answer.value.text()
    assert answer.value.json()["status"] is True
    settled(page.locator("[data-scope=toast][data-part=root]").filter(has_text="Test Connection Successful").last)


def test_airflow_connections_test_checks_a_stored_connection(api_server: ApiServer, ui_emu):
    """What the docs tell users to run where the list's button is refused: the CLI tests the stored
    connection with the same hook, and a refused key fails it with the platform's words."""
    key = f"sk-UI-{uuid.uuid4().hex}"
    conn_id = stored_openai_connection(api_server, ui_emu, key)
    passed = api_server.cli("connections", "test", conn_id)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "Connection success!" in passed.stdout
    assert [r for r in ui_emu.requests(Platform.OPENAI) if r.status == 200], "the test never reached the emulator"

    ui_emu.config.api_keys[Platform.OPENAI.value] = f"sk-OTHER-{uuid.uuid4().hex}"
    failed = api_server.cli("connections", "test", conn_id)
    # Airflow's CLI exits 1 on a failed test from 3.3.2 on; before, 0 with "Connection failed!".
    assert failed.returncode == (1 if AIRFLOW_RELEASE >= (3, 3, 2) else 0)
    assert "Connection failed!" in failed.stdout
    assert REFUSALS[Platform.OPENAI] in failed.stdout
    assert key not in failed.stdout + failed.stderr
