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
    let source = std::fs::read_to_string(&page).unwrap();
    let export = mixed.export("inc-1.jsonl", &["--include-drills", "--incident", "1"]);
    let entry = &export_common::manifest(&export)["incidents"][0];
    let seal = &entry["seal"];
    let head_row = format!(
        "<tr><th>Chain head (recomputed)</th><td class=\"mono\">event 14, SHA-256 {}</td></tr>",
        entry["head"]["hash"].as_str().unwrap()
    );
    let signature_row = format!(
        "<tr><th>Seal signature (Ed25519)</th><td class=\"mono\">{}</td></tr>",
        seal["signature"].as_str().unwrap()
    );
    let key_row = format!(
        "<tr><th>Sealing key</th><td class=\"mono\">{}</td></tr>",
        seal["public_key"].as_str().unwrap()
    );
    for expected in [
        "INC-1: Triage a reported smart card problem",
        "DRILL (rehearsal)",
        "card-triage version 1",
        "Chain verified: 14 events. Seal: sealed by the trusted key ed25519:",
        &head_row,
        &signature_row,
        &key_row,
        "<svg",
        "Nodes entered are yellow",
        "<li><code>search</code></li>",
        "Detection and analysis",
        "chose `yes`, to `verify`",
        "note: Reported by phone at 03:10",
        "reporter=night guard",
        "<h2>Deadlines met or missed</h2>",
        "0 met, none missed; as of 2026-01-15 03:00:00 UTC (the last event of the drill).",
        "<h2>Time limits of the runbook's nodes</h2>",
        "The escalation policy this export was made with defines none.",
        "<h2>Escalations fired</h2>",
        "<h2>Approvals</h2>",
        "<h2>Notifications</h2>",
        "id=\"custos-manifest\"",
    ] {
        assert!(dom.contains(expected), "the report lacks {expected:?}");
    }
    assert_self_contained(&source);
    assert_self_contained(&dom);

    let real = std::fs::read_to_string(dir.join("INC-2.html")).unwrap();
    assert!(real.contains("REAL INCIDENT"));
}

/// Fails when `html` could load anything from outside itself: a stylesheet or script linked
/// in, or any `src`, `href`, `url(` or `@import` that names a web address.
fn assert_self_contained(html: &str) {
    let lower = html.to_ascii_lowercase();
    assert!(!lower.contains("<link"), "the report links an outside file");
    assert!(
        !lower.contains("@import"),
        "the report imports a stylesheet"
    );
    assert!(!lower.contains("<iframe"), "the report embeds another page");
    for script in lower.match_indices("<script").map(|(at, _)| &lower[at..]) {
        let tag = &script[..script.find('>').unwrap()];
        assert!(!tag.contains("src"), "the report loads a script: {tag}");
    }
    for opener in ["src=", "href=", "url(", "xlink:href=", "srcset=", "action="] {
        for (at, _) in lower.match_indices(opener) {
            let value = lower[at + opener.len()..]
                .trim_start()
                .trim_start_matches(['"', '\'']);
            for scheme in ["http://", "https://", "//", "ftp://", "file:"] {
                assert!(
                    !value.starts_with(scheme),
                    "the report refers outside itself: {}",
                    &html[at..(at + 80).min(html.len())]
                );
            }
        }
    }
}

#[test]
fn the_self_containment_check_catches_every_kind_of_outside_reference() {
    for page in [
        "<img src=\"https://cdn.example/logo.png\">",
        "<a href='http://example.com'>x</a>",
        "<div style=\"background: url(https://example.com/x.png)\"></div>",
        "<div style=\"background: url( //example.com/x.png)\"></div>",
        "<link rel=\"stylesheet\" href=\"style.css\">",
        "<script src=\"app.js\"></script>",
        "<style>@import 'x.css';</style>",
    ] {
        let caught = std::panic::catch_unwind(|| assert_self_contained(page));
        assert!(caught.is_err(), "not caught: {page}");
    }
    assert_self_contained(
        "<svg xmlns=\"http://www.w3.org/2000/svg\"><a href=\"#INC-1\">x</a></svg>",
    );
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
