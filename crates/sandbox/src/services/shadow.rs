//! The Device Shadow service: `companion_awsiot::shadow::ShadowStore` driven over MQTT, every
//! changed shadow saved to SQLite before its responses are published, so that an accepted
//! update survives a restart.

use companion_awsiot::shadow::{ShadowRequest, ShadowStore};
use tokio::sync::watch;

use super::{ServiceLink, StartError, now, stopped};
use crate::connect::Endpoint;
use crate::db::ShadowDb;

/// The request topics the service subscribes to (classic and named; get, update, delete).
pub fn request_filters() -> Vec<String> {
    ["get", "update", "delete"]
        .iter()
        .flat_map(|op| {
            [
                format!("$aws/things/+/shadow/{op}"),
                format!("$aws/things/+/shadow/name/+/{op}"),
            ]
        })
        .collect()
}

/// The shadow service, ready to run.
pub(crate) struct ShadowService {
    link: ServiceLink,
    store: ShadowStore,
    db: ShadowDb,
}

impl ShadowService {
    /// Loads every stored shadow and connects to `endpoint`.
    pub(crate) async fn start(endpoint: &Endpoint, db: ShadowDb) -> Result<Self, StartError> {
        let mut store = ShadowStore::default();
        for (key, shadow) in db.load_all().await? {
            store.insert(key, shadow);
        }
        let link = ServiceLink::connect("shadow", endpoint, request_filters()).await?;
        Ok(Self { link, store, db })
    }

    /// Answers requests until `shutdown` says stop.
    pub(crate) async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        loop {
            let publish = tokio::select! {
                _ = stopped(&mut shutdown) => break,
                publish = self.link.next_publish() => publish,
            };
            if let Some(publish) = publish {
                self.handle(&publish.topic, &publish.payload).await;
                self.link.done(publish);
            }
        }
        self.link.close().await;
    }

    async fn handle(&mut self, topic: &str, payload: &[u8]) {
        let Some(request) = ShadowRequest::from_publish(topic, payload) else {
            return;
        };
        let time = now();
        let before = self.revision(&request);
        let messages = self.store.handle(&request, time);
        if self.revision(&request) != before
            && let Some(shadow) = self.store.shadow(&request.thing, &request.shadow)
            && let Err(error) = self
                .db
                .save(&request.thing, &request.shadow, shadow, time.millis())
                .await
        {
            // The store has the change but the disk does not: say so loudly, answer anyway.
            tracing::error!(%error, thing = %request.thing, "shadow not persisted");
        }
        self.link.publish_all(messages);
    }

    /// The shadow's (version, exists): every accepted update or delete changes it, a
    /// rejection or a get does not.
    fn revision(&self, request: &ShadowRequest) -> Option<(u64, bool)> {
        self.store
            .shadow(&request.thing, &request.shadow)
            .map(|s| (s.version(), s.exists()))
    }
}
