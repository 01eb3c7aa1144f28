"""Jobs and Recurring Jobs as a person sees them on a real hub with its runner: submit a job from the
Jobs page, watch its log stream while it runs, download its artifact, find it in Recent activities;
create a recurring job with a cron expression and read its next five runs."""

import re

import pytest
from playwright.sync_api import expect

from support import screenshot, ui_login

pytestmark = pytest.mark.browser

SLOW = 120_000  # ms: jobs start through the runner on a busy two-core machine
COMMAND = ("echo greeting=$GREETING; for i in 1 2 3 4 5 6; do echo line-$i; sleep 2; done; "
           "mkdir -p artifacts; echo ok > artifacts/out.txt")


def test_submit_a_job_and_watch_it_run(page, portal_hub):
    portal_hub.add_user("jane", "Jane-pass1", groups=["beta"])
    portal_hub.add_user("kim", "Kim-pass1", groups=["beta"])
    ui_login(page, portal_hub, "jane", "Jane-pass1")
    page.goto(portal_hub.base_url + "/hub/portal/jobs")
    expect(page.locator("#hf-jobs")).to_contain_text("No jobs yet in this group.")
    expect(page.locator("#hf-job-timeout")).to_have_value("1d")  # the group's default job timeout
    expect(page.locator("#hf-job-instance_type")).to_have_value("cpu-small")  # the group's default type

    page.fill("#hf-job-name", "count to six")
    # a command of spaces only: told at the command, in words (issue 24), nothing is submitted
    page.fill("#hf-job-command", "   ")
    page.click("#hf-job-submit")
    expect(page.locator('[data-error-for="command"]')).to_have_text("Command: enter a command to run")
    expect(page.locator("#hf-job-command")).to_have_class(re.compile(r"is-invalid"))
    screenshot(page, "jobs-command-empty")
    page.fill("#hf-job-command", COMMAND)
    # a bad variable name: the API's field error shows under the field, nothing is submitted
    page.fill("#hf-job-env", "1BAD=x")
    page.click("#hf-job-submit")
    expect(page.locator('[data-error-for="env"]')).to_contain_text("is not a variable name")
    expect(page.locator("#hf-job-env")).to_have_class(re.compile(r"is-invalid"))
    screenshot(page, "jobs-submit-field-error")
    page.fill("#hf-job-env", "GREETING=hello")
    page.click("#hf-job-submit")
    page.wait_for_url(re.compile(r".*/hub/portal/jobs/\d+$"))
    job_id = int(page.url.rsplit("/", 1)[1])

    log = page.locator("#hf-log")
    phase = page.locator("#hf-job-phase")
    # the log streams while the job runs: the first line shows long before the last one is written
    expect(log).to_contain_text("line-1", timeout=SLOW)
    assert "line-6" not in log.inner_text()  # written 10 s after the first: read at once, before anything else
    expect(phase).to_have_text("Running", timeout=10_000)
    expect(page.locator("#hf-log-live")).to_be_visible()
    screenshot(page, "job-running")

    expect(phase).to_have_text("Succeeded", timeout=SLOW)
    expect(log).to_contain_text("line-6")
    expect(log).to_contain_text("greeting=hello")
    expect(page.locator('[data-field="exit_code"]')).to_have_text("0")
    artifact = page.locator("#hf-artifact-list a", has_text="out.txt")
    expect(artifact).to_be_visible(timeout=30_000)
    with page.expect_download() as info:
        artifact.click()
    assert info.value.suggested_filename == "out.txt"
    assert open(info.value.path(), "rb").read() == b"ok\n"
    expect(page.locator("#hf-job-cancel")).to_be_hidden()
    expect(page.locator("#hf-log-live")).to_be_hidden()
    screenshot(page, "job-succeeded")

    # the list shows it finished, and home's Recent activities show the job
    page.goto(portal_hub.base_url + "/hub/portal/jobs")
    row = page.locator(f'#hf-jobs tr[data-id="{job_id}"]')
    expect(row.locator(".hf-phase")).to_have_text("Succeeded")
    expect(row).to_contain_text("count to six")
    screenshot(page, "jobs-list")
    page.goto(portal_hub.base_url + "/hub/home")
    expect(page.locator("#hf-recent")).to_contain_text(f"'count to six' (#{job_id})")

    # another member of the group sees nothing of jane's job, whether page or API
    kim = portal_hub.login("kim", "Kim-pass1")
    assert kim.get(kim.url(f"/hub/portal/jobs/{job_id}")).status_code == 404
    assert kim.api("GET", f"/portal/jobs/{job_id}").status_code == 404
    assert kim.get(kim.url("/hub/portal/jobs/not-a-number")).status_code == 404


def test_a_recurring_job_with_a_cron_expression_shows_its_next_five_runs(page, portal_hub):
    portal_hub.add_user("lou", "Lou-pass1", groups=["beta"])
    ui_login(page, portal_hub, "lou", "Lou-pass1")
    page.goto(portal_hub.base_url + "/hub/portal/schedules")
    page.fill("#hf-sched-name", "weekday report")
    page.fill("#hf-sched-command", "echo report")
    page.select_option("#hf-sched-recurrence", "custom")
    page.fill("#hf-sched-cron", "61 2 * * 1-5")
    page.select_option("#hf-sched-time_zone", "Asia/Tokyo")
    page.select_option("#hf-sched-overlap", "allow")
    page.click("#hf-schedule-submit")
    # under the cron expression typed, naming the cron field and its range (issue 24)
    expect(page.locator('[data-error-for="cron"]')).to_have_text("Recurrence: minute 61 is out of range 0–59")
    expect(page.locator('[data-error-for="cron"]')).to_be_visible()
    expect(page.locator('[data-error-for="recurrence"]')).to_be_empty()
    expect(page.locator("#hf-sched-cron")).to_have_class(re.compile(r"is-invalid"))
    screenshot(page, "schedules-cron-error")
    page.fill("#hf-sched-cron", "30 2 * * 1-5")
    page.click("#hf-schedule-submit")
    page.wait_for_url(re.compile(r".*/hub/portal/schedules/\d+$"))

    runs = page.locator("#hf-next-runs .hf-next-run")
    expect(runs).to_have_count(5)
    for text in runs.all_inner_texts():
        assert re.search(r"^(Mon|Tue|Wed|Thu|Fri) \d{4}-\d\d-\d\d 02:30 JST$", text), text
    expect(page.locator("#hf-schedule")).to_contain_text("Asia/Tokyo")
    screenshot(page, "schedule-page")

    page.goto(portal_hub.base_url + "/hub/portal/schedules")
    row = page.locator("#hf-schedules tr.hf-schedule", has_text="weekday report")
    expect(row).to_contain_text("30 2 * * 1-5")
    expect(row.locator(".hf-next-run")).to_contain_text("02:30 JST")
    screenshot(page, "schedules-list")

    # Edit: a preset recurrence instead of the cron expression (PATCH), the next runs follow
    row.locator("a").click()
    page.click("#hf-schedule-edit")
    page.select_option("#hf-edit-recurrence", "daily")
    page.click("#hf-schedule-save")
    expect(page.locator("#hf-next-runs .hf-next-run").first).to_contain_text("04:00 JST", timeout=20_000)
    expect(page.locator("#hf-next-runs .hf-next-run")).to_have_count(5)

    # Run now: an ordinary job from the template, shown on its own page
    page.click("#hf-schedule-run")
    page.wait_for_url(re.compile(r".*/hub/portal/jobs/\d+$"))
    expect(page.locator("#hf-job-name")).to_have_text("weekday report")
    expect(page.locator("#hf-log")).to_contain_text("report", timeout=SLOW)
    expect(page.locator("#hf-job-phase")).to_have_text("Succeeded", timeout=SLOW)


def test_queued_jobs_show_their_place_and_the_ledger_message_and_can_be_cancelled(page, portal_hub):
    """Group alpha has one core: two half-core jobs run, the third waits in the queue."""
    portal_hub.add_user("quinn", "Quinn-pass1", groups=["alpha"])
    portal_hub.add_user("nogroup", "Nogroup-pass1")
    quinn = portal_hub.login("quinn", "Quinn-pass1")
    ids = []
    for n in range(3):
        r = quinn.api("POST", "/portal/groups/alpha/jobs", json={"name": f"sleeper {n}", "command": "sleep 300"})
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    ui_login(page, portal_hub, "quinn", "Quinn-pass1")
    page.goto(portal_hub.base_url + "/hub/portal/jobs")
    queued = page.locator(f'#hf-jobs tr[data-id="{ids[2]}"]')
    expect(queued.locator(".hf-phase")).to_have_text("Pending")
    expect(queued.locator(".hf-queue")).to_contain_text("#1 in the queue", timeout=SLOW)
    for running in ids[:2]:
        expect(page.locator(f'#hf-jobs tr[data-id="{running}"] .hf-phase')).to_have_text("Running", timeout=SLOW)
    expect(queued.locator(".hf-queue")).not_to_contain_text("Waiting for the runner", timeout=SLOW)
    screenshot(page, "jobs-queue")

    queued.locator(".hf-cancel").click()  # cancelling asks first, as revoking a link does
    confirm = page.locator("#hf-confirm-action")
    expect(confirm).to_be_visible()
    expect(confirm).to_contain_text(f"Cancel job {ids[2]}?")
    expect(confirm).not_to_have_attribute("data-hf-showing", "1")  # fully shown
    screenshot(page, "jobs-cancel-confirm")
    confirm.locator("#hf-confirm-action-cancel").click()  # "Keep it": nothing happens
    expect(confirm).to_be_hidden()
    expect(queued.locator(".hf-phase")).to_have_text("Pending")
    queued.locator(".hf-cancel").click()
    confirm.locator("#hf-confirm-action-ok").click()
    expect(queued.locator(".hf-phase")).to_have_text("Cancelled", timeout=30_000)
    page.goto(portal_hub.base_url + f"/hub/portal/jobs/{ids[0]}")
    page.click("#hf-job-cancel")
    page.click("#hf-confirm-action-ok")
    expect(page.locator("#hf-job-phase")).to_have_text("Cancelled", timeout=SLOW)
    expect(page.locator('[data-field="reason"]')).to_have_text("Cancelled")
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("#hf-job-delete")
    page.wait_for_url("**/hub/portal/jobs")
    expect(page.locator(f'#hf-jobs tr[data-id="{ids[0]}"]')).to_have_count(0)
    assert quinn.api("POST", f"/portal/jobs/{ids[1]}/cancel").status_code == 202

    # a user in no group has no Jobs or Recurring Jobs page
    nobody = portal_hub.login("nogroup", "Nogroup-pass1")
    for path in ("/hub/portal/jobs", "/hub/portal/schedules"):
        r = nobody.get(nobody.url(path))
        assert r.status_code == 404 and "No group available" in r.text
