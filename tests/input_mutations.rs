//! Damaged copies of the files people edit by hand (policies, answers files, a pinned runbook)
//! are reported, never a panic.
//!
//! Each case starts from a shipped file and breaks it the way hands and editors do: a line
//! deleted, doubled, moved or re-indented, a value replaced by one of the wrong kind, the file
//! cut short, a few bytes overwritten. The loaders must return, whatever they make of it.

#![allow(clippy::unwrap_used)]

use custos::engine::answers::Answers;
use custos::runbook::parse_pinned;
use proptest::prelude::*;
use std::path::{Path, PathBuf};

/// Values of every kind the formats do not expect somewhere.
const WRONG_VALUES: &[&str] = &[
    "~",
    "[]",
    "{}",
    "-1",
    "99999999999999999999",
    "3.5e400",
    "true",
    "\"\\0\"",
    "&anchor x",
    "*anchor",
    "!!binary aGk=",
    "\"{{\"",
    "2026-13-45",
    "P-1D",
    ":",
    "- -",
    "{ person: nobody, passphrase_env: NOPE }",
    "[{ x: [1, 2] }]",
];

/// One way of breaking a text.
#[derive(Clone, Debug)]
enum Damage {
    DeleteLine(usize),
    DoubleLine(usize),
    SwapLines(usize, usize),
    Indent(usize, usize),
    ReplaceValue(usize, usize),
    CutAt(usize),
    OverwriteByte(usize, u8),
}

fn damage() -> impl Strategy<Value = Damage> {
    let line = 0usize..10_000;
    prop_oneof![
        line.clone().prop_map(Damage::DeleteLine),
        line.clone().prop_map(Damage::DoubleLine),
        (line.clone(), line.clone()).prop_map(|(a, b)| Damage::SwapLines(a, b)),
        (line.clone(), 1usize..8).prop_map(|(a, width)| Damage::Indent(a, width)),
        (line.clone(), 0..WRONG_VALUES.len()).prop_map(|(a, v)| Damage::ReplaceValue(a, v)),
        (0usize..100_000).prop_map(Damage::CutAt),
        (0usize..100_000, any::<u8>()).prop_map(|(at, byte)| Damage::OverwriteByte(at, byte)),
    ]
}

/// `text` with every damage applied in turn.
fn apply(text: &str, damages: &[Damage]) -> String {
    let mut text = text.to_owned();
    for damage in damages {
        let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
        let count = lines.len();
        match *damage {
            Damage::DeleteLine(line) => {
                lines.remove(line % count);
            }
            Damage::DoubleLine(line) => {
                let copy = lines[line % count].clone();
                lines.insert(line % count, copy);
            }
            Damage::SwapLines(a, b) => lines.swap(a % count, b % count),
            Damage::Indent(line, width) => {
                lines[line % count].insert_str(0, &" ".repeat(width));
            }
            Damage::ReplaceValue(line, value) => {
                let line = &mut lines[line % count];
                if let Some((key, _)) = line.split_once(':') {
                    *line = format!("{key}: {}", WRONG_VALUES[value]);
                }
            }
            Damage::CutAt(at) => {
                let at = at % (text.len() + 1);
                let at = (0..=at).rev().find(|&i| text.is_char_boundary(i)).unwrap();
                text.truncate(at);
                continue;
            }
            Damage::OverwriteByte(at, byte) => {
                let mut bytes = text.into_bytes();
                if !bytes.is_empty() {
                    let at = at % bytes.len();
                    bytes[at] = byte;
                }
                text = String::from_utf8_lossy(&bytes).into_owned();
                continue;
            }
        }
        text = lines.join("\n");
    }
    text
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shipped policy files, as paths relative to `policies/`.
fn policy_files() -> Vec<PathBuf> {
    let root = repo().join("policies");
    let mut files = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path
                .extension()
                .is_some_and(|ext| ext == "yaml" || ext == "hbs")
            {
                files.push(path.strip_prefix(&root).unwrap().to_path_buf());
            }
        }
    }
    files.sort();
    files
}

/// Copies `from` into `to`, recursively.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// Every shipped answers file of the drills.
fn answers_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for runbook in std::fs::read_dir(repo().join("tests/drills")).unwrap() {
        for file in std::fs::read_dir(runbook.unwrap().path()).unwrap() {
            files.push(file.unwrap().path());
        }
    }
    files.sort();
    files
}

fn runbook_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("runbooks"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    files
}

fn damages() -> impl Strategy<Value = Vec<Damage>> {
    proptest::collection::vec(damage(), 1..4)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn a_damaged_answers_file_is_reported_not_a_panic(file in any::<prop::sample::Index>(),
                                                      damages in damages()) {
        let files = answers_files();
        let file = &files[file.index(files.len())];
        let text = std::fs::read_to_string(file).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let damaged = dir.path().join("answers.yaml");
        std::fs::write(&damaged, apply(&text, &damages)).unwrap();

        if let Err(report) = Answers::load(&damaged) {
            prop_assert!(!report.to_string().is_empty());
        }
    }

    #[test]
    fn a_damaged_pinned_runbook_is_reported_not_a_panic(file in any::<prop::sample::Index>(),
                                                        damages in damages()) {
        let files = runbook_files();
        let text = std::fs::read_to_string(&files[file.index(files.len())]).unwrap();

        if let Err(problems) = parse_pinned(&apply(&text, &damages)) {
            prop_assert!(!problems.is_empty());
        }
    }
}

proptest! {
    // Each case checks a whole copy of the policies (templates compiled, references followed),
    // about a second unoptimised.
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn a_damaged_policy_file_is_reported_not_a_panic(file in any::<prop::sample::Index>(),
                                                     damages in damages()) {
        let files = policy_files();
        let file = &files[file.index(files.len())];
        let dir = tempfile::tempdir().unwrap();
        let policies = dir.path().join("policies");
        copy_dir(&repo().join("policies"), &policies);
        let text = std::fs::read_to_string(policies.join(file)).unwrap();
        std::fs::write(policies.join(file), apply(&text, &damages)).unwrap();

        let _problems = custos::policy::check(&policies);
        let _context = custos::policy::context(&policies);
    }
}
