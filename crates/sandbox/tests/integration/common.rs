//! Test helpers: a temporary data directory, a sandbox on free ports, and an MQTT client that
//! waits for events with deadlines.

use std::path::{Path, PathBuf};
use std::time::Duration;

use companion_sandbox::connect::{Endpoint, client};
use companion_sandbox::{Sandbox, SandboxConfig};
use rumqttc::{AsyncClient, Event, Incoming, QoS};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// How long any expected event may take.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// A data directory removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("sandbox-it-{name}-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("create the temporary directory");
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A sandbox with the embedded broker on free loopback ports.
pub async fn sandbox(dir: &TempDir) -> Sandbox {
    Sandbox::start(SandboxConfig::new(dir.path()))
        .await
        .expect("the sandbox starts")
}

/// A unique thing name for one test.
pub fn thing(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

enum Note {
    Publish(String, Vec<u8>),
    SubAck,
    Error(String),
}

/// An MQTT client whose event loop runs in a task; messages are kept until asked for.
pub struct TestClient {
    client: AsyncClient,
    notes: mpsc::UnboundedReceiver<Note>,
    kept: Vec<(String, Vec<u8>)>,
}

impl TestClient {
    /// Connects and waits for the CONNACK; `Err` with the connection error otherwise.
    pub async fn connect(client_id: &str, endpoint: &Endpoint) -> Result<Self, String> {
        let (client, mut eventloop) =
            client(client_id, endpoint, 100).map_err(|e| e.to_string())?;
        let (tx, notes) = mpsc::unbounded_channel();
        let (connected_tx, connected) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let mut connected_tx = Some(connected_tx);
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Incoming::ConnAck(_))) => {
                        if let Some(c) = connected_tx.take() {
                            let _ = c.send(Ok(()));
                        }
                    }
                    Ok(Event::Incoming(Incoming::Publish(p))) => {
                        let _ = tx.send(Note::Publish(p.topic.clone(), p.payload.to_vec()));
                    }
                    Ok(Event::Incoming(Incoming::SubAck(_))) => {
                        let _ = tx.send(Note::SubAck);
                    }
                    Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => return,
                    Ok(_) => {}
                    Err(error) => {
                        if let Some(c) = connected_tx.take() {
                            let _ = c.send(Err(error.to_string()));
                        }
                        let _ = tx.send(Note::Error(error.to_string()));
                        return;
                    }
                }
            }
        });
        match tokio::time::timeout(DEADLINE, connected).await {
            Ok(Ok(Ok(()))) => Ok(Self {
                client,
                notes,
                kept: Vec::new(),
            }),
            Ok(Ok(Err(error))) => Err(error),
            _ => Err("no CONNACK within the deadline".to_owned()),
        }
    }

    /// Subscribes (QoS 1) and waits for the SUBACK.
    pub async fn subscribe(&mut self, filters: &[String]) {
        let filters = filters
            .iter()
            .map(|f| rumqttc::SubscribeFilter::new(f.clone(), QoS::AtLeastOnce));
        self.client
            .subscribe_many(filters)
            .await
            .expect("queue the subscription");
        let until = Instant::now() + DEADLINE;
        loop {
            match tokio::time::timeout_at(until, self.notes.recv()).await {
                Ok(Some(Note::SubAck)) => return,
                Ok(Some(Note::Publish(topic, payload))) => self.kept.push((topic, payload)),
                Ok(Some(Note::Error(error))) => {
                    panic!("connection failed while subscribing: {error}")
                }
                _ => panic!("no SUBACK within {DEADLINE:?}"),
            }
        }
    }

    /// Publishes (QoS 1).
    pub async fn publish(&self, topic: &str, payload: impl Into<Vec<u8>>) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload.into())
            .await
            .expect("queue the publish");
    }

    /// The next message on `topic` (raw bytes), waiting up to [`DEADLINE`].
    pub async fn expect_raw(&mut self, topic: &str) -> Vec<u8> {
        if let Some(i) = self.kept.iter().position(|(t, _)| t == topic) {
            return self.kept.remove(i).1;
        }
        let until = Instant::now() + DEADLINE;
        loop {
            match tokio::time::timeout_at(until, self.notes.recv()).await {
                Ok(Some(Note::Publish(t, payload))) if t == topic => return payload,
                Ok(Some(Note::Publish(t, payload))) => self.kept.push((t, payload)),
                Ok(Some(Note::SubAck)) => {}
                Ok(Some(Note::Error(error))) => {
                    panic!("connection failed waiting for {topic}: {error}")
                }
                _ => panic!(
                    "nothing on {topic} within {DEADLINE:?}; other messages: {:?}",
                    self.kept_topics()
                ),
            }
        }
    }

    /// The next message on `topic`, as JSON.
    pub async fn expect(&mut self, topic: &str) -> Value {
        let payload = self.expect_raw(topic).await;
        serde_json::from_slice(&payload).expect("a JSON payload")
    }

    /// Every topic received so far and not yet asked for.
    pub fn kept_topics(&self) -> Vec<String> {
        self.kept.iter().map(|(t, _)| t.clone()).collect()
    }

    /// Drains what has already arrived, without waiting.
    pub fn drain_arrived(&mut self) {
        while let Ok(note) = self.notes.try_recv() {
            if let Note::Publish(topic, payload) = note {
                self.kept.push((topic, payload));
            }
        }
    }

    /// Sends DISCONNECT.
    pub async fn disconnect(&self) {
        let _ = self.client.disconnect().await;
    }
}
