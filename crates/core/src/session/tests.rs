use std::io;

use rumqttc::{ConnectReturnCode, StateError};

use super::*;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn supervisor() -> Supervisor {
    Supervisor::new(
        FailureContext::connecting("broker.test", 8883),
        BackoffPolicy::default(),
    )
}

fn refused() -> ConnectionError {
    ConnectionError::Io(io::Error::from(io::ErrorKind::ConnectionRefused))
}

fn closed() -> ConnectionError {
    ConnectionError::MqttState(StateError::ConnectionAborted)
}

fn retry(decision: Decision) -> (u32, Duration, Cause) {
    match decision {
        Decision::Retry {
            attempt,
            delay,
            diagnosis,
        } => (attempt, delay, diagnosis.cause),
        Decision::Stop(diagnosis) => panic!("expected a retry, got a stop: {diagnosis}"),
    }
}

fn stop(decision: Decision) -> Cause {
    match decision {
        Decision::Stop(diagnosis) => diagnosis.cause,
        Decision::Retry { diagnosis, .. } => panic!("expected a stop, got a retry: {diagnosis}"),
    }
}

#[test]
fn the_backoff_ceiling_doubles_from_one_second_up_to_thirty() {
    let policy = BackoffPolicy::default();
    for (attempt, ceiling) in [
        (1, 1),
        (2, 2),
        (3, 4),
        (4, 8),
        (5, 16),
        (6, 30),
        (7, 30),
        (40, 30),
    ] {
        assert_eq!(
            policy.ceiling(attempt),
            secs(ceiling),
            "retry {attempt} waits at most {ceiling} s"
        );
    }
}

#[test]
fn full_jitter_scales_the_ceiling_by_the_random_draw() {
    let policy = BackoffPolicy::default();
    assert_eq!(
        policy.delay(3, 0.0),
        Duration::ZERO,
        "a draw of 0 retries at once"
    );
    assert_eq!(policy.delay(3, 0.5), secs(2), "half of the 4 s ceiling");
    assert!(
        policy.delay(1, 0.999) < secs(1),
        "the first retry comes within 1 s"
    );
    assert_eq!(
        policy.delay(2, 7.0),
        secs(2),
        "an out-of-range draw is clamped"
    );
}

#[test]
fn a_refused_port_is_retried_with_a_growing_ceiling() {
    let mut supervisor = supervisor();
    let now = Instant::now();
    for expected in 1..=4 {
        let (attempt, delay, cause) = retry(supervisor.on_failure(&refused(), now, 0.999));
        assert_eq!(attempt, expected, "the attempts count up");
        assert_eq!(cause, Cause::TcpRefused, "the cause is named");
        assert!(
            delay <= BackoffPolicy::default().ceiling(expected),
            "retry {expected} waits within its ceiling ({delay:?})"
        );
    }
}

#[test]
fn a_connack_resets_the_backoff() {
    let mut supervisor = supervisor();
    let now = Instant::now();
    for _ in 0..5 {
        supervisor.on_failure(&refused(), now, 0.5);
    }
    supervisor.on_connack(Instant::now());
    let (attempt, delay, _) = retry(supervisor.on_failure(&refused(), now, 0.999));
    assert_eq!(attempt, 1, "the count starts over after CONNACK");
    assert!(
        delay < secs(1),
        "the first retry after CONNACK comes within 1 s"
    );
}

#[test]
fn a_refused_password_stops_the_session_instead_of_retrying() {
    let mut supervisor = supervisor();
    let refusal = ConnectionError::ConnectionRefused(ConnectReturnCode::BadUserNamePassword);
    assert_eq!(
        stop(supervisor.on_failure(&refusal, Instant::now(), 0.5)),
        Cause::BadCredentials,
        "retrying a wrong password cannot help"
    );
}

#[test]
fn a_second_silent_close_right_after_an_immediate_reconnect_is_a_takeover() {
    let mut supervisor = supervisor();
    let now = Instant::now();
    supervisor.on_connack(Instant::now());
    let (_, _, first) = retry(supervisor.on_failure(&closed(), now, 0.5));
    assert_eq!(
        first,
        Cause::ClosedByBroker,
        "one silent close is not proof yet"
    );
    supervisor.on_connack(Instant::now());
    assert_eq!(
        stop(supervisor.on_failure(&closed(), now, 0.5)),
        Cause::ClientIdTakenOver,
        "closed again after the broker took the reconnect at once: taken over"
    );
}

#[test]
fn a_silent_close_after_a_broker_restart_is_not_a_takeover() {
    let mut supervisor = supervisor();
    let now = Instant::now();
    supervisor.on_connack(Instant::now());
    retry(supervisor.on_failure(&closed(), now, 0.5));
    retry(supervisor.on_failure(&refused(), now, 0.5));
    supervisor.on_connack(Instant::now());
    let (_, _, cause) = retry(supervisor.on_failure(&closed(), now, 0.5));
    assert_eq!(
        cause,
        Cause::ClosedByBroker,
        "the broker was down in between, so the second close is not a takeover"
    );
}

#[test]
fn a_second_silent_close_long_after_the_reconnect_is_not_a_takeover() {
    let mut supervisor = supervisor();
    let start = Instant::now();
    supervisor.on_connack(start);
    retry(supervisor.on_failure(&closed(), start, 0.5));
    supervisor.on_connack(start);
    let later = start + secs(10);
    let (_, _, cause) = retry(supervisor.on_failure(&closed(), later, 0.5));
    assert_eq!(
        cause,
        Cause::ClosedByBroker,
        "a takeover kicks within seconds; ten seconds later it is a broker restart"
    );
}

#[test]
fn a_close_while_a_suback_is_due_is_a_denied_subscribe() {
    let mut supervisor = supervisor();
    let now = Instant::now();
    supervisor.on_connack(Instant::now());
    supervisor.on_sent(Sent::Subscribe(7), now);
    let (_, _, cause) = retry(supervisor.on_failure(&closed(), now, 0.5));
    assert_eq!(
        cause,
        Cause::SubscribeDenied,
        "AWS drops the link for a denied SUBSCRIBE"
    );
}

#[test]
fn a_close_after_the_suback_came_is_not_blamed_on_the_subscribe() {
    let mut supervisor = supervisor();
    let now = Instant::now();
    supervisor.on_connack(Instant::now());
    supervisor.on_sent(Sent::Subscribe(7), now);
    supervisor.on_suback(7);
    let (_, _, cause) = retry(supervisor.on_failure(&closed(), now, 0.5));
    assert_eq!(cause, Cause::ClosedByBroker, "the subscribe was granted");
}

#[test]
fn a_qos0_publish_counts_as_just_sent_for_one_second() {
    let mut supervisor = supervisor();
    let sent = Instant::now();
    supervisor.on_connack(Instant::now());
    supervisor.on_sent(Sent::Publish(0), sent);
    assert!(
        supervisor
            .context(sent + Duration::from_millis(500))
            .publish_pending,
        "half a second later the publish is the likely culprit"
    );
    assert!(
        !supervisor.context(sent + secs(2)).publish_pending,
        "two seconds later it is not"
    );
}

#[test]
fn a_close_while_a_puback_is_due_is_a_denied_publish() {
    let mut supervisor = supervisor();
    let now = Instant::now();
    supervisor.on_connack(Instant::now());
    supervisor.on_sent(Sent::Publish(3), now);
    let (_, _, cause) = retry(supervisor.on_failure(&closed(), now + secs(60), 0.5));
    assert_eq!(
        cause,
        Cause::PublishDenied,
        "the QoS 1 publish was never acknowledged"
    );
    supervisor.on_connack(Instant::now());
    supervisor.on_sent(Sent::Publish(4), now);
    supervisor.on_puback(4);
    let (_, _, cause) = retry(supervisor.on_failure(&refused(), now, 0.5));
    assert_eq!(
        cause,
        Cause::TcpRefused,
        "an acknowledged publish is not blamed"
    );
}

fn message(n: u8) -> Message {
    Message {
        topic: format!("t/{n}"),
        payload: Bytes::from(vec![n]),
        qos: QoS::AtMostOnce,
        retain: false,
    }
}

#[tokio::test]
async fn a_full_inbox_drops_the_oldest_message_and_counts_it() {
    let inbox = Arc::new(Inbox::new(3, Overflow::DropOldest));
    for n in 0..10 {
        inbox.push(message(n)).await;
    }
    let messages = Messages { inbox };
    assert_eq!(messages.len(), 3, "the queue never grows past its capacity");
    assert_eq!(messages.dropped(), 7, "every dropped message is counted");
    let kept: Vec<u8> = std::iter::from_fn(|| messages.try_recv())
        .map(|m| m.payload[0])
        .collect();
    assert_eq!(
        kept,
        vec![7, 8, 9],
        "the newest messages are kept, in order"
    );
}

#[tokio::test]
async fn a_full_inbox_under_backpressure_waits_for_the_consumer() {
    let inbox = Arc::new(Inbox::new(1, Overflow::Backpressure));
    inbox.push(message(1)).await;
    let producer = {
        let inbox = inbox.clone();
        tokio::spawn(async move { inbox.push(message(2)).await })
    };
    let messages = Messages { inbox };
    tokio::task::yield_now().await;
    assert!(
        !producer.is_finished(),
        "the producer waits while the queue is full"
    );
    assert_eq!(
        messages.recv().await.map(|m| m.payload[0]),
        Some(1),
        "first in, first out"
    );
    tokio::time::timeout(secs(5), producer)
        .await
        .expect("the producer resumes once there is room")
        .expect("the producer does not panic");
    assert_eq!(
        messages.recv().await.map(|m| m.payload[0]),
        Some(2),
        "nothing was lost"
    );
    assert_eq!(messages.dropped(), 0, "backpressure drops nothing");
}

#[tokio::test]
async fn a_closed_inbox_ends_the_consumer_after_the_queued_messages() {
    let inbox = Arc::new(Inbox::new(4, Overflow::DropOldest));
    inbox.push(message(1)).await;
    inbox.close();
    let messages = Messages { inbox };
    assert!(
        messages.recv().await.is_some(),
        "queued messages are still delivered"
    );
    assert!(
        messages.recv().await.is_none(),
        "then the consumer learns the session ended"
    );
}

#[test]
fn an_empty_client_id_is_refused_before_anything_starts() {
    let spec = ConnectSpec::plain("127.0.0.1", 1883, "");
    let refused = Session::connect(spec, SessionOptions::default()).map(|_| ());
    let Err(SessionError::Refused(diagnosis)) = refused else {
        panic!("an empty client id is refused, not {refused:?}");
    };
    assert_eq!(diagnosis.cause, Cause::BadProfile, "{diagnosis}");
}
