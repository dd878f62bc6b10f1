//! The HTML report checked in a real headless browser (Debian's chromium): it renders, it
//! holds every section, and it escapes what people typed.

#![allow(clippy::unwrap_used)]

mod export_common;
mod support;

use std::path::Path;
use std::process::Command;

use export_common::{ANSWERS, Mixed, TRIAGE};

/// Runs chromium headless on `page` with `mode` (`--screenshot=...` or `--dump-dom`).
fn chromium(page: &Path, mode: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let output = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1200,2000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(mode)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs; install it with `apt-get install -y chromium`");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn the_report_of_a_drill_renders_in_chromium_with_every_section() {
    let mixed = Mixed::new();
    let dir = mixed.path("reports");
    let run = mixed.custos(&[
        "export",
        "--format",
        "html",
        "--include-drills",
        "--out-dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let page = dir.join("INC-1.html");

    let png = mixed.path("inc-1.png");
    chromium(&page, &format!("--screenshot={}", png.display()));
    let size = std::fs::metadata(&png).unwrap().len();
    assert!(size > 50_000, "the screenshot is only {size} bytes");

    let dom = chromium(&page, "--dump-dom");
    for expected in [
        "INC-1: Triage a reported smart card problem",
        "DRILL (rehearsal)",
        "card-triage version 1",
        "Chain verified: 14 events. Seal: sealed by the trusted key ed25519:",
        "<svg",
        "Nodes entered are yellow",
        "<li><code>search</code></li>",
        "Detection and analysis",
        "chose `yes`, to `verify`",
        "note: Reported by phone at 03:10",
        "reporter=night guard",
        "No escalation fired: every deadline was met.",
        "<h2>Approvals</h2>",
        "<h2>Notifications</h2>",
        "id=\"custos-manifest\"",
    ] {
        assert!(dom.contains(expected), "the report lacks {expected:?}");
    }
    assert!(
        !dom.contains("external"),
        "the report points outside itself"
    );
    assert!(
        !dom.contains("src=\"http"),
        "the report loads an external asset"
    );

    let real = std::fs::read_to_string(dir.join("INC-2.html")).unwrap();
    assert!(real.contains("REAL INCIDENT"));
}

#[test]
fn what_people_typed_is_escaped_in_the_report() {
    let mixed = Mixed::new();
    let hostile = ANSWERS.replace(
        "Reported by phone at 03:10",
        "<script>document.title='owned'</script><b>bold</b>",
    );
    let answers = mixed.write("hostile.yaml", &hostile);
    let run = mixed.custos(&["run", TRIAGE, "--answers", answers.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);

    let page = mixed.path("inc-5.html");
    let out = page.to_str().unwrap();
    let run = mixed.custos(&[
        "export",
        "--format",
        "html",
        "--incident",
        "INC-5",
        "-o",
        out,
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let source = std::fs::read_to_string(&page).unwrap();
    assert!(source.contains("&lt;script&gt;document.title=&#39;owned&#39;&lt;/script&gt;"));
    assert!(!source.contains("<b>bold</b>"));

    let dom = chromium(&page, "--dump-dom");
    assert!(dom.contains("<title>INC-5: Triage a reported smart card problem</title>"));
}

#[test]
fn a_report_of_an_altered_log_says_verification_failed() {
    let mixed = Mixed::new();
    let connection = rusqlite::Connection::open(mixed.store()).unwrap();
    // Drop the triggers that refuse edits, as someone with write access to the file could.
    let triggers: Vec<String> = connection
        .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for trigger in triggers {
        connection
            .execute(&format!("DROP TRIGGER \"{trigger}\""), [])
            .unwrap();
    }
    connection
        .execute(
            "UPDATE events SET body = replace(body, 'night guard', 'day guard')
             WHERE incident = 2 AND seq = 4",
            [],
        )
        .unwrap();
    drop(connection);

    let page = mixed.path("inc-2.html");
    let out = page.to_str().unwrap();
    let run = mixed.custos(&["export", "--format", "html", "--incident", "2", "-o", out]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let dom = chromium(&page, "--dump-dom");
    assert!(
        dom.contains("VERIFICATION FAILED: event 4: its body was changed after it was written"),
        "{dom}"
    );
}
