//! The vault against the real OS keyrings: the Secret Service (gnome-keyring on a private D-Bus
//! session bus) and the Linux kernel keyring.
//!
//! The binary is self-contained. Run as `cargo test -p companion-core --test vault_keyring`, it
//! finds itself outside a keyring session (no `COMPANION_KEYRING_SESSION`) and re-executes itself
//! with the same arguments as
//!
//! ```sh
//! dbus-run-session -- sh -c 'export HOME=<fresh dir> XDG_RUNTIME_DIR=$HOME/run; mkdir -m700 $XDG_RUNTIME_DIR;
//!   printf pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null; exec "$0" "$@"' <this binary> <args>
//! ```
//!
//! so the tests never touch the developer's own keyring, and gnome-keyring exits with the bus.
//! Needs `dbus-run-session` and `gnome-keyring-daemon` (Debian: `apt-get install -y gnome-keyring
//! dbus keyutils`, or `cargo xtask setup`). Tests run one after another (they share the bus and
//! the kernel keyring); each removes every entry it creates and checks that it is gone.

// This binary is its own test harness (`harness = false`): reporting on stdout/stderr is its job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use companion_core::vault::{
    CsrRequest, ExpiryStatus, KeyringStore, SecretStore, Sensitive, StoreError, Vault,
    VaultBackend, VaultError,
};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// Set inside the private keyring session; its absence makes the binary re-execute itself.
const SESSION_VAR: &str = "COMPANION_KEYRING_SESSION";
/// The fresh HOME of the session, made and removed by the outer process.
const HOME_VAR: &str = "COMPANION_KEYRING_HOME";
/// Makes the binary run one probe (see [`probe`]) instead of the tests.
const PROBE_ARG: &str = "--keyring-probe";

const TESTS: &[(&str, fn())] = &[
    (
        "secret_service_round_trips_a_4kb_pem_and_binary_data",
        secret_service_round_trips_a_4kb_pem_and_binary_data,
    ),
    (
        "kernel_keyring_round_trips_a_4kb_pem_and_binary_data",
        kernel_keyring_round_trips_a_4kb_pem_and_binary_data,
    ),
    (
        "identities_round_trip_through_each_keyring",
        identities_round_trip_through_each_keyring,
    ),
    (
        "a_pkcs12_archive_round_trips_through_the_secret_service",
        a_pkcs12_archive_round_trips_through_the_secret_service,
    ),
    (
        "an_openssl_pkcs12_archive_imports",
        an_openssl_pkcs12_archive_imports,
    ),
    (
        "a_mismatched_key_is_refused_and_nothing_reaches_the_keyring",
        a_mismatched_key_is_refused_and_nothing_reaches_the_keyring,
    ),
    (
        "a_csr_key_waits_in_the_keyring_for_its_certificate",
        a_csr_key_waits_in_the_keyring_for_its_certificate,
    ),
    (
        "passwords_round_trip_through_each_keyring",
        passwords_round_trip_through_each_keyring,
    ),
    (
        "no_debug_output_shows_a_secret",
        no_debug_output_shows_a_secret,
    ),
    (
        "expiry_is_reported_for_a_passed_in_time",
        expiry_is_reported_for_a_passed_in_time,
    ),
    (
        "auto_selection_prefers_the_secret_service",
        auto_selection_prefers_the_secret_service,
    ),
    (
        "auto_selection_falls_back_to_the_kernel_keyring_without_a_bus",
        auto_selection_falls_back_to_the_kernel_keyring_without_a_bus,
    ),
    (
        "the_async_vault_works_against_the_secret_service",
        the_async_vault_works_against_the_secret_service,
    ),
    (
        "the_kernel_keyring_refuses_oversized_secrets_with_the_limit",
        the_kernel_keyring_refuses_oversized_secrets_with_the_limit,
    ),
    (
        "no_session_bus_is_named_as_the_cause",
        no_session_bus_is_named_as_the_cause,
    ),
    (
        "a_bus_without_a_secrets_provider_is_named_as_the_cause",
        a_bus_without_a_secrets_provider_is_named_as_the_cause,
    ),
    (
        "a_locked_keyring_is_named_as_the_cause",
        a_locked_keyring_is_named_as_the_cause,
    ),
    (
        "missing_tools_are_named_with_the_install_command",
        missing_tools_are_named_with_the_install_command,
    ),
];

fn main() -> ExitCode {
    if !cfg!(target_os = "linux") {
        println!("the keyring tests need the Secret Service and the kernel keyring: Linux only");
        return ExitCode::SUCCESS;
    }
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if let Some(position) = args.iter().position(|a| a == PROBE_ARG) {
        return probe(args.get(position + 1));
    }
    if std::env::var_os(SESSION_VAR).is_none() {
        return reexec_in_keyring_session(&args);
    }
    run_tests(&args)
}

// ---------------------------------------------------------------------------------------------
// The harness: re-execution, a small sequential runner and probes.

fn reexec_in_keyring_session(args: &[OsString]) -> ExitCode {
    for tool in ["dbus-run-session", "gnome-keyring-daemon"] {
        if find_program(tool).is_none() {
            eprintln!(
                "the keyring tests need `{tool}`, which is not installed: run `apt-get install -y gnome-keyring dbus keyutils` (or `cargo xtask setup`) and try again"
            );
            return ExitCode::FAILURE;
        }
    }
    let home = fresh_dir("home");
    let unlock = "set -e; export HOME=\"$COMPANION_KEYRING_HOME\" XDG_RUNTIME_DIR=\"$COMPANION_KEYRING_HOME/run\"; \
                  mkdir -p -m700 \"$XDG_RUNTIME_DIR\"; \
                  printf pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null; \
                  exec \"$0\" \"$@\"";
    let status = Command::new("dbus-run-session")
        .args(["--", "sh", "-c", unlock])
        .arg(std::env::current_exe().expect("the test binary knows its path"))
        .args(args)
        .env(SESSION_VAR, "1")
        .env(HOME_VAR, &home)
        .status();
    let _ = std::fs::remove_dir_all(&home);
    match status {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!("the keyring tests failed inside their D-Bus session ({status})");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("could not start dbus-run-session: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run_tests(args: &[OsString]) -> ExitCode {
    let filters: Vec<String> = args
        .iter()
        .filter_map(|a| a.to_str())
        .filter(|a| !a.starts_with('-'))
        .map(str::to_owned)
        .collect();
    if args.iter().any(|a| a == "--list") {
        TESTS.iter().for_each(|(name, _)| println!("{name}: test"));
        return ExitCode::SUCCESS;
    }
    let selected: Vec<_> = TESTS
        .iter()
        .filter(|(name, _)| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str())))
        .collect();
    println!(
        "\nrunning {} tests (in a private D-Bus session with gnome-keyring)",
        selected.len()
    );
    let failed: Vec<&str> = selected
        .iter()
        .filter_map(|(name, test)| {
            let passed = std::panic::catch_unwind(test).is_ok();
            println!("test {name} ... {}", if passed { "ok" } else { "FAILED" });
            (!passed).then_some(*name)
        })
        .collect();
    let outcome = if failed.is_empty() { "ok" } else { "FAILED" };
    println!(
        "\ntest result: {outcome}. {} passed; {} failed\n",
        selected.len() - failed.len(),
        failed.len()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Opens a store in a child process whose environment the parent chose, and prints the error.
fn probe(backend: Option<&OsString>) -> ExitCode {
    let opened = match backend.and_then(|b| b.to_str()) {
        Some("auto") => KeyringStore::open_auto(&service("probe")),
        Some("kernel-keyring") => {
            KeyringStore::open(VaultBackend::KernelKeyring, &service("probe"))
        }
        _ => KeyringStore::open(VaultBackend::SecretService, &service("probe")),
    };
    match opened {
        Ok(store) => println!("opened the {}", store.backend()),
        Err(error) => println!("{error}"),
    }
    ExitCode::SUCCESS
}

/// Runs a probe and returns what it printed.
fn probe_output(command: &mut Command) -> String {
    let output = command.output().expect("the probe runs");
    assert!(
        output.status.success(),
        "probe failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn self_probe(kind: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("own path"));
    command.args([PROBE_ARG, kind]).stdin(Stdio::null());
    command
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

fn fresh_dir(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("companion-vault-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

// ---------------------------------------------------------------------------------------------
// Fixtures.

/// A keyring service name of this run only, so a crashed run cannot collide with the next.
fn service(test: &str) -> String {
    format!(
        "dev.iotcompanion.companion.test.{}.{test}",
        std::process::id()
    )
}

fn open(backend: VaultBackend, test: &str) -> (Vault, Arc<KeyringStore>) {
    let store = Arc::new(
        KeyringStore::open(backend, &service(test)).unwrap_or_else(|e| panic!("{backend}: {e}")),
    );
    (Vault::with_service(store.clone(), service(test)), store)
}

const BACKENDS: [VaultBackend; 2] = [VaultBackend::SecretService, VaultBackend::KernelKeyring];

fn params(common_name: &str) -> CertificateParams {
    let mut params =
        CertificateParams::new(vec![format!("{common_name}.example")]).expect("params");
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.not_before = rcgen::date_time_ymd(2026, 1, 1);
    params.not_after = rcgen::date_time_ymd(2027, 1, 1);
    params
}

/// A CA, a leaf signed by it and the leaf's key: (ca_pem, leaf_pem, leaf_key).
fn chain(common_name: &str) -> (String, String, KeyPair) {
    let ca_key = KeyPair::generate().expect("ca key");
    let mut ca_params = params("Vault Test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("ca");
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().expect("leaf key");
    let leaf = params(common_name)
        .signed_by(&leaf_key, &issuer)
        .expect("leaf");
    (ca.pem(), leaf.pem(), leaf_key)
}

/// A PEM text of exactly 4096 bytes.
fn pem_4kb() -> String {
    let mut body = String::from("-----BEGIN CERTIFICATE-----\n");
    let end = "-----END CERTIFICATE-----\n";
    let mut n = 0u32;
    while body.len() + end.len() < 4096 {
        let line_len = (4096 - end.len() - body.len()).min(65) - 1;
        let line: String = (0..line_len)
            .map(|i| char::from(b'A' + ((n + i as u32) % 26) as u8))
            .collect();
        body.push_str(&line);
        body.push('\n');
        n += 1;
    }
    body.push_str(end);
    assert_eq!(body.len(), 4096);
    body
}

fn binary_4kb() -> Vec<u8> {
    (0..4096u32).map(|i| (i * 7 % 256) as u8).collect()
}

fn assert_gone(store: &dyn SecretStore, service: &str, account: &str) {
    assert_eq!(
        store.load(service, account).err(),
        Some(StoreError::NoEntry),
        "{account} was left in the keyring"
    );
}

fn assert_identity_gone(store: &dyn SecretStore, service: &str, name: &str) {
    assert_gone(store, service, &format!("identity/{name}/key"));
    assert_gone(store, service, &format!("identity/{name}/chain"));
}

// ---------------------------------------------------------------------------------------------
// Tests.

fn round_trip_raw(backend: VaultBackend, test: &str) {
    let (_, store) = open(backend, test);
    let svc = service(test);
    let pem = pem_4kb();
    store
        .store(&svc, "pem", pem.as_bytes())
        .expect("store the PEM");
    store
        .store(&svc, "binary", &binary_4kb())
        .expect("store binary data");
    assert_eq!(
        store.load(&svc, "pem").expect("load").expose(),
        pem.as_bytes(),
        "{backend}: PEM"
    );
    assert_eq!(
        store.load(&svc, "binary").expect("load").expose(),
        &binary_4kb(),
        "{backend}: binary"
    );
    store.store(&svc, "pem", b"replaced").expect("replace");
    assert_eq!(store.load(&svc, "pem").expect("load").expose(), b"replaced");
    for account in ["pem", "binary"] {
        store.remove(&svc, account).expect("remove");
        assert_gone(store.as_ref(), &svc, account);
        assert_eq!(
            store.remove(&svc, account),
            Err(StoreError::NoEntry),
            "a second remove finds nothing"
        );
    }
}

fn secret_service_round_trips_a_4kb_pem_and_binary_data() {
    round_trip_raw(VaultBackend::SecretService, "raw");
}

fn kernel_keyring_round_trips_a_4kb_pem_and_binary_data() {
    round_trip_raw(VaultBackend::KernelKeyring, "raw");
}

fn identities_round_trip_through_each_keyring() {
    for backend in BACKENDS {
        let (vault, store) = open(backend, "identity");
        let (ca, leaf, key) = chain("sensor-1");
        let input = format!("{leaf}{}{ca}", key.serialize_pem());
        let identity = vault
            .import_identity("sensor-1", input.as_bytes(), None)
            .expect("import");
        let loaded = vault.load_identity(&identity).expect("load");
        assert_eq!(
            loaded.key_pem.expose(),
            &key.serialize_pem(),
            "{backend}: key"
        );
        assert_eq!(
            pem::parse_many(&loaded.cert_pem).expect("chain").len(),
            2,
            "{backend}: leaf + CA"
        );
        assert_eq!(
            vault.describe_identity("sensor-1").expect("describe"),
            identity
        );
        assert_eq!(
            vault.import_identity("sensor-1", input.as_bytes(), None),
            Err(VaultError::IdentityExists("sensor-1".into()))
        );
        vault.remove_identity("sensor-1").expect("remove");
        assert_identity_gone(store.as_ref(), vault.service(), "sensor-1");
        assert_eq!(
            vault.load_identity(&identity).err(),
            Some(VaultError::IdentityNotFound("sensor-1".into()))
        );
    }
}

fn pkcs12(key: &KeyPair, certificates_pem: &[&str], passphrase: &str) -> Vec<u8> {
    use p12_keystore::{KeyStore, KeyStoreEntry, PrivateKeyChain};
    let certificates = certificates_pem.iter().map(|pem| {
        p12_keystore::Certificate::from_der(pem::parse(pem).expect("pem").contents())
            .expect("certificate")
    });
    let private_key = p12_keystore::PrivateKey::from_der(&key.serialize_der()).expect("pkcs8");
    let mut store = KeyStore::new();
    store.add_entry(
        "id",
        KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(
            vec![7u8; 20],
            private_key,
            certificates,
        )),
    );
    store.writer(passphrase).write().expect("pkcs12")
}

fn a_pkcs12_archive_round_trips_through_the_secret_service() {
    let (vault, store) = open(VaultBackend::SecretService, "p12");
    let (ca, leaf, key) = chain("p12-device");
    let archive = pkcs12(&key, &[&leaf, &ca], "s3cret passphrase");
    let wrong = Sensitive::from("nope");
    assert_eq!(
        vault.import_identity("p12", &archive, Some(&wrong)),
        Err(VaultError::WrongPassphrase)
    );
    assert_identity_gone(store.as_ref(), vault.service(), "p12");
    let identity = vault
        .import_identity("p12", &archive, Some(&Sensitive::from("s3cret passphrase")))
        .expect("import");
    assert_eq!(
        vault
            .load_identity(&identity)
            .expect("load")
            .key_pem
            .expose(),
        &key.serialize_pem()
    );
    vault.remove_identity("p12").expect("remove");
    assert_identity_gone(store.as_ref(), vault.service(), "p12");
}

/// Interop with the archives users bring: OpenSSL 3's defaults (AES-256, PBKDF2, SHA-256 MAC)
/// and its `-legacy` 3DES/RC2 form. Skipped, with a note, where `openssl` is not installed.
fn an_openssl_pkcs12_archive_imports() {
    let Some(openssl) = find_program("openssl") else {
        println!("    (skipped: openssl is not installed)");
        return;
    };
    let dir = fresh_dir("openssl");
    let (ca, leaf, key) = chain("openssl-device");
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).expect("write key");
    std::fs::write(dir.join("chain.pem"), format!("{leaf}{ca}")).expect("write chain");
    let (vault, store) = open(VaultBackend::SecretService, "openssl");
    for (name, extra) in [
        ("openssl-default", None),
        ("openssl-legacy", Some("-legacy")),
    ] {
        let archive = openssl_pkcs12(&openssl, &dir, extra);
        let Some(archive) = archive else {
            println!("    (skipped {name}: this openssl cannot write it)");
            continue;
        };
        let identity = vault
            .import_identity(name, &archive, Some(&Sensitive::from("pass")))
            .expect(name);
        assert_eq!(
            identity.certificate.as_ref().map(|c| c.subject.as_str()),
            Some("CN=openssl-device")
        );
        vault.remove_identity(name).expect("remove");
        assert_identity_gone(store.as_ref(), vault.service(), name);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn openssl_pkcs12(openssl: &Path, dir: &Path, extra: Option<&str>) -> Option<Vec<u8>> {
    let out = dir.join("identity.p12");
    let status = Command::new(openssl)
        .args(["pkcs12", "-export", "-passout", "pass:pass", "-inkey"])
        .arg(dir.join("key.pem"))
        .arg("-in")
        .arg(dir.join("chain.pem"))
        .arg("-out")
        .arg(&out)
        .args(extra)
        .stderr(Stdio::null())
        .status()
        .ok()?;
    status
        .success()
        .then(|| std::fs::read(&out).expect("read p12"))
}

fn a_mismatched_key_is_refused_and_nothing_reaches_the_keyring() {
    for backend in BACKENDS {
        let (vault, store) = open(backend, "mismatch");
        let (_, leaf, _) = chain("owner");
        let stranger = KeyPair::generate().expect("key");
        let input = format!("{leaf}{}", stranger.serialize_pem());
        let error = vault
            .import_identity("mixed", input.as_bytes(), None)
            .expect_err("refused");
        assert_eq!(
            error.to_string(),
            "the key does not match the certificate",
            "{backend}"
        );
        assert_identity_gone(store.as_ref(), vault.service(), "mixed");
    }
}

fn a_csr_key_waits_in_the_keyring_for_its_certificate() {
    for backend in BACKENDS {
        let (vault, store) = open(backend, "csr");
        let (pending, csr_pem) = vault
            .generate_csr("thing-1", &CsrRequest::new("thing-1"))
            .expect("csr");
        assert!(pending.is_pending());
        let ca_key = KeyPair::generate().expect("ca key");
        let mut ca_params = params("CSR CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let issuer = Issuer::new(ca_params, ca_key);
        let issued = rcgen::CertificateSigningRequestParams::from_pem(&csr_pem)
            .expect("csr parses")
            .signed_by(&issuer)
            .expect("signed")
            .pem();
        let installed = vault
            .install_certificate("thing-1", issued.as_bytes())
            .expect("install");
        assert!(!installed.is_pending(), "{backend}");
        assert!(vault.load_identity(&installed).is_ok());
        vault.remove_identity("thing-1").expect("remove");
        assert_identity_gone(store.as_ref(), vault.service(), "thing-1");
    }
}

fn passwords_round_trip_through_each_keyring() {
    for backend in BACKENDS {
        let (vault, store) = open(backend, "password");
        vault
            .store_password("broker", &Sensitive::from("pässwörd ✓"))
            .expect("store");
        assert_eq!(
            vault.load_password("broker").expect("load").expose(),
            "pässwörd ✓",
            "{backend}"
        );
        vault.remove_password("broker").expect("remove");
        assert_gone(store.as_ref(), vault.service(), "password/broker");
    }
}

fn no_debug_output_shows_a_secret() {
    let (vault, store) = open(VaultBackend::SecretService, "debug");
    let (ca, leaf, key) = chain("debug");
    let key_line = key
        .serialize_pem()
        .lines()
        .nth(1)
        .expect("base64 line")
        .to_owned();
    let identity = vault
        .import_identity(
            "debug",
            format!("{leaf}{ca}{}", key.serialize_pem()).as_bytes(),
            None,
        )
        .expect("import");
    let loaded = vault.load_identity(&identity).expect("load");
    vault
        .store_password("token", &Sensitive::from("tok-en-123"))
        .expect("store");
    let token = vault.load_password("token").expect("load");
    let raw = store.load(vault.service(), "password/token").expect("raw");
    for output in [
        format!("{vault:?}"),
        format!("{store:?}"),
        format!("{identity:?}"),
        format!("{loaded:?}"),
        format!("{token:?} {token}"),
        format!("{raw:?}"),
        serde_json::to_string(&identity).expect("json"),
    ] {
        assert!(
            !output.contains(&key_line) && !output.contains("PRIVATE KEY"),
            "key leaked: {output}"
        );
        assert!(!output.contains("tok-en-123"), "token leaked: {output}");
    }
    vault.remove_identity("debug").expect("remove");
    vault.remove_password("token").expect("remove");
    assert_identity_gone(store.as_ref(), vault.service(), "debug");
    assert_gone(store.as_ref(), vault.service(), "password/token");
}

fn expiry_is_reported_for_a_passed_in_time() {
    let (vault, store) = open(VaultBackend::SecretService, "expiry");
    let (ca, leaf, key) = chain("expiring");
    let identity = vault
        .import_identity(
            "expiring",
            format!("{leaf}{ca}{}", key.serialize_pem()).as_bytes(),
            None,
        )
        .expect("import");
    let not_after = 1_798_761_600u64; // 2027-01-01T00:00:00Z
    let at = |days_before: i64| {
        UNIX_EPOCH + Duration::from_secs((not_after as i64 - days_before * 86_400) as u64)
    };
    assert_eq!(
        identity.expiry_status(at(45)),
        Some(ExpiryStatus::Valid { days_left: 45 })
    );
    assert_eq!(
        identity.expiry_status(at(30)),
        Some(ExpiryStatus::ExpiresSoon { days_left: 30 })
    );
    assert_eq!(
        identity.expiry_status(at(-3)),
        Some(ExpiryStatus::Expired { days_ago: 3 })
    );
    vault.remove_identity("expiring").expect("remove");
    assert_identity_gone(store.as_ref(), vault.service(), "expiring");
}

fn auto_selection_prefers_the_secret_service() {
    let store = KeyringStore::open_auto(&service("auto")).expect("a store is usable");
    assert_eq!(store.backend(), VaultBackend::SecretService);
    assert_gone(&store, &service("auto"), "vault-probe");
}

fn auto_selection_falls_back_to_the_kernel_keyring_without_a_bus() {
    let mut probe = self_probe("auto");
    probe.env(
        "DBUS_SESSION_BUS_ADDRESS",
        "unix:path=/nonexistent/companion-bus",
    );
    assert_eq!(probe_output(&mut probe), "opened the kernel keyring");
}

fn the_async_vault_works_against_the_secret_service() {
    let (vault, store) = open(VaultBackend::SecretService, "async");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let vault = companion_core::vault::AsyncVault::new(vault);
    runtime.block_on(async {
        vault
            .store_password("a".into(), Sensitive::from("b"))
            .await
            .expect("store");
        assert_eq!(
            vault
                .load_password("a".into())
                .await
                .expect("load")
                .expose(),
            "b"
        );
        vault.remove_password("a".into()).await.expect("remove");
    });
    assert_gone(store.as_ref(), vault.blocking().service(), "password/a");
}

fn the_kernel_keyring_refuses_oversized_secrets_with_the_limit() {
    let (_, store) = open(VaultBackend::KernelKeyring, "oversized");
    let svc = service("oversized");
    let error = store
        .store(&svc, "big", &vec![b'x'; 32_768])
        .expect_err("too large for the kernel keyring");
    assert!(error.to_string().contains("32767 bytes"), "{error}");
    store
        .store(&svc, "big", &vec![b'x'; 32_767])
        .expect("the largest secret that fits");
    store.remove(&svc, "big").expect("remove");
    assert_gone(store.as_ref(), &svc, "big");
}

fn no_session_bus_is_named_as_the_cause() {
    let text = probe_output(self_probe("secret-service").env(
        "DBUS_SESSION_BUS_ADDRESS",
        "unix:path=/nonexistent/companion-bus",
    ));
    assert!(text.starts_with("there is no D-Bus session bus"), "{text}");
    assert!(text.contains("dbus-run-session"), "{text}");
}

fn a_bus_without_a_secrets_provider_is_named_as_the_cause() {
    let dir = fresh_dir("empty-bus");
    let config = dir.join("bus.conf");
    std::fs::write(
        &config,
        format!(
            "<busconfig><type>session</type><listen>unix:path={}</listen><auth>EXTERNAL</auth>\
             <policy context=\"default\"><allow send_destination=\"*\" eavesdrop=\"true\"/>\
             <allow eavesdrop=\"true\"/><allow own=\"*\"/></policy></busconfig>",
            dir.join("bus").display()
        ),
    )
    .expect("bus config");
    let mut daemon = Command::new("dbus-daemon")
        .arg(format!("--config-file={}", config.display()))
        .args(["--nofork", "--print-address=1"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("dbus-daemon starts");
    let address = read_line(daemon.stdout.as_mut().expect("stdout"));
    let text =
        probe_output(self_probe("secret-service").env("DBUS_SESSION_BUS_ADDRESS", address.trim()));
    let _ = daemon.kill();
    let _ = daemon.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        text.starts_with("no Secret Service provider is running"),
        "{text}"
    );
}

fn a_locked_keyring_is_named_as_the_cause() {
    // A new session bus where D-Bus starts gnome-keyring on demand, but no login keyring was
    // created or unlocked: the store opens, and the first write is refused.
    let home = fresh_dir("locked-home");
    let text = probe_output(
        Command::new("dbus-run-session")
            .arg("--")
            .arg(std::env::current_exe().expect("own path"))
            .args([PROBE_ARG, "secret-service"])
            .env("HOME", &home)
            .env("XDG_RUNTIME_DIR", &home)
            .stdin(Stdio::null()),
    );
    let _ = std::fs::remove_dir_all(&home);
    assert!(text.contains("keyring is locked"), "{text}");
}

fn missing_tools_are_named_with_the_install_command() {
    let output = Command::new(std::env::current_exe().expect("own path"))
        .env_remove(SESSION_VAR)
        .env("PATH", "/nonexistent")
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "a missing tool fails the run");
    assert!(
        stderr.contains("need `dbus-run-session`")
            && stderr.contains("apt-get install -y gnome-keyring dbus keyutils"),
        "{stderr}"
    );
}

fn read_line(stream: &mut impl std::io::Read) -> String {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while stream.read(&mut byte).expect("read") == 1 && byte[0] != b'\n' {
        line.push(byte[0]);
    }
    String::from_utf8(line).expect("utf-8 address")
}
