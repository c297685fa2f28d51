"""The collector's web view in a real browser (Debian's Chromium, headless,
driven by Playwright): sign in, open every page of a seeded fleet, act as an
operator, and check that a reader cannot act, that a request without the
CSRF token is refused and that a forged cookie lands on the sign-in page.
Screenshots of each page go to SHOTS for people to look at.

Run by tests/tests/ui_browser.rs with: URL READER OPERATOR SHOTS EVIL_BOARD_ID.
Exit status 0 when every check held; otherwise the first failure is printed.
"""

import os
import sys

from playwright.sync_api import sync_playwright

URL, READER, OPERATOR, SHOTS, EVIL = sys.argv[1:6]
CHROMIUM = os.environ.get("FRONTIER_CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags Chromium keeps trying hosts this
# machine cannot reach; a fresh profile per run.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def shot(page, name):
    path = os.path.join(SHOTS, name + ".png")
    page.screenshot(path=path, full_page=True)
    print("screenshot", path)


def sign_in(browser, token):
    ctx = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    page = ctx.new_page()
    page.goto(URL + "/ui")
    check(page.url.endswith("/ui/login"), "no session: sign-in page, got " + page.url)
    # Pasted with spaces and a line break around it.
    page.fill("input[name=token]", "  " + token + "\n ")
    page.click("button[type=submit]")
    page.wait_for_url(URL + "/ui")
    check(token not in page.url, "the token is in a URL")
    cookies = {c["name"]: c for c in ctx.cookies()}
    c = cookies.get("frontier_ui")
    check(c is not None, "no session cookie")
    check(c["httpOnly"] and c["sameSite"] == "Strict", "cookie flags: %r" % c)
    check(c["value"] != token, "the cookie is the token")
    return ctx, page


def main():
    os.makedirs(SHOTS, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)

        # An operator.
        ctx, page = sign_in(browser, OPERATOR)
        check(page.locator("h1").inner_text() == "Fleet", "the fleet page")
        check(page.locator("#boards tr").count() >= 6, "a row per board")
        # The board named with HTML shows as text, and no script ran.
        check(page.locator("#boards").get_by_text('<script>window.__pwned=1</script> shelf').count() == 1,
              "the board's name shown as text")
        check(page.evaluate("window.__pwned === undefined"), "a script from a board name ran")
        check(page.get_by_text("boards online").count() == 1, "the summary")
        shot(page, "1-fleet")

        page.click("#boards a[href='/ui/boards/%s']" % EVIL)
        check(page.locator("svg").count() >= 3, "the board's plots")
        check(page.locator("#predictors tr").count() >= 2, "a predictor version")
        shot(page, "2-board")
        # Filters: a valid one, then an impossible one.
        page.fill("input[name=threads]", "1")
        page.click("form[action^='/ui/boards'] button[type=submit]")
        check("threads=1" in page.url, "filtered")
        with page.expect_download() as d:
            page.click("text=CSV")
        lines = open(d.value.path()).read().splitlines()
        check(len(lines) > 1 and lines[0].startswith("schema_version"), "the CSV download")
        page.fill("input[name=threads]", "many")
        page.click("form[action^='/ui/boards'] button[type=submit]")
        check("400" in page.locator("h1").inner_text(), "an impossible filter is a 400 page")
        shot(page, "3-bad-filter")

        page.click("header a[href='/ui/frontiers']")
        check(page.locator("section.frontier").count() >= 1, "a frontier")
        check(page.locator("section.frontier svg").count() >= 1, "accuracy against latency")
        shot(page, "4-frontiers")
        # Roll the canary back.
        buttons = page.locator("form[action$='/rollback'] button")
        check(buttons.count() >= 1, "roll-back buttons for an operator")
        buttons.first.click()
        page.wait_for_url("**/ui/frontiers?notice=rolled_back")
        check(page.get_by_text("The version was rolled back.").count() == 1, "the notice")
        shot(page, "5-rolled-back")

        page.click("header a[href='/ui/jobs']")
        n = page.locator("#jobs tr").count()
        page.select_option("select[name=device]", index=1)
        page.fill("input[name=samples]", "7")
        page.click("#create-job button[type=submit]")
        page.wait_for_url("**/ui/jobs?notice=job")
        check(page.locator("#jobs tr").count() == n + 1, "the job listed")
        shot(page, "6-jobs")
        # A request without the CSRF token, with the operator's cookie.
        r = ctx.request.post(URL + "/ui/jobs", form={"device": EVIL, "kind": "profile", "space": "ofa-mbv3", "samples": "3"})
        check(r.status == 403, "no CSRF token: %d" % r.status)
        # Signing out ends the session.
        page.click("header button")
        page.wait_for_url("**/ui/login")
        page.goto(URL + "/ui")
        check(page.url.endswith("/ui/login"), "signed out")
        ctx.close()

        # A reader: sees, cannot act.
        ctx, page = sign_in(browser, READER)
        page.goto(URL + "/ui/frontiers")
        check(page.locator("form[action$='/rollback']").count() == 0, "no buttons for a reader")
        page.goto(URL + "/ui/jobs")
        check(page.locator("#create-job").count() == 0, "no job form for a reader")
        csrf = page.locator("input[name=csrf]").first.get_attribute("value")
        r = ctx.request.post(URL + "/ui/jobs", form={"device": EVIL, "kind": "profile", "space": "ofa-mbv3", "samples": "3", "csrf": csrf})
        check(r.status == 403, "a reader acted: %d" % r.status)
        shot(page, "7-reader-jobs")
        ctx.close()

        # A forged cookie.
        ctx = browser.new_context()
        ctx.add_cookies([{"name": "frontier_ui", "value": "ab" * 32, "url": URL + "/ui"}])
        page = ctx.new_page()
        page.goto(URL + "/ui")
        check("/ui/login" in page.url and page.get_by_text("sign in again").count() == 1,
              "a forged cookie: the sign-in page, got " + page.url)
        shot(page, "8-forged-cookie")
        ctx.close()
        browser.close()
    print("ok")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print("FAILED:", e)
        sys.exit(1)
