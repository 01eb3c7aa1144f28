"""Small things a user notices (issue 9, item 10) on a MockHub: durations in words and capitalised resources,
the docs with the portal's own address, full names without control or bidi characters."""

import json
import re
from urllib.parse import urlparse

from jupyterhub.tests.utils import public_url

from conftest_helpers import login, make_user

UNSAFE = "must not contain control or bidirectional-override characters"


async def test_a_groups_default_job_timeout_shows_in_words_and_its_quota_rows_capitalised(app):
    await make_user(app, "dd-ivy", groups=["dd-i"],
                    policies={"dd-i": {"admins": ["dd-ivy"], "job_default_timeout": "1d"}})
    s = await login(app, "dd-ivy")
    page = (await s.get("hub/portal/admin/groups/dd-i")).text  # the group's policy, in the Groups console
    quota = page.split('id="hf-p-quota"')[1].split("</table>")[0]
    assert re.findall(r"<tr>\s*<td>([^<]+)</td>", quota) == ["CPU", "Memory", "GPU", "Sessions", "Storage"]
    r = await s.api("POST", "/portal/groups/dd-i/jobs", data=json.dumps({"name": "dd-default", "command": "date"}))
    assert r.status_code == 201, r.text
    job = (await s.get(f"hub/portal/jobs/{r.json()['id']}")).text  # a new job takes the group's default
    timeout = job.split("<th>Timeout</th>")[1][:80]
    assert "<td>1 day</td>" in timeout and "86400" not in timeout


async def test_durations_in_several_units(app):
    await make_user(app, "dd-jon", groups=["dd-j"])
    s = await login(app, "dd-jon")
    r = await s.api("POST", "/portal/groups/dd-j/jobs",
                    data=json.dumps({"name": "dd-long", "command": "date", "timeout": 90061}))
    assert r.status_code == 201, r.text
    assert "1 day 1 hour 1 minute 1 second" in (await s.get(f"hub/portal/jobs/{r.json()['id']}")).text


async def test_docs_use_the_address_the_portal_is_reached_at(app):
    await make_user(app, "dd-doc")
    s = await login(app, "dd-doc")
    page = (await s.get("hub/portal/docs/user-guide")).text
    url = urlparse(public_url(app))
    assert "127.0.0.1:8000" not in page
    assert f"http://{url.netloc}{url.path}hub/api/portal/me/context" in page
    # a forged Host header is shown escaped, never as markup
    r = await s.get("hub/portal/docs/user-guide", headers={"Host": '<b id="x">evil'})
    assert '<b id="x">' not in r.text


async def test_full_names_refuse_control_and_bidi_override_characters(app):
    await make_user(app, "dd-ann")
    s = await login(app, "dd-ann")
    for name in ("Ann\u202eevil", "Ann\u2066x\u2069", "Ann\x07", "Ann\nSmith", "Ann\u200fB", "Ann\u2028Smith"):
        r = await s.api("PATCH", "/portal/me", data=json.dumps({"full_name": name}))
        assert r.status_code == 400 and r.json()["errors"] == {"full_name": UNSAFE}, repr(name)
        if name != "Ann\x07":  # tornado turns C0 controls of form fields into spaces itself
            r = await s.post("hub/portal/account", {"full_name": name, "email": ""})
            assert r.status_code == 400 and UNSAFE in r.text, repr(name)
    r = await s.api("PATCH", "/portal/me", data=json.dumps({"full_name": "Zoë Ünal-نور"}))
    assert r.status_code == 200 and r.json()["full_name"] == "Zoë Ünal-نور"
