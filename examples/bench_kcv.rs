//! KCVs through custos beside the same encryption done by `pkcs11-tool`, on one SoftHSM2 token.
//!
//! `cargo run --release --example bench_kcv [OPS] [ROUNDS]` (defaults 1000 and 3). It makes a
//! throw-away token, then runs it in a child process of itself with `SOFTHSM2_CONF` set (the
//! crate forbids `unsafe`, so it cannot set the variable for itself). Each round times OPS
//! `hsm.kcv` actions through `Hsm::run` in one logged-in session, then OPS `pkcs11-tool
//! --encrypt` invocations of the zero block under the same key; rounds alternate, and the
//! medians are compared, since this machine's timings are noisy.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use custos::hsm::{FixedSecrets, Hsm};
use custos::policy::environment::Environments;
use serde_json::{Map, Value, json};

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const LABEL: &str = "custos-bench";
const PIN: &str = "123456";
const CHILD: &str = "CUSTOS_BENCH_DIR";
const RAW: &str = "CUSTOS_BENCH_RAW";

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let ops: usize = args.first().map_or(Ok(1000), |text| text.parse())?;
    let rounds: usize = args.get(1).map_or(Ok(3), |text| text.parse())?;

    if std::env::var_os(RAW).is_some() {
        return raw(ops);
    }
    match std::env::var(CHILD) {
        Ok(dir) => bench(Path::new(&dir), ops, rounds),
        Err(_) => parent(&args),
    }
}

/// Makes the token and runs this program again with `SOFTHSM2_CONF` pointing at it.
fn parent(args: &[String]) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let tokens = dir.path().join("tokens");
    std::fs::create_dir_all(&tokens)?;
    let config = dir.path().join("softhsm2.conf");
    let text = format!(
        "directories.tokendir = {}\nobjectstore.backend = file\n",
        tokens.display()
    );
    std::fs::write(&config, text)?;

    let made = Command::new("softhsm2-util")
        .args([
            "--init-token",
            "--free",
            "--label",
            LABEL,
            "--so-pin",
            "12345678",
            "--pin",
            PIN,
        ])
        .env("SOFTHSM2_CONF", &config)
        .output()
        .context("softhsm2-util is needed: apt-get install -y softhsm2 opensc")?;
    ensure!(
        made.status.success(),
        "softhsm2-util failed: {}",
        stderr(&made.stderr)
    );

    let status = Command::new(std::env::current_exe()?)
        .args(args)
        .env(CHILD, dir.path())
        .env("SOFTHSM2_CONF", &config)
        .status()?;
    ensure!(status.success(), "the benchmark failed");
    Ok(())
}

fn stderr(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).trim().to_owned()
}

fn bench(dir: &Path, ops: usize, rounds: usize) -> anyhow::Result<()> {
    let yaml = format!(
        "environments:\n  bench:\n    module: {MODULE}\n    token: {{ label: {LABEL} }}\n    \
         pin: {{ env: CUSTOS_DRILL_PIN }}\n    production: false\n"
    );
    let environments = Environments::parse(dir.join("environments.yaml"), &yaml)?;
    let mut secrets = FixedSecrets::new().with_pin("bench", PIN);
    let mut hsm = Hsm::new();
    let mut run = |action: &str, params: &[(&str, Value)]| {
        let params: Map<String, Value> = params
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.clone()))
            .collect();
        let timeout = Duration::from_secs(30);
        hsm.run(action, &params, &environments, &mut secrets, false, timeout)
    };

    let generate = [
        ("environment", json!("bench")),
        ("label", json!("BENCH-KEY")),
        ("id", json!("BE")),
        ("algorithm", json!("aes-128")),
    ];
    let generated = run("hsm.generate", &generate)?;
    let expected = generated["kcv"].as_str().unwrap_or_default().to_owned();

    let zero = dir.join("zero.bin");
    std::fs::write(&zero, [0u8; 16])?;
    let out = dir.join("out.bin");
    let check = pkcs11_tool(&zero, &out)?;
    ensure!(
        check.starts_with(&expected),
        "pkcs11-tool computed {check}, custos {expected}"
    );

    let kcv = [
        ("environment", json!("bench")),
        ("label", json!("BENCH-KEY")),
    ];
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let started = Instant::now();
        for _ in 0..ops {
            let result = run("hsm.kcv", &kcv)?;
            ensure!(
                result["kcv"] == json!(expected),
                "custos returned {result:?}"
            );
        }
        ours.push(started.elapsed());

        let started = Instant::now();
        for _ in 0..ops {
            pkcs11_tool(&zero, &out)?;
        }
        theirs.push(started.elapsed());
        println!(
            "round {round}: custos {:>9.3} ms   pkcs11-tool {:>9.3} ms",
            ms(ours[round - 1]),
            ms(theirs[round - 1])
        );
    }

    let raw = Command::new(std::env::current_exe()?)
        .arg(ops.to_string())
        .env(RAW, "1")
        .output()?;
    ensure!(
        raw.status.success(),
        "the raw module loop failed: {}",
        stderr(&raw.stderr)
    );
    print!("{}", String::from_utf8_lossy(&raw.stdout));

    report("custos hsm.kcv (one session)", &ours, ops);
    report("pkcs11-tool --encrypt", &theirs, ops);
    let ratio = median(&theirs).as_secs_f64() / median(&ours).as_secs_f64();
    println!("ratio: custos is {ratio:.0}x faster (medians of {rounds} rounds of {ops} KCVs)");
    Ok(())
}

/// The module's own cost: the same encryption straight through cryptoki, in a process of its
/// own (a module is initialised once per process), with nothing of custos around it.
fn raw(ops: usize) -> anyhow::Result<()> {
    use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
    use cryptoki::mechanism::Mechanism;
    use cryptoki::object::Attribute;
    use cryptoki::session::UserType;
    use cryptoki::types::AuthPin;

    let context = Pkcs11::new(MODULE)?;
    context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))?;
    let slot = context
        .get_slots_with_token()?
        .into_iter()
        .find(|slot| {
            context
                .get_token_info(*slot)
                .is_ok_and(|info| info.label() == LABEL)
        })
        .context("the bench token is not there")?;
    let session = context.open_rw_session(slot)?;
    session.login(UserType::User, Some(&AuthPin::from(PIN)))?;
    let key = *session
        .find_objects(&[Attribute::Id(vec![0xBE])])?
        .first()
        .context("no key")?;

    let mut times = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        for _ in 0..ops {
            session.encrypt(&Mechanism::AesEcb, key, &[0u8; 16])?;
        }
        times.push(started.elapsed());
    }
    report("the module alone (C_Encrypt)", &times, ops);

    // What every `hsm.kcv` also asks of the module: find the key by its label, as custos does
    // each time, since a handle from an earlier search may name a key destroyed since.
    let label = [Attribute::Label(b"BENCH-KEY".to_vec())];
    let mut times = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        for _ in 0..ops {
            let found = session.find_objects(&label)?;
            let key = *found.first().context("no key labelled BENCH-KEY")?;
            session.encrypt(&Mechanism::AesEcb, key, &[0u8; 16])?;
        }
        times.push(started.elapsed());
    }
    report("the module alone (find + encrypt)", &times, ops);
    drop(session);
    context.finalize()?;
    Ok(())
}

/// Encrypts the zero block under `BENCH-KEY` with pkcs11-tool; returns the result in hex.
fn pkcs11_tool(input: &Path, output: &Path) -> anyhow::Result<String> {
    let done = Command::new("pkcs11-tool")
        .args([
            "--module",
            MODULE,
            "--token-label",
            LABEL,
            "--login",
            "--pin",
            PIN,
        ])
        .args(["--encrypt", "--id", "BE", "-m", "AES-ECB", "--input-file"])
        .arg(input)
        .arg("--output-file")
        .arg(output)
        .output()
        .context("pkcs11-tool is needed: apt-get install -y opensc")?;
    if !done.status.success() {
        bail!("pkcs11-tool failed: {}", stderr(&done.stderr));
    }
    Ok(hex::encode_upper(std::fs::read(output)?))
}

fn median(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();

    let middle = sorted.len() / 2;
    match sorted.len() {
        0 => Duration::ZERO,
        length if length % 2 == 0 => (sorted[middle - 1] + sorted[middle]) / 2,
        _ => sorted[middle],
    }
}

fn ms(time: Duration) -> f64 {
    time.as_secs_f64() * 1000.0
}

fn report(what: &str, times: &[Duration], ops: usize) {
    let per_op = |time: Duration| time.as_secs_f64() * 1e6 / ops as f64;
    let total = median(times);
    let lowest = times.iter().min().copied().unwrap_or_default();
    let highest = times.iter().max().copied().unwrap_or_default();

    println!(
        "{what:<32} median {:>10.3} ms total, {:>9.1} us per KCV ({:.1}..{:.1})",
        ms(total),
        per_op(total),
        per_op(lowest),
        per_op(highest)
    );
}
