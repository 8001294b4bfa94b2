//! `companion cert`: client certificates with their private keys in the OS keyring.
//!
//! Keys and certificate chains go to the keyring through the engine's vault; the CLI's
//! database indexes what the certificates say about themselves
//! ([`companion_core::profiles::Identities`]), so `cert list` and `cert show` never read a
//! secret. No command prints a private key.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use clap::{Args, Subcommand, ValueEnum};
use companion_core::profiles::Identities;
use companion_core::vault::{
    AsyncVault, CsrRequest, DEFAULT_SERVICE, ExpiryStatus, IdentityRef, KeyAlgorithm, KeyringStore,
    SecretStore, Sensitive, StoreError, Vault, VaultBackend,
};
use serde_json::{Value, json};

use crate::profile::{DataArgs, profiles_error};
use crate::{CliError, output};

/// Arguments of `companion cert`.
#[derive(Debug, Args)]
pub struct CertArgs {
    #[command(subcommand)]
    action: Action,
    #[command(flatten)]
    data: DataArgs,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Import a certificate and its private key (PEM, or PKCS#12) into the OS keyring.
    Import {
        /// The name to keep it under (letters, digits, '-', '_', '.').
        name: String,
        /// A PEM file (certificate, key and chain in any order) or a PKCS#12 (.p12/.pfx) file.
        file: PathBuf,
        /// Read the PKCS#12 passphrase from standard input.
        #[arg(long)]
        passphrase_stdin: bool,
        /// Print the imported identity as one line of JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the stored identities; `!` marks those expiring within 30 days, expired or pending.
    List {
        /// Print one JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Show an identity's certificate: subject, issuer, AWS certificate id, validity.
    Show {
        /// The identity.
        name: String,
        /// Print one line of JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove an identity's key and certificate from the keyring.
    Remove {
        /// The identity.
        name: String,
    },
    /// Create a key in the keyring and print a certificate signing request (PEM) for it.
    Csr {
        /// The name to keep the new identity under.
        name: String,
        /// The subject's common name (for AWS IoT devices, usually the thing name).
        #[arg(long)]
        cn: String,
        /// The subject's organization.
        #[arg(long)]
        org: Option<String>,
    },
    /// Install the certificate issued for a CSR made with `cert csr` (or a renewal).
    Install {
        /// The identity the CSR was made for.
        name: String,
        /// The issued certificate (and chain), PEM.
        file: PathBuf,
        /// Print the identity as one line of JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Which secret store holds keys and passwords.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum KeyringChoice {
    /// The first usable store: on Linux the Secret Service, else the kernel keyring.
    #[default]
    Auto,
    /// The freedesktop Secret Service (gnome-keyring, KWallet, KeePassXC).
    SecretService,
    /// The Linux kernel keyring (forgotten at reboot).
    Kernel,
}

/// Runs `companion cert …`.
pub async fn run(args: CertArgs) -> Result<(), CliError> {
    let store = args.data.open_store().await?;
    let identities = Identities::new(store.clone(), args.data.vault());
    let result = act(args.action, &identities).await;
    store.close().await;
    result
}

async fn act(action: Action, identities: &Identities) -> Result<(), CliError> {
    match action {
        Action::Import {
            name,
            file,
            passphrase_stdin,
            json,
        } => import(identities, &name, &file, passphrase_stdin, json).await,
        Action::List { json } => list(identities, json).await,
        Action::Show { name, json } => {
            let identity = identities.get(&name).await.map_err(profiles_error)?;
            print_identity(&identity, json);
            Ok(())
        }
        Action::Remove { name } => {
            identities.remove(&name).await.map_err(profiles_error)?;
            output::line(&format!("Removed {name} from the keyring."));
            Ok(())
        }
        Action::Csr { name, cn, org } => csr(identities, &name, cn, org).await,
        Action::Install { name, file, json } => {
            let pem = read_file(&file, "certificate")?;
            let identity = identities
                .install_certificate(&name, pem)
                .await
                .map_err(profiles_error)?;
            print_identity(&identity, json);
            Ok(())
        }
    }
}

async fn import(
    identities: &Identities,
    name: &str,
    file: &Path,
    passphrase_stdin: bool,
    json: bool,
) -> Result<(), CliError> {
    let bytes = read_file(file, "identity file")?;
    let passphrase = passphrase_stdin.then(read_secret_line).transpose()?;
    let identity = identities
        .import(name, bytes, passphrase)
        .await
        .map_err(profiles_error)?;
    print_identity(&identity, json);
    Ok(())
}

async fn list(identities: &Identities, json: bool) -> Result<(), CliError> {
    let all = identities.list().await.map_err(profiles_error)?;
    let now = SystemTime::now();
    if json {
        output::json(&Value::Array(
            all.iter().map(|i| identity_json(i, now)).collect(),
        ));
        return Ok(());
    }
    if all.is_empty() {
        output::line("No identities yet: import one with `companion cert import <name> <file>`.");
    }
    for identity in &all {
        output::line(&list_line(identity, now));
    }
    Ok(())
}

async fn csr(
    identities: &Identities,
    name: &str,
    common_name: String,
    organization: Option<String>,
) -> Result<(), CliError> {
    let mut request = CsrRequest::new(common_name);
    request.organization = organization;
    let (_, csr) = identities
        .generate_csr(name, request)
        .await
        .map_err(profiles_error)?;
    output::line(csr.trim_end());
    output::error(&format!(
        "the key of {name} stays in the keyring; once the CA has issued the certificate, run `companion cert install {name} <file>`"
    ));
    Ok(())
}

fn list_line(identity: &IdentityRef, now: SystemTime) -> String {
    let status = identity.expiry_status(now);
    let marker = if status.is_none_or(ExpiryStatus::needs_attention) {
        '!'
    } else {
        ' '
    };
    let (expires, subject) = identity.certificate.as_ref().map_or_else(
        || ("-".to_owned(), "(waiting for its certificate)".to_owned()),
        |c| (date(c.not_after), c.subject.clone()),
    );
    format!(
        "{marker} {:<24} {:<12} {expires:<10}  {subject}  — {}",
        identity.name,
        algorithm_label(identity.key_algorithm),
        status_text(status, &identity.name)
    )
}

fn print_identity(identity: &IdentityRef, json: bool) {
    let now = SystemTime::now();
    if json {
        output::json(&identity_json(identity, now));
        return;
    }
    let field = |label: &str, value: &str| output::line(&format!("{label:<16}{value}"));
    field("name", &identity.name);
    field("key", &algorithm_label(identity.key_algorithm));
    if let Some(certificate) = &identity.certificate {
        field("subject", &certificate.subject);
        field("issuer", &certificate.issuer);
        field("certificate id", &certificate.fingerprint_sha256);
        field("serial", &certificate.serial);
        field("valid from", &date_time(certificate.not_before));
        field("valid until", &date_time(certificate.not_after));
    }
    let status = identity.expiry_status(now);
    let marker = if status.is_none_or(ExpiryStatus::needs_attention) {
        "! "
    } else {
        ""
    };
    field(
        "status",
        &format!("{marker}{}", status_text(status, &identity.name)),
    );
}

fn identity_json(identity: &IdentityRef, now: SystemTime) -> Value {
    let status = identity.expiry_status(now);
    let certificate = identity.certificate.as_ref().map(|c| {
        json!({
            "subject": c.subject,
            "issuer": c.issuer,
            "fingerprintSha256": c.fingerprint_sha256,
            "serial": c.serial,
            "notBefore": date_time(c.not_before),
            "notAfter": date_time(c.not_after),
        })
    });
    json!({
        "name": identity.name,
        "keyAlgorithm": algorithm_label(identity.key_algorithm),
        "pending": identity.is_pending(),
        "certificate": certificate,
        "status": status.map(status_code),
        "warning": status.is_none_or(ExpiryStatus::needs_attention),
        "message": status_text(status, &identity.name),
    })
}

fn status_code(status: ExpiryStatus) -> &'static str {
    match status {
        ExpiryStatus::NotYetValid { .. } => "not_yet_valid",
        ExpiryStatus::Valid { .. } => "valid",
        ExpiryStatus::ExpiresSoon { .. } => "expires_soon",
        ExpiryStatus::Expired { .. } => "expired",
    }
}

fn status_text(status: Option<ExpiryStatus>, name: &str) -> String {
    status.map_or_else(
        || format!("waiting for the certificate issued for its CSR: `companion cert install {name} <file>`"),
        |status| status.to_string(),
    )
}

fn algorithm_label(algorithm: KeyAlgorithm) -> String {
    match algorithm {
        KeyAlgorithm::EcdsaP256 => "ECDSA P-256",
        KeyAlgorithm::EcdsaP384 => "ECDSA P-384",
        KeyAlgorithm::Ed25519 => "Ed25519",
        KeyAlgorithm::Rsa => "RSA",
    }
    .to_owned()
}

/// `YYYY-MM-DD` (UTC) of Unix seconds.
pub(crate) fn date(unix: i64) -> String {
    let (year, month, day) = civil_from_days(unix.div_euclid(86_400));
    format!("{year:04}-{month:02}-{day:02}")
}

/// `YYYY-MM-DD HH:MM:SS UTC` of Unix seconds.
fn date_time(unix: i64) -> String {
    let seconds = unix.rem_euclid(86_400);
    format!(
        "{} {:02}:{:02}:{:02} UTC",
        date(unix),
        seconds / 3600,
        seconds % 3600 / 60,
        seconds % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Reads a whole file, naming it in the error.
pub fn read_file(path: &Path, what: &str) -> Result<Vec<u8>, CliError> {
    std::fs::read(path)
        .map_err(|e| CliError::Failed(format!("cannot read the {what} at {}: {e}", path.display())))
}

/// Reads one secret line from standard input (without its line ending), never echoing it.
pub fn read_secret_line() -> Result<Sensitive<String>, CliError> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::Failed(format!("cannot read standard input: {e}")))?;
    let secret = Sensitive::new(line.trim_end_matches(['\n', '\r']).to_owned());
    wipe(&mut line);
    Ok(secret)
}

/// Overwrites a buffer that held a secret before it is freed (`Sensitive` wipes its own copy).
fn wipe(text: &mut String) {
    let len = text.len();
    text.clear();
    text.extend(std::iter::repeat_n('\0', len));
}

/// The vault over the chosen OS keyring, opened on first use: commands that need no secret
/// (listing, connecting without a key) work on machines without a usable keyring.
pub fn open_vault(choice: KeyringChoice) -> AsyncVault {
    let store = LazyKeyring {
        choice,
        opened: OnceLock::new(),
    };
    AsyncVault::new(Vault::new(Arc::new(store)))
}

/// A [`KeyringStore`] opened on the first call.
#[derive(Debug)]
struct LazyKeyring {
    choice: KeyringChoice,
    opened: OnceLock<Result<KeyringStore, StoreError>>,
}

impl LazyKeyring {
    fn opened(&self) -> Result<&KeyringStore, StoreError> {
        self.opened
            .get_or_init(|| open_keyring(self.choice))
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl SecretStore for LazyKeyring {
    fn store(&self, service: &str, account: &str, secret: &[u8]) -> Result<(), StoreError> {
        self.opened()?.store(service, account, secret)
    }

    fn load(&self, service: &str, account: &str) -> Result<Sensitive<Vec<u8>>, StoreError> {
        self.opened()?.load(service, account)
    }

    fn remove(&self, service: &str, account: &str) -> Result<(), StoreError> {
        self.opened()?.remove(service, account)
    }

    fn backend(&self) -> VaultBackend {
        self.opened()
            .map_or(VaultBackend::SecretService, SecretStore::backend)
    }
}

fn open_keyring(choice: KeyringChoice) -> Result<KeyringStore, StoreError> {
    match choice {
        KeyringChoice::Auto => KeyringStore::open_auto(DEFAULT_SERVICE),
        KeyringChoice::SecretService => {
            KeyringStore::open(VaultBackend::SecretService, DEFAULT_SERVICE)
        }
        KeyringChoice::Kernel => KeyringStore::open(VaultBackend::KernelKeyring, DEFAULT_SERVICE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_printed_in_utc_on_the_gregorian_calendar() {
        let table = [
            (0, "1970-01-01 00:00:00 UTC"),
            (951_782_400, "2000-02-29 00:00:00 UTC"),
            (1_798_761_599, "2026-12-31 23:59:59 UTC"),
            (-1, "1969-12-31 23:59:59 UTC"),
        ];
        for (unix, expected) in table {
            assert_eq!(date_time(unix), expected, "{unix}");
        }
    }

    #[test]
    fn a_pending_identity_is_marked_and_says_how_to_finish() {
        let pending = IdentityRef {
            name: "dev-1".into(),
            key_algorithm: KeyAlgorithm::EcdsaP256,
            certificate: None,
        };
        let line = list_line(&pending, SystemTime::now());
        assert!(line.starts_with('!'), "{line}");
        assert!(line.contains("companion cert install dev-1"), "{line}");
    }
}
