//! Wi-Fi networks remembered for provisioning, only when the user asks: the SSIDs in SQLite,
//! each password in the OS keyring (the vault), so a technician provisioning a site's devices
//! types its password once. Nothing is remembered otherwise, and nothing of a password reaches
//! the database, the logs or the window.

use companion_espprov::Passphrase;
use sha2::{Digest, Sha256};
use sqlx::FromRow;

use crate::store::{Store, StoreError};
use crate::vault::{AsyncVault, Sensitive, VaultError};

/// The longest SSID (IEEE 802.11: 32 bytes).
pub const MAX_SSID_LEN: usize = 32;

/// A remembered network, without its password.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct RememberedNetwork {
    /// The SSID.
    pub ssid: String,
    /// When it was remembered, epoch ms.
    pub remembered_ms: i64,
}

/// Why a network could not be remembered, read or forgotten.
#[derive(Debug, thiserror::Error)]
pub enum NetworksError {
    /// The SSID is empty or longer than 32 bytes.
    #[error("“{0}” is not a Wi-Fi network name (1 to 32 bytes)")]
    InvalidSsid(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The keyring failed.
    #[error("the keyring: {0}")]
    Vault(#[from] VaultError),
    /// The network was remembered, but its password is no longer in the keyring (a kernel
    /// keyring forgets at reboot); it is forgotten now.
    #[error("the remembered password for “{0}” is no longer in the keyring: type it again")]
    PasswordMissing(String),
}

impl From<sqlx::Error> for NetworksError {
    fn from(error: sqlx::Error) -> Self {
        Self::Store(StoreError::from(error))
    }
}

/// The remembered networks.
#[derive(Debug, Clone)]
pub struct Networks {
    store: Store,
    vault: AsyncVault,
}

/// The vault name of a network's password: `wifi-` and the first 16 bytes of the SSID's
/// SHA-256, as hex (SSIDs may hold any byte; vault names may not).
fn vault_name(ssid: &str) -> String {
    let digest = Sha256::digest(ssid.as_bytes());
    format!("wifi-{}", hex::encode(&digest[..16]))
}

fn check(ssid: &str) -> Result<(), NetworksError> {
    if ssid.is_empty() || ssid.len() > MAX_SSID_LEN {
        return Err(NetworksError::InvalidSsid(ssid.to_owned()));
    }
    Ok(())
}

impl Networks {
    /// The networks in `store`, their passwords in `vault`.
    pub fn new(store: Store, vault: AsyncVault) -> Self {
        Self { store, vault }
    }

    /// Remembers `ssid` with `passphrase` (replacing an earlier one): the password goes to the
    /// keyring first, so a failure there remembers nothing.
    pub async fn remember(
        &self,
        ssid: &str,
        passphrase: &Passphrase,
        now_ms: i64,
    ) -> Result<(), NetworksError> {
        check(ssid)?;
        let text = String::from_utf8_lossy(passphrase.expose()).into_owned();
        self.vault
            .store_password(vault_name(ssid), Sensitive::new(text))
            .await?;
        sqlx::query(
            "INSERT INTO wifi_networks (ssid, remembered_ms) VALUES (?, ?) \
             ON CONFLICT (ssid) DO UPDATE SET remembered_ms = excluded.remembered_ms",
        )
        .bind(ssid)
        .bind(now_ms)
        .execute(self.store.write())
        .await?;
        Ok(())
    }

    /// The remembered password of `ssid`, if it is remembered. A remembered network whose
    /// password the keyring lost is forgotten and reported as such.
    pub async fn passphrase(&self, ssid: &str) -> Result<Option<Passphrase>, NetworksError> {
        if !self.is_remembered(ssid).await? {
            return Ok(None);
        }
        match self.vault.load_password(vault_name(ssid)).await {
            Ok(text) => Ok(Some(Passphrase::from(text.expose().as_str()))),
            Err(VaultError::PasswordNotFound(_)) => {
                self.forget(ssid).await?;
                Err(NetworksError::PasswordMissing(ssid.to_owned()))
            }
            Err(other) => Err(other.into()),
        }
    }

    /// Whether `ssid` is remembered.
    pub async fn is_remembered(&self, ssid: &str) -> Result<bool, NetworksError> {
        let found: Option<(String,)> =
            sqlx::query_as("SELECT ssid FROM wifi_networks WHERE ssid = ?")
                .bind(ssid)
                .fetch_optional(self.store.read())
                .await?;
        Ok(found.is_some())
    }

    /// The remembered networks, by name.
    pub async fn list(&self) -> Result<Vec<RememberedNetwork>, NetworksError> {
        Ok(sqlx::query_as(
            "SELECT ssid, remembered_ms FROM wifi_networks ORDER BY ssid COLLATE NOCASE",
        )
        .fetch_all(self.store.read())
        .await?)
    }

    /// Forgets `ssid` and its password; `false` when it was not remembered.
    pub async fn forget(&self, ssid: &str) -> Result<bool, NetworksError> {
        match self.vault.remove_password(vault_name(ssid)).await {
            Ok(()) | Err(VaultError::PasswordNotFound(_)) => {}
            Err(other) => return Err(other.into()),
        }
        let removed = sqlx::query("DELETE FROM wifi_networks WHERE ssid = ?")
            .bind(ssid)
            .execute(self.store.write())
            .await?;
        Ok(removed.rows_affected() > 0)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::vault::{MemoryStore, Vault};

    async fn networks() -> (Networks, Arc<MemoryStore>) {
        let store = Store::open_in_memory().await.expect("store");
        let secrets = Arc::new(MemoryStore::new());
        let vault = AsyncVault::new(Vault::new(secrets.clone()));
        (Networks::new(store, vault), secrets)
    }

    #[tokio::test]
    async fn a_remembered_network_keeps_its_password_in_the_keyring_only() {
        let (networks, _secrets) = networks().await;
        networks
            .remember("Workshop", &Passphrase::from("provision-me"), 1)
            .await
            .expect("remembered");
        networks
            .remember("Café ☕ 2.4G", &Passphrase::from("latte"), 2)
            .await
            .expect("any UTF-8 SSID");
        let listed: Vec<String> = networks
            .list()
            .await
            .expect("list")
            .into_iter()
            .map(|n| n.ssid)
            .collect();
        assert_eq!(listed, ["Café ☕ 2.4G", "Workshop"]);
        let password = networks.passphrase("Workshop").await.expect("read");
        assert_eq!(
            password.map(|p| p.expose().to_vec()),
            Some(b"provision-me".to_vec())
        );
        assert!(networks.passphrase("Guest").await.expect("read").is_none());

        // The database holds names, never the password.
        let rows: Vec<(String, i64)> = sqlx::query_as("SELECT * FROM wifi_networks")
            .fetch_all(networks.store.read())
            .await
            .expect("rows");
        assert!(rows.iter().all(|(ssid, _)| !ssid.contains("provision-me")));
    }

    #[tokio::test]
    async fn remembering_again_replaces_and_forgetting_removes_both_halves() {
        let (networks, _secrets) = networks().await;
        networks
            .remember("Workshop", &Passphrase::from("old"), 1)
            .await
            .expect("remembered");
        networks
            .remember("Workshop", &Passphrase::from("new"), 2)
            .await
            .expect("replaced");
        assert_eq!(networks.list().await.expect("list").len(), 1);
        assert_eq!(
            networks
                .passphrase("Workshop")
                .await
                .expect("read")
                .map(|p| p.expose().to_vec()),
            Some(b"new".to_vec())
        );
        assert!(networks.forget("Workshop").await.expect("forgotten"));
        assert!(!networks.forget("Workshop").await.expect("already gone"));
        assert!(
            networks
                .passphrase("Workshop")
                .await
                .expect("read")
                .is_none()
        );
        assert!(
            networks
                .vault
                .load_password(vault_name("Workshop"))
                .await
                .is_err(),
            "the keyring entry is gone too"
        );
    }

    #[tokio::test]
    async fn a_password_the_keyring_lost_is_reported_and_the_network_forgotten() {
        let (networks, secrets) = networks().await;
        networks
            .remember("Workshop", &Passphrase::from("provision-me"), 1)
            .await
            .expect("remembered");
        // The keyring forgets (a reboot, for the kernel keyring).
        let vault = Vault::new(secrets);
        vault
            .remove_password(&vault_name("Workshop"))
            .expect("removed behind the app's back");
        assert!(matches!(
            networks.passphrase("Workshop").await,
            Err(NetworksError::PasswordMissing(ssid)) if ssid == "Workshop"
        ));
        assert!(networks.list().await.expect("list").is_empty(), "forgotten");
    }

    #[tokio::test]
    async fn an_ssid_that_is_not_one_is_refused() {
        let (networks, _secrets) = networks().await;
        for bad in ["", &"x".repeat(33)] {
            assert!(matches!(
                networks.remember(bad, &Passphrase::from("p"), 1).await,
                Err(NetworksError::InvalidSsid(_))
            ));
        }
        assert!(networks.list().await.expect("list").is_empty());
    }
}
