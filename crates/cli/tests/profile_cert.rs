//! `companion cert` and `companion profile` as a technician runs them, against the real kernel
//! keyring (`COMPANION_KEYRING=kernel`: it needs no D-Bus session, and the vault joins a session
//! keyring of its own, see recipe-core §1), each test with its own data directory.
//!
//! Every keyring entry a test creates has a name unique to the run and is removed by the
//! test's [`Scratch`] guard, also when an assertion fails. The SQLite files are scanned for
//! private keys and passwords at the end.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on the first surprise"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

use companion_core::vault::{Vault, VaultBackend, VaultError};
use rcgen::{CertificateParams, DnType, KeyPair};
use serde_json::Value;
use sha2::{Digest, Sha256};

mod common;

use common::COMPANION;

/// A test's data directory and the keyring entries it made; removes both when dropped.
struct Scratch {
    dir: PathBuf,
    suffix: String,
    identities: Vec<String>,
    profiles: Vec<String>,
}

impl Scratch {
    fn new(test: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let suffix = format!("{}-{nanos:08x}", std::process::id());
        let dir = std::env::temp_dir().join(format!("companion-profile-cert-{test}-{suffix}"));
        std::fs::create_dir_all(&dir).unwrap();
        Self {
            dir,
            suffix,
            identities: Vec::new(),
            profiles: Vec::new(),
        }
    }

    /// A name unique to this run; removed from the keyring at the end.
    fn identity(&mut self, base: &str) -> String {
        let name = format!("t-{base}-{}", self.suffix);
        self.identities.push(name.clone());
        name
    }

    /// A profile name unique to this run; removed (with its password) at the end.
    fn profile(&mut self, base: &str) -> String {
        let name = format!("{base}-{}", self.suffix);
        self.profiles.push(name.clone());
        name
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_with_stdin(args, "")
    }

    fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        common::output_with_stdin(self.command(args), stdin)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(COMPANION);
        command
            .args(args)
            .env("COMPANION_DATA_DIR", &self.dir)
            .env("COMPANION_KEYRING", "kernel")
            .env_remove("COMPANION_SANDBOX_DIR");
        command
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Every byte of the CLI's SQLite files (database, WAL and shared memory).
    fn database_bytes(&self) -> Vec<u8> {
        ["companion.db", "companion.db-wal", "companion.db-shm"]
            .iter()
            .filter_map(|file| std::fs::read(self.dir.join(file)).ok())
            .flatten()
            .collect()
    }
}

impl Drop for Scratch {
    /// Removes the keyring entries through the vault itself, so that a test that failed half
    /// way (a profile still naming an identity, a damaged database) leaves nothing behind.
    fn drop(&mut self) {
        if let Ok(vault) = Vault::open(Some(VaultBackend::KernelKeyring)) {
            for identity in &self.identities {
                let _ = vault.remove_identity(identity);
            }
            for profile in &self.profiles {
                let _ = vault.remove_password(&format!("profile.{profile}"));
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn succeeded(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed ({:?}): {}{}",
        output.status.code(),
        stdout(output),
        stderr(output)
    );
}

fn json(output: &Output) -> Value {
    serde_json::from_str(&stdout(output))
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(output)))
}

/// A self-signed certificate valid for `days` more days: (certificate PEM, key PEM, DER).
fn certificate(common_name: &str, days: i64) -> (String, String, Vec<u8>) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.not_before = rcgen::date_time_ymd(2025, 1, 1);
    let (year, month, day) = date_in(days);
    params.not_after = rcgen::date_time_ymd(year, month, day);
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem(), cert.der().to_vec())
}

/// Today plus `days`, as (year, month, day) in UTC.
fn date_in(days: i64) -> (i32, u8, u8) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let z = i64::try_from(now).unwrap() / 86_400 + days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        i32::try_from(year).unwrap(),
        u8::try_from(month).unwrap(),
        u8::try_from(day).unwrap(),
    )
}

fn import(scratch: &Scratch, name: &str, pem: &str) -> Output {
    let file = scratch.file(&format!("{name}.pem"), pem);
    scratch.run(&["cert", "import", name, file.to_str().unwrap()])
}

#[test]
fn certificates_are_imported_listed_shown_and_removed_through_the_keyring() {
    let mut scratch = Scratch::new("certs");
    let sensor = scratch.identity("sensor");
    let (cert_pem, key_pem, der) = certificate("sensor-cli", 365);
    let imported = import(&scratch, &sensor, &format!("{cert_pem}{key_pem}"));
    succeeded(&imported, "cert import");
    let fingerprint = hex::encode(Sha256::digest(&der));
    assert!(
        stdout(&imported).contains(&fingerprint),
        "the import shows the certificate id: {}",
        stdout(&imported)
    );

    let shown = json(&scratch.run(&["cert", "show", &sensor, "--json"]));
    assert_eq!(
        shown["certificate"]["fingerprintSha256"], fingerprint,
        "the certificate id is the SHA-256 of the DER: {shown}"
    );
    assert_eq!(shown["certificate"]["subject"], "CN=sensor-cli", "{shown}");
    assert_eq!(shown["keyAlgorithm"], "ECDSA P-256", "{shown}");
    assert_eq!(shown["status"], "valid", "{shown}");
    let text = stdout(&scratch.run(&["cert", "show", &sensor]));
    assert!(text.contains("certificate id  "), "{text}");
    assert!(
        !text.contains("PRIVATE KEY"),
        "show never prints the key: {text}"
    );

    let soon = scratch.identity("soon");
    let (soon_cert, soon_key, _) = certificate("soon-cli", 10);
    succeeded(
        &import(&scratch, &soon, &format!("{soon_key}{soon_cert}")),
        "import",
    );
    let listed = stdout(&scratch.run(&["cert", "list"]));
    let line = |name: &str| {
        listed
            .lines()
            .find(|line| line.contains(name))
            .unwrap_or_else(|| panic!("{name} is listed: {listed}"))
            .to_owned()
    };
    assert!(
        line(&soon).starts_with('!'),
        "expiring within 30 days is marked: {listed}"
    );
    assert!(line(&soon).contains("renew it soon"), "{listed}");
    assert!(
        line(&sensor).starts_with(' '),
        "a valid certificate is not: {listed}"
    );
    let as_json = json(&scratch.run(&["cert", "list", "--json"]));
    let soon_json = as_json
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == soon.as_str())
        .unwrap();
    assert_eq!(soon_json["status"], "expires_soon", "{as_json}");
    assert_eq!(soon_json["warning"], true, "{as_json}");

    let bytes = scratch.database_bytes();
    assert!(!bytes.is_empty(), "the database exists");
    assert!(
        !bytes.windows(11).any(|w| w == b"PRIVATE KEY"),
        "no private key in the SQLite files"
    );

    for name in [&sensor, &soon] {
        succeeded(&scratch.run(&["cert", "remove", name]), "cert remove");
        let gone = scratch.run(&["cert", "show", name]);
        assert_eq!(
            gone.status.code(),
            Some(6),
            "a removed identity is not found"
        );
    }
    assert_eq!(
        json(&scratch.run(&["cert", "list", "--json"])),
        Value::Array(vec![])
    );
}

#[test]
fn a_key_that_does_not_match_its_certificate_is_refused_with_the_vaults_sentence() {
    let mut scratch = Scratch::new("mismatch");
    let name = scratch.identity("mismatch");
    let (cert_pem, _, _) = certificate("one", 365);
    let (_, other_key, _) = certificate("two", 365);
    let refused = import(&scratch, &name, &format!("{cert_pem}{other_key}"));
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("the key does not match the certificate"),
        "the vault's sentence: {}",
        stderr(&refused)
    );
    let show = scratch.run(&["cert", "show", &name]);
    assert_eq!(
        show.status.code(),
        Some(6),
        "nothing was stored: {}",
        stderr(&show)
    );
    assert!(
        stderr(&show).contains(&format!("no identity named \"{name}\"")),
        "{}",
        stderr(&show)
    );
}

#[test]
fn profiles_are_added_listed_used_and_removed() {
    let mut scratch = Scratch::new("profiles");
    let identity = scratch.identity("aws");
    let (cert_pem, key_pem, _) = certificate("thing-1", 365);
    succeeded(
        &import(&scratch, &identity, &format!("{cert_pem}{key_pem}")),
        "import",
    );
    let aws = scratch.profile("aws");
    let broker = scratch.profile("broker");
    let local = scratch.profile("local");

    let bad = scratch.run(&[
        "profile",
        "add",
        &aws,
        "--aws",
        "--endpoint",
        "iot.example.com",
        "--identity",
        &identity,
    ]);
    assert_eq!(bad.status.code(), Some(1), "{}", stderr(&bad));
    assert!(
        stderr(&bad).contains(
            "the endpoint \"iot.example.com\" is not an AWS IoT ATS data endpoint: use the `<prefix>-ats.iot.<region>.amazonaws.com` address"
        ),
        "the profile's sentence: {}",
        stderr(&bad)
    );
    let endpoint = "abc123example-ats.iot.eu-west-1.amazonaws.com";
    let add_aws = [
        "profile",
        "add",
        &aws,
        "--aws",
        "--endpoint",
        endpoint,
        "--identity",
        &identity,
        "--port",
        "443",
        "--thing",
        "thing-1",
    ];
    succeeded(&scratch.run(&add_aws), "profile add --aws");
    let again = scratch.run(&add_aws);
    assert_eq!(again.status.code(), Some(4), "a duplicate is refused");
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
    let missing = scratch.run(&[
        "profile",
        "add",
        "nokey",
        "--aws",
        "--endpoint",
        endpoint,
        "--identity",
        "t-absent",
    ]);
    assert_eq!(missing.status.code(), Some(6), "{}", stderr(&missing));
    assert!(
        stderr(&missing).contains("companion cert import t-absent"),
        "{}",
        stderr(&missing)
    );

    let password = format!("pw-{}", scratch.suffix);
    let add_broker = scratch.run_with_stdin(
        &[
            "profile",
            "add",
            &broker,
            "--mqtt",
            "--host",
            "broker.example.com",
            "--tls",
            "--username",
            "tech",
            "--password-stdin",
        ],
        &format!("{password}\n"),
    );
    succeeded(&add_broker, "profile add --mqtt");
    succeeded(
        &scratch.run(&["profile", "add", &local, "--sandbox"]),
        "profile add --sandbox",
    );

    succeeded(&scratch.run(&["profile", "use", &aws]), "profile use");
    let listed = json(&scratch.run(&["profile", "list", "--json"]));
    let active: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["active"] == true)
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        active,
        [aws.as_str()],
        "the used profile is active: {listed}"
    );
    let aws_json = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == aws.as_str())
        .unwrap();
    assert_eq!(
        aws_json["profile"]["target"]["transport"]["kind"], "mtls443_alpn",
        "{listed}"
    );
    let text = stdout(&scratch.run(&["profile", "list"]));
    assert!(
        text.lines().any(|l| l.starts_with('*') && l.contains(&aws)),
        "`*` marks the active profile: {text}"
    );
    assert!(
        text.contains("mqtts://broker.example.com:8883 as tech"),
        "{text}"
    );

    let in_use = scratch.run(&["cert", "remove", &identity]);
    assert_eq!(
        in_use.status.code(),
        Some(4),
        "an identity in use stays: {}",
        stderr(&in_use)
    );
    assert!(stderr(&in_use).contains(&aws), "{}", stderr(&in_use));

    let unknown = scratch.run(&["profile", "use", "nope"]);
    assert_eq!(unknown.status.code(), Some(6));
    assert!(
        stderr(&unknown).contains("no profile named \"nope\""),
        "{}",
        stderr(&unknown)
    );

    let bytes = scratch.database_bytes();
    assert!(
        !bytes
            .windows(password.len())
            .any(|w| w == password.as_bytes()),
        "the broker password is not in the SQLite files"
    );
    assert!(
        !bytes.windows(11).any(|w| w == b"PRIVATE KEY"),
        "no key either"
    );

    for name in [&aws, &broker, &local] {
        succeeded(&scratch.run(&["profile", "remove", name]), "profile remove");
    }
    assert_eq!(
        json(&scratch.run(&["profile", "list", "--json"])),
        Value::Array(vec![])
    );
    let vault = Vault::open(Some(VaultBackend::KernelKeyring)).unwrap();
    assert_eq!(
        vault.load_password(&format!("profile.{broker}")).err(),
        Some(VaultError::PasswordNotFound(format!("profile.{broker}"))),
        "removing the profile removed its password from the keyring"
    );
}

fn doctor(scratch: &Scratch, sandbox_dir: &Path, profile: Option<&str>) -> Value {
    let dir = sandbox_dir.to_str().unwrap();
    let mut args = vec!["doctor", "--json", "--data-dir", dir];
    if let Some(profile) = profile {
        args.extend(["--profile", profile]);
    }
    let output = scratch.run(&args);
    succeeded(&output, "doctor");
    json(&output)
}

#[test]
fn saved_profiles_connect_to_the_sandbox_with_keys_and_passwords_from_the_keyring() {
    let mut scratch = Scratch::new("doctor");
    let sandbox = common::start_in(scratch.dir.join("sandbox"), &[]);
    let endpoints = &sandbox.endpoints;
    let plain = scratch.profile("sandbox");
    succeeded(
        &scratch.run(&["profile", "add", &plain, "--sandbox"]),
        "profile add",
    );
    let finding = doctor(&scratch, &sandbox.data_dir, Some(&plain));
    assert_eq!(finding["ok"], true, "{finding}");
    assert_eq!(
        finding["target"],
        format!("127.0.0.1:{}", endpoints["plain"]["port"]),
        "the plain listener: {finding}"
    );

    // A key made in the keyring, its CSR signed by the sandbox's CA, then used over mTLS.
    let identity = scratch.identity("device");
    let csr = scratch.run(&["cert", "csr", &identity, "--cn", "cli-device"]);
    succeeded(&csr, "cert csr");
    let ca = companion_sandbox::ca::LocalCa::load_or_create(&sandbox.data_dir).unwrap();
    let issued = ca.sign_csr_pem(&stdout(&csr)).unwrap();
    let file = scratch.file("issued.pem", &issued);
    succeeded(
        &scratch.run(&["cert", "install", &identity, file.to_str().unwrap()]),
        "cert install",
    );
    let mutual = scratch.profile("sandbox-mtls");
    succeeded(
        &scratch.run(&[
            "profile",
            "add",
            &mutual,
            "--sandbox",
            "--identity",
            &identity,
        ]),
        "profile add --identity",
    );
    succeeded(&scratch.run(&["profile", "use", &mutual]), "profile use");
    let finding = doctor(&scratch, &sandbox.data_dir, None);
    assert_eq!(
        finding["ok"], true,
        "the active profile connects over mTLS: {finding}"
    );
    assert_eq!(
        finding["target"],
        format!("localhost:{}", endpoints["mtls"]["port"]),
        "the mutual-TLS listener: {finding}"
    );
    let sandbox_dir = sandbox.data_dir.to_str().unwrap();
    // The Shadow service answers through the active profile's mTLS session: the document, or
    // "no shadow" while the simulated plug has not reported yet.
    let shadow = scratch.run(&["shadow", "get", "plug-0001", "--data-dir", sandbox_dir]);
    let answered = shadow.status.success() || stderr(&shadow).contains("No shadow exists");
    assert!(
        answered,
        "shadow get: {}{}",
        stdout(&shadow),
        stderr(&shadow)
    );

    // A broker profile whose password comes from the keyring (the sandbox's plain listener
    // takes any credentials); once the password is gone, the profile cannot be resolved.
    let broker = scratch.profile("broker");
    let port = endpoints["plain"]["port"].to_string();
    let add = scratch.run_with_stdin(
        &[
            "profile",
            "add",
            &broker,
            "--mqtt",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--username",
            "tech",
            "--password-stdin",
        ],
        "secret\n",
    );
    succeeded(&add, "profile add --mqtt");
    assert_eq!(
        doctor(&scratch, &sandbox.data_dir, Some(&broker))["ok"],
        true
    );
    Vault::open(Some(VaultBackend::KernelKeyring))
        .unwrap()
        .remove_password(&format!("profile.{broker}"))
        .unwrap();
    let missing = scratch.run(&["doctor", "--profile", &broker]);
    assert_eq!(missing.status.code(), Some(6), "{}", stderr(&missing));
    assert!(
        stderr(&missing).contains(&format!("no password named \"profile.{broker}\"")),
        "{}",
        stderr(&missing)
    );

    let bytes = scratch.database_bytes();
    assert!(
        !bytes.windows(11).any(|w| w == b"PRIVATE KEY"),
        "no key in SQLite"
    );
    assert!(
        !bytes.windows(6).any(|w| w == b"secret"),
        "no password in SQLite"
    );
}
