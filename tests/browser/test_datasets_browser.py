"""Datasets as a person sees them on a real hub with its runner: create a files dataset from the form
(a bad name is told at the field), upload a real file into it (tus, resumable), make a version, grant
it to another group; a git dataset from a local bare repository that the runner clones and, after
Sync now, brings to a new commit; an env dataset whose secret is masked; the job form's and the spawn form's picks."""

import os

import pytest
from playwright.sync_api import expect

from support import (bare_repository, close_dialog, git, let_workloads_pass, screenshot, ui_login, wait_for_server,
                     wait_for_stopped)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def lab(portal_hub):
    portal_hub.add_user("dsb-ann", "Ann-pass1", groups=["dsb-lab"])
    portal_hub.add_user("dsb-bob", "Bob-pass1", groups=["dsb-other"])
    return portal_hub


def test_files_dataset_upload_version_grant(page, lab, tmp_path):
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)[:200]))
    ui_login(page, lab, "dsb-ann", "Ann-pass1")
    page.goto(lab.base_url + "/hub/portal/datasets")
    expect(page.locator("#hf-sidemenu")).to_contain_text("Datasets")
    expect(page.locator("#hf-create-card")).to_be_visible()  # nothing yet: the form is open
    page.fill("#hf-ds-name", "Bad_Name")
    page.click("#hf-dataset-submit")
    expect(page.locator('[data-error="name"]')).to_contain_text("DNS label")
    page.fill("#hf-ds-name", "dsb-photos")
    page.fill("#hf-ds-description", "Holiday photos, **labelled** ([how](https://example.org/labels))")
    page.fill("#hf-ds-tags", "vision, small")
    page.click("#hf-dataset-submit")
    page.wait_for_url("**/hub/portal/datasets/dsb-photos")
    # the description's Markdown is rendered (issue 24), its link made safe
    expect(page.locator("#hf-ds-description strong")).to_have_text("labelled")
    expect(page.locator('#hf-ds-description a[href="https://example.org/labels"]')).to_have_attribute(
        "rel", "noopener noreferrer nofollow")
    expect(page.locator("#hf-files-body")).to_contain_text("This folder is empty.")

    data = tmp_path / "labels.csv"
    data.write_text("file,label\n" + "".join(f"img{i}.jpg,cat\n" for i in range(2000)))
    page.set_input_files("#hf-ds-files", str(data))
    expect(page.locator(".hf-upload-status")).to_have_text("Done", timeout=30_000)
    expect(page.locator("#hf-ds-size")).to_contain_text("in 1 file")
    # the files browser lists what was uploaded (issue 24): a member of the owner group may change it
    row = page.locator('#hf-files-body tr.hf-entry[data-name="labels.csv"]')
    expect(row).to_be_visible()
    expect(row.locator(".hf-rename")).to_have_count(1)
    row.locator(".hf-preview").click()
    expect(page.locator("#hf-preview-body .hf-csv-table")).to_contain_text("img0.jpg")
    close_dialog(page, "#hf-preview-modal")

    page.fill('#hf-version-form [name="note"]', "first labels")
    page.click("#hf-version-submit")
    expect(page.locator(".hf-version")).to_contain_text("dsb-photos@v1")
    page.select_option("#hf-grant-group", "dsb-other")
    page.click("#hf-grant-submit")
    expect(page.locator('.hf-grant-row[data-group="dsb-other"]')).to_contain_text("dsb-other")
    screenshot(page, "dataset-files")
    assert errors == []

    bob = lab.login("dsb-bob", "Bob-pass1")
    seen = bob.api("GET", "/portal/groups/dsb-other/datasets").json()["datasets"]
    assert [(d["name"], d["mode"], d["files"]) for d in seen] == [("dsb-photos", "ro", 1)]

    # the group granted it read-only: the same browser, reading only (nothing offered that would be refused)
    bob_page = page.context.browser.new_page(viewport={"width": 1280, "height": 900})
    ui_login(bob_page, lab, "dsb-bob", "Bob-pass1")
    bob_page.goto(lab.base_url + "/hub/portal/datasets/dsb-photos")
    theirs = bob_page.locator('#hf-files-body tr.hf-entry[data-name="labels.csv"]')
    expect(theirs).to_be_visible()
    expect(theirs.locator(".hf-preview")).to_have_count(1)
    expect(theirs.locator(".hf-download")).to_have_count(1)
    for action in ("rename", "move", "delete", "share"):
        expect(theirs.locator(f".hf-{action}")).to_have_count(0)
    expect(bob_page.locator("#hf-new-folder")).to_have_count(0)
    expect(bob_page.locator("#hf-ds-files-card")).to_contain_text("dsb-other may only read them")
    expect(bob_page.locator("#hf-ds-description strong")).to_have_text("labelled")
    screenshot(bob_page, "dataset-files-read-only")
    bob_page.close()

    page.goto(lab.base_url + "/hub/portal/jobs")
    pick = page.locator('.hf-dataset-pick[data-name="dsb-photos"]')
    expect(pick).to_be_visible()
    pick.locator("select").select_option("1")
    pick.locator("input[type=checkbox]").check()
    page.fill("#hf-job-name", "uses photos")
    page.fill("#hf-job-command", "cat ~/datasets/dsb-photos/labels.csv | wc -l")
    screenshot(page, "job-form-datasets")
    page.click("#hf-job-form button[type=submit]")
    page.wait_for_url("**/hub/portal/jobs/*")
    ann = lab.login("dsb-ann", "Ann-pass1")
    job_id = page.url.rsplit("/", 1)[1]
    stored = ann.api("GET", f"/portal/jobs/{job_id}").json()
    assert (stored["datasets"], stored["env"]) == (["dsb-photos@v1"], {})

    # the spawn form offers the same picks; the notebook's ~/datasets/dsb-photos is then v1
    page.goto(lab.base_url + "/hub/spawn/dsb-ann/dsb-lab")
    pick = page.locator('.hf-dataset-pick[data-name="dsb-photos"]')
    pick.locator("select").select_option("1")
    expect(pick.locator("input[type=checkbox]")).to_be_checked()  # picking a version picks the dataset
    screenshot(page, "spawn-form-datasets")
    assert errors == []
    page.click("#spawn_form button[type=submit]")
    model = wait_for_server(ann, "dsb-ann", "dsb-lab", hub=lab)
    assert model["user_options"]["datasets"] == ["dsb-photos@v1"]
    link = lab.data_dir / "homes" / "dsb-ann" / "datasets" / "dsb-photos"
    assert os.path.realpath(link) == str((lab.data_dir / "datasets" / "dsb-photos" / "v1").resolve())
    assert ann.api("DELETE", "/users/dsb-ann/servers/dsb-lab").status_code in (202, 204)
    wait_for_stopped(ann, "dsb-ann", "dsb-lab")


def test_git_and_env_datasets(page, lab, tmp_path):
    bare, work = bare_repository(tmp_path, "hello\n")
    let_workloads_pass(bare)  # the sync runs as the group's service account, which reads only what others may

    ui_login(page, lab, "dsb-ann", "Ann-pass1")
    page.goto(lab.base_url + "/hub/portal/datasets")
    page.click("#hf-create-toggle")
    page.fill("#hf-ds-name", "dsb-code")
    page.select_option("#hf-ds-kind", "git")
    page.fill("#hf-ds-url", str(bare))
    page.fill("#hf-ds-interval", "0")
    page.click("#hf-dataset-submit")
    page.wait_for_url("**/hub/portal/datasets/dsb-code")
    expect(page.locator("#hf-ds-sync-status")).to_have_text("Synced", timeout=60_000)  # the runner cloned it
    expect(page.locator("#hf-ds-sync-message")).to_have_text("First commit")

    (work / "README.md").write_text("hello again\n")
    git("commit", "-am", "Second commit", cwd=work)
    git("push", "origin", "HEAD:main", cwd=work)
    page.click("#hf-ds-sync")
    expect(page.locator("#hf-ds-sync-message")).to_have_text("Second commit", timeout=60_000)
    expect(page.locator("#hf-ds-commit")).to_have_text(git("rev-parse", "HEAD", cwd=work)[:12])
    # the clone's files, in the browser (without its .git), read-only: a git dataset changes by syncing
    page.reload()
    expect(page.locator('#hf-files-body tr.hf-entry[data-name="README.md"]')).to_be_visible()
    expect(page.locator('#hf-files-body tr.hf-entry[data-name=".git"]')).to_have_count(0)
    expect(page.locator('#hf-files-body tr.hf-entry[data-name="README.md"] .hf-delete')).to_have_count(0)
    screenshot(page, "dataset-git")

    page.goto(lab.base_url + "/hub/portal/datasets")
    page.click("#hf-create-toggle")
    page.fill("#hf-ds-name", "dsb-db")
    page.select_option("#hf-ds-kind", "env")
    page.click("#hf-ds-env-add")
    page.locator("#hf-ds-env .hf-env-key").last.fill("HOST")
    page.locator("#hf-ds-env .hf-env-value").last.fill("db.example.org")
    page.click("#hf-ds-env-add")
    page.locator("#hf-ds-env .hf-env-key").last.fill("PASSWORD")
    page.locator("#hf-ds-env .hf-env-value").last.fill("hunter2-secret")
    page.locator("#hf-ds-env .hf-env-secret").last.check()
    page.click("#hf-dataset-submit")
    page.wait_for_url("**/hub/portal/datasets/dsb-db")
    expect(page.locator("#hf-ds-env")).to_contain_text("DSB_DB_PASSWORD")
    assert "hunter2-secret" not in page.content()
    screenshot(page, "dataset-env")

    page.goto(lab.base_url + "/hub/portal/datasets")
    rows = page.locator(".hf-dataset")
    expect(rows).to_have_count(3)
    screenshot(page, "datasets-list")
