//! Keys come to expiry monitoring from the key register: each key that still has an end
//! (activation plus cryptoperiod) is watched with the default bands, checked on several days;
//! deactivated, compromised and destroyed keys are not, and a key the inventory lists again is
//! an error that names where.

// A failed fixture or run should stop the test at once.
#![allow(clippy::unwrap_used)]

mod expiry_common;
mod support;

use expiry_common::{Project, inventory, line, words};

const REGISTER: &str = "\
keys:
  - name: ZMK-A
    purpose: ZMK
    algorithm: aes-256
    environment: drill-primary
    activation: 2027-01-01
    cryptoperiod: P1Y
    state: active
    attributes: { sensitive: true, extractable: true }
  - name: KEK-B
    purpose: KEK
    algorithm: aes-256
    environment: drill-primary
    activation: 2027-06-01
    cryptoperiod: P6M
    state: pre-activation
    attributes: { sensitive: true, extractable: false }
  - name: ZMK-OLD
    purpose: ZMK
    algorithm: aes-256
    environment: drill-primary
    activation: 2026-12-15
    cryptoperiod: P1Y
    state: deactivated
    attributes: { sensitive: true, extractable: true }
  - name: ZMK-LOST
    purpose: ZMK
    algorithm: aes-256
    environment: drill-primary
    activation: 2026-12-01
    cryptoperiod: P1Y
    state: compromised
    attributes: { sensitive: true, extractable: true }
  - name: ZPK-GONE
    purpose: ZPK
    algorithm: aes-128
    environment: drill-primary
    parent: KEK-B
    activation: 2026-12-01
    cryptoperiod: P1Y
    state: destroyed
    attributes: { sensitive: true, extractable: true }
  - name: MAC-UNDATED
    purpose: MAC
    algorithm: aes-128
    environment: drill-primary
    state: active
    attributes: { sensitive: true, extractable: true }
";

fn project() -> Project {
    let project = Project::new();
    project.write("keys.yaml", REGISTER);
    project.write("inventory.yaml", inventory(""));
    project
}

#[test]
fn register_keys_are_alerted_in_each_band_once_and_ended_keys_are_not_watched() {
    let project = project();

    // 2027-09-15: ZMK-A ends 2028-01-01 (108 days), KEK-B 2027-12-01 (77 days).
    let first = project.check("2027-09-15", &[]);
    assert_eq!(first.code, 0, "{first:?}");
    assert_eq!(
        words(line(&first, "ZMK-A")),
        [
            "ZMK-A",
            "key",
            "key register: activated 2027-01-01, cryptoperiod P1Y",
            "2028-01-01 00:00",
            "108",
            "-",
            "-"
        ]
    );
    assert_eq!(
        words(line(&first, "KEK-B"))[2..],
        [
            "key register: activated 2027-06-01, cryptoperiod P6M",
            "2027-12-01 00:00",
            "77",
            "90 (low)",
            "sent now"
        ]
    );
    for ended in ["ZMK-OLD", "ZMK-LOST", "ZPK-GONE", "MAC-UNDATED"] {
        assert!(!first.stdout.contains(ended), "{}", first.stdout);
    }

    // 2027-11-05: ZMK-A enters band 60, KEK-B band 30.
    let second = project.check("2027-11-05", &[]);
    assert_eq!(second.code, 0, "{second:?}");
    assert_eq!(
        words(line(&second, "ZMK-A"))[4..],
        ["57", "60 (medium)", "sent now"]
    );
    assert_eq!(
        words(line(&second, "KEK-B"))[4..],
        ["26", "30 (high)", "sent now"]
    );

    // 2027-11-28: KEK-B is 3 days out, in the last band: the check fails; a second run the
    // same day sends nothing new.
    let last = project.check("2027-11-28", &[]);
    assert_eq!(last.code, 1, "{last:?}");
    assert_eq!(
        words(line(&last, "KEK-B"))[4..],
        ["3", "7 (critical)", "sent now"]
    );
    let again = project.check("2027-11-28", &[]);
    assert_eq!(words(line(&again, "KEK-B"))[6], "sent");

    let subjects = project.mail_subjects();
    assert_eq!(subjects.len(), 4, "{subjects:?}");
    assert!(
        subjects.contains(
            &"[DRILL] Urgent: key `KEK-B` (key register: activated 2027-06-01, cryptoperiod P6M) \
              ends 2027-12-01 00:00 UTC: 3 days left, inside the 7-day band"
                .to_owned()
        ),
        "{subjects:?}"
    );
}

#[test]
fn a_key_in_both_the_register_and_the_inventory_stops_the_check_naming_where() {
    let project = project();
    project.write(
        "inventory.yaml",
        inventory("keys:\n  ZMK-A: { activated: 2027-01-01, cryptoperiod: P1Y }\n"),
    );

    let run = project.check("2027-09-15", &[]);

    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(
        run.stderr,
        format!(
            "{}:8:10: `ZMK-A` is a key of the key register `{}`, which holds its activation and \
             cryptoperiod; remove it here\n    |   ZMK-A: {{ activated: 2027-01-01, cryptoperiod: \
             P1Y }}\n    |          ^\ncustos: the expiry inventory is invalid; nothing was \
             checked\n",
            project.policies().join("inventory.yaml").display(),
            project.policies().join("keys.yaml").display()
        )
    );
}
