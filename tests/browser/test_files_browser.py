"""Shared Files as a person uses it on a real hub: upload a real file through the page (tus, in
8 MiB chunks) and watch its progress reach 100 %, see it listed, preview it as a table, upload a
folder, make a folder, delete with a confirmation, make a share link and open it in a fresh
browser with nobody logged in, revoke it (410), and the storage quota's refusal in words."""

import csv
import hashlib
import random
import re
import struct
import zipfile
import zlib
from pathlib import Path

import pytest
from playwright.sync_api import expect

from support import close_dialog, screenshot, shown, ui_login

pytestmark = pytest.mark.browser

GROUP = "files"


@pytest.fixture(scope="module")
def team(portal_hub):
    portal_hub.add_user("fran", "Fran-pass1", groups=[GROUP])
    portal_hub.add_user("gus", "Gus-pass1", groups=[GROUP])
    return portal_hub


def big_csv(path: Path, rows: int = 480_000) -> Path:
    """A CSV of some 9 MiB: more than one tus chunk."""
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "city", "temperature"])
        for i in range(rows):
            w.writerow([i, f"city-{i % 97:02d}", f"{(i * 7919) % 400 / 10:.1f}"])
    return path


def png(width: int, height: int) -> bytes:
    """A small red PNG image."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\0" + bytes([200, 30, 30]) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def uploaded(page, path: str, timeout: float = 120_000):
    row = page.locator(f'.hf-upload[data-path="{path}"]')
    expect(row.locator(".hf-upload-status")).to_have_text("100 % · done", timeout=timeout)
    expect(row.locator('[role="progressbar"]')).to_have_attribute("aria-valuenow", "100")
    return row


def test_upload_preview_folders_and_share_links(page, browser, team, tmp_path):
    source = big_csv(tmp_path / "data.csv")
    assert source.stat().st_size > 8 << 20
    fran = team.login("fran", "Fran-pass1")
    ui_login(page, team, "fran", "Fran-pass1")
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)[:300]))
    page.goto(team.base_url + "/hub/portal/files")
    expect(page.locator("#hf-sidemenu a.active")).to_have_text(re.compile("Shared Files"))
    expect(page.locator("#hf-files-empty")).to_be_visible()

    # a real file through the page's file input: tus in chunks, progress to 100 %, then listed
    page.set_input_files("#hf-upload-files", str(source))
    uploaded(page, "data.csv")
    row = page.locator('tr.hf-entry[data-name="data.csv"]')
    expect(row).to_be_visible()
    expect(row.locator(".hf-entry-size")).to_have_text(f"{float(f'{source.stat().st_size / 2**20:.3g}'):g} MiB")
    stored = fran.get(fran.url(f"/hub/api/portal/groups/{GROUP}/files/data.csv"))
    assert stored.status_code == 200 and sha256(stored.content) == sha256(source.read_bytes())

    # preview: the CSV as a table
    row.locator(".hf-open-file").click()
    table = page.locator("#hf-preview-body table.hf-csv-table")
    expect(table.locator("thead th")).to_have_text(["id", "city", "temperature"])
    expect(table.locator("tbody tr").first.locator("td")).to_have_text(["0", "city-00", "0.0"])
    expect(page.locator("#hf-preview-note")).to_contain_text("Only the beginning")
    shown(page, "#hf-preview-modal")
    screenshot(page, "files-preview-csv")
    close_dialog(page, "#hf-preview-modal")

    # a folder with its inner folders, through the folder input (webkitdirectory)
    survey = tmp_path / "survey"
    (survey / "raw").mkdir(parents=True)
    (survey / "README.md").write_text("# Survey\n\nCollected in spring.\n")
    (survey / "chart.png").write_bytes(png(40, 20))
    (survey / "raw" / "answers.txt").write_text("yes\nno\nyes\n")
    page.set_input_files("#hf-upload-folder", str(survey))
    for name in ("survey/README.md", "survey/chart.png", "survey/raw/answers.txt"):
        uploaded(page, name)
    expect(page.locator('tr.hf-entry[data-name="survey"][data-type="folder"]')).to_be_visible()

    # a new folder
    page.click("#hf-new-folder")
    page.fill("#hf-name-input", "results")
    page.click("#hf-name-ok")
    folder = page.locator('tr.hf-entry[data-name="results"][data-type="folder"]')
    expect(folder).to_be_visible()

    # into the uploaded folder: breadcrumbs, text and image previews, rename, move
    page.locator('tr.hf-entry[data-name="survey"] .hf-open-folder').click()
    page.wait_for_url("**/hub/portal/files/survey")
    expect(page.locator("#hf-files-crumbs li")).to_have_text(["Shared Files", "survey"])
    page.locator('tr.hf-entry[data-name="README.md"] .hf-open-file').click()
    expect(page.locator("#hf-preview-body pre.hf-preview-text")).to_contain_text("Collected in spring.")
    close_dialog(page, "#hf-preview-modal")
    page.locator('tr.hf-entry[data-name="chart.png"] .hf-preview').click()
    image = page.locator("#hf-preview-body img.hf-preview-image")
    expect(image).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth === 40", arg=image.element_handle())
    close_dialog(page, "#hf-preview-modal")
    page.locator('tr.hf-entry[data-name="README.md"] .hf-rename').click()
    expect(page.locator("#hf-name-input")).to_have_value("README.md")
    page.fill("#hf-name-input", "ABOUT.md")
    page.click("#hf-name-ok")
    expect(page.locator('tr.hf-entry[data-name="ABOUT.md"]')).to_be_visible()
    expect(page.locator('tr.hf-entry[data-name="README.md"]')).to_have_count(0)
    page.locator('tr.hf-entry[data-name="chart.png"] .hf-move').click()
    expect(page.locator("#hf-name-input")).to_have_value("survey/chart.png")
    page.fill("#hf-name-input", "results/chart.png")
    page.click("#hf-name-ok")
    expect(page.locator('tr.hf-entry[data-name="chart.png"]')).to_have_count(0)
    moved = fran.api("GET", f"/portal/groups/{GROUP}/files/results/")
    assert [e["name"] for e in moved.json()["entries"]] == ["chart.png"]
    page.locator("#hf-files-crumbs a.hf-crumb").click()
    page.wait_for_url(re.compile(r".*/hub/portal/files$"))
    expect(page.locator('tr.hf-entry[data-name="data.csv"]')).to_be_visible()
    screenshot(page, "files-page")

    # a folder downloads as a zip
    with page.expect_download() as got:
        page.locator('tr.hf-entry[data-name="survey"] .hf-download').click()
    assert got.value.suggested_filename == "survey.zip"
    names = set(zipfile.ZipFile(got.value.path()).namelist())
    assert {"ABOUT.md", "raw/", "raw/answers.txt"} <= names and "chart.png" not in names

    # delete asks first; Cancel keeps it, Delete removes it
    confirm = page.locator("#hf-confirm-modal")
    folder.locator(".hf-delete").click()
    expect(page.locator("#hf-confirm-text")).to_contain_text("Delete the folder /results")
    close_dialog(page, "#hf-confirm-modal", ".btn-secondary")
    expect(folder).to_be_visible()
    # a quick hand (or a slow machine): Cancel clicked while the dialog is still opening, which Bootstrap
    # alone ignores, closes it all the same once it has opened
    seen = page.evaluate("""() => new Promise(resolve => {
        const dialog = document.getElementById("hf-confirm-modal");
        const seen = {opening: null, closed: false};
        dialog.addEventListener("hidden.bs.modal", () => resolve({...seen, closed: true}), {once: true});
        setTimeout(() => resolve(seen), 20000);
        document.querySelector('tr.hf-entry[data-name="results"] .hf-delete').click();
        seen.opening = !dialog.classList.contains("show");
        dialog.querySelector(".btn-secondary").click();
    })""")
    assert seen == {"opening": True, "closed": True}, seen
    expect(confirm).to_be_hidden()
    expect(folder).to_be_visible()
    folder.locator(".hf-delete").click()
    page.click("#hf-confirm-ok")
    expect(folder).to_have_count(0)

    # a share link to the file: shown once, opens with nobody logged in, downloads the bytes
    row.locator(".hf-share").click()
    expect(page.locator("#hf-share-path")).to_have_value("/data.csv")
    page.click("#hf-share-create")
    link = page.locator("#hf-share-url")
    expect(link).to_have_value(re.compile(r"/hub/share/[A-Za-z0-9_-]{22}$"))
    url = link.input_value()
    shared = page.locator("#hf-shares-body tr.hf-share-row").first
    expect(shared).to_contain_text("/data.csv")
    expect(shared.locator(".hf-share-state")).to_have_text("active")
    screenshot(page, "files-share-made")

    stranger = browser.new_context(viewport={"width": 1280, "height": 800})
    anon = stranger.new_page()
    anon.set_default_timeout(20_000)
    anon.goto(url)
    expect(anon.locator("#hf-share-name")).to_have_text("data.csv")
    expect(anon.locator("#hf-sidemenu")).to_have_count(0)  # nobody is logged in
    screenshot(anon, "share-file-page")
    with anon.expect_download() as got:
        anon.click("#hf-share-download")
    assert sha256(Path(got.value.path()).read_bytes()) == sha256(source.read_bytes())

    # a folder link with a password: asked first, then the listing
    page.locator('tr.hf-entry[data-name="survey"] .hf-share').click()
    page.fill("#hf-share-password", "tulip-42")
    page.click("#hf-share-create")
    expect(page.locator("#hf-share-url")).not_to_have_value(url)
    folder_url = page.locator("#hf-share-url").input_value()
    anon.goto(folder_url)
    expect(anon.locator("#hf-share-password")).to_be_visible()
    anon.fill("#hf-share-pw", "wrong")
    anon.click("#hf-share-open")
    expect(anon.locator("#hf-share-wrong")).to_have_text("Wrong password.")
    # guessing is throttled, never locked: from the sixth wrong password on, the page says how long to wait
    for i in range(5):
        anon.fill("#hf-share-pw", f"wrong-{i}")
        anon.click("#hf-share-open")
        expect(anon.locator("#hf-share-wrong")).to_contain_text("Wrong password.")
    expect(anon.locator("#hf-share-wrong")).to_have_text(
        "Wrong password. Too many failed sign-in attempts. Try again in 1 second.")
    screenshot(anon, "share-password-throttled")
    anon.wait_for_timeout(1100)  # the wait (1 s) runs from that answer
    anon.fill("#hf-share-pw", "tulip-42")
    anon.click("#hf-share-open")
    expect(anon.locator("#hf-share-listing tr.hf-share-entry")).to_have_count(2)
    anon.locator('tr[data-name="raw"] a').click()
    expect(anon.locator("#hf-share-crumbs li")).to_have_text(["survey", "raw"])
    screenshot(anon, "share-folder-page")

    # revoked: the file link says so (410)
    page.once("dialog", lambda d: d.accept())
    file_link = page.locator('#hf-shares-body tr.hf-share-row:has-text("/data.csv")')
    file_link.locator(".hf-share-revoke").click()
    expect(file_link.locator(".hf-share-state")).to_have_text("revoked")
    response = anon.goto(url)
    assert response.status == 410
    expect(anon.locator("#hf-share-message")).to_have_text("This share link was revoked.")
    screenshot(anon, "share-revoked-410")
    stranger.close()
    assert errors == []


def test_an_interrupted_upload_resumes_where_it_stopped(page, team, tmp_path):
    """The connection drops after the first 8 MiB chunk; the page is reloaded and the same file
    picked again: the upload goes on from where it stopped, 8 MiB or later (no new upload is created), and the file is whole."""
    source = tmp_path / "resume.bin"
    source.write_bytes(random.Random(12).randbytes(20 << 20))
    gus = team.login("gus", "Gus-pass1")
    ui_login(page, team, "gus", "Gus-pass1")
    page.goto(team.base_url + "/hub/portal/files")
    created, offsets = [], []
    page.on("request", lambda r: "/uploads" in r.url and r.method == "POST" and created.append(r.url))
    page.on("request", lambda r: "/uploads/" in r.url and r.method == "PATCH"
            and offsets.append(int(r.headers["upload-offset"])))
    patches = []

    def drop_after_the_first_chunk(route):
        patches.append(route.request.url)
        route.continue_() if len(patches) == 1 else route.abort("connectionreset")

    page.route("**/uploads/*", lambda route: drop_after_the_first_chunk(route) if route.request.method == "PATCH"
               else route.continue_())
    with page.expect_event("requestfailed", lambda r: r.method == "PATCH"):
        with page.expect_response(lambda r: r.request.method == "PATCH" and r.status == 204):
            page.set_input_files("#hf-upload-files", str(source))
    # reloaded while the connection is still down: tus's own retries (1 s, 3 s, ...) would otherwise finish the
    # upload from the old page first on a slow machine, leaving nothing to resume
    page.reload()
    page.unroute("**/uploads/*")
    offsets.clear()
    page.set_input_files("#hf-upload-files", str(source))
    uploaded(page, "resume.bin")
    # resumed, not restarted: from the first chunk on, or later when part of the cut one had arrived
    assert len(created) == 1 and 8 << 20 <= offsets[0] < 20 << 20, (created, offsets)
    stored = gus.get(gus.url(f"/hub/api/portal/groups/{GROUP}/files/resume.bin"))
    assert sha256(stored.content) == sha256(source.read_bytes())
    assert gus.api("DELETE", f"/portal/groups/{GROUP}/files/resume.bin").status_code == 204


def test_the_storage_quota_refuses_in_words(page, team, tmp_path):
    admin = team.admin()
    r = admin.api("PATCH", f"/portal/groups/{GROUP}/policy", json={"quota": {"storage": "10Mi"}})
    assert r.status_code == 200, r.text
    try:
        big = tmp_path / "big.bin"
        big.write_bytes(b"\0" * (11 << 20))
        ui_login(page, team, "gus", "Gus-pass1")
        page.goto(team.base_url + "/hub/portal/files")
        page.set_input_files("#hf-upload-files", str(big))
        row = page.locator('.hf-upload[data-path="big.bin"]')
        expect(row.locator(".hf-upload-status")).to_have_text("Failed")
        message = re.compile(r"Storage: used .* \+ upload 11 MiB > limit 10 MiB \(group files\)")
        expect(row.locator(".hf-upload-error")).to_have_text(message)
        expect(page.locator(".hf-action-error")).to_have_text(message)
        expect(page.locator('tr.hf-entry[data-name="big.bin"]')).to_have_count(0)
        screenshot(page, "files-quota-refused")
    finally:
        admin.api("PATCH", f"/portal/groups/{GROUP}/policy", json={"quota": {"storage": None}})


def test_names_with_dot_dot_are_refused_in_words_at_the_dialog(page, team):
    """Issue 24: a new folder "../escape" was "The request failed (HTTP 404)", "a/../b" silently made "b",
    and a rename to ../../../etc/evil.csv said "to: must not contain '..' components"."""
    fran = team.login("fran", "Fran-pass1")
    assert fran.api("PUT", f"/portal/groups/{GROUP}/files/names.csv", data=b"a,b\n").status_code == 201
    ui_login(page, team, "fran", "Fran-pass1")
    page.goto(team.base_url + "/hub/portal/files")
    error = page.locator("#hf-name-form .hf-form-error")
    for name in ("../escape", "a/../b", ".."):
        page.click("#hf-new-folder")
        shown(page, "#hf-name-modal")
        page.fill("#hf-name-input", name)
        page.click("#hf-name-ok")
        expect(error).to_have_text("Name: '..' is not allowed in a file name")
        if name == "a/../b":
            screenshot(page, "files-new-folder-refused")
        close_dialog(page, "#hf-name-modal")
    listed = [e["name"] for e in fran.api("GET", f"/portal/groups/{GROUP}/files/").json()["entries"]]
    assert not {"escape", "a", "b"} & set(listed), listed

    page.locator('tr.hf-entry[data-name="names.csv"] .hf-rename').click()
    shown(page, "#hf-name-modal")
    page.fill("#hf-name-input", "../../../etc/evil.csv")
    page.click("#hf-name-ok")
    expect(error).to_have_text("Name: '..' is not allowed in a file name")
    screenshot(page, "files-rename-refused")
    assert not Path("/etc/evil.csv").exists()
    assert "names.csv" in [e["name"] for e in fran.api("GET", f"/portal/groups/{GROUP}/files/").json()["entries"]]
