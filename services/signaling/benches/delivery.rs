//! The per-delivery path without the kernel: a room event from the bus reaches every local
//! member's queue ([`Hub::deliver`]), each socket's task takes it and encodes its frame with the
//! socket's own `seq` ([`Outbound::event`]), and the dispatcher takes the bytes
//! ([`Outbound::take`]).
//!
//! `cargo bench -p tandem-signaling --bench delivery` (criterion; reports time per event for a
//! room of 200 viewers: divide by 200 for the time per delivery).
//! CI runs it once as a test: `cargo test -p tandem-signaling --bench delivery`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::sync::Arc;
use tandem_shared::ids::{ConnectionId, RoomId, UserId};
use tandem_signaling::hub::{Hub, Out, ResumeToken, TokenLease, Topic};
use tandem_signaling::outbound::Outbound;
use tandem_signaling::protocol::MemberRole;
use tandem_signaling::rooms::{RoomInfo, RoomKind};

const VIEWERS: usize = 200;

struct Socket {
    shared: Arc<tandem_signaling::hub::ConnShared>,
    out: Outbound,
    seq: u64,
}

fn room() -> (Hub, Topic, Vec<Socket>) {
    let hub = Hub::new(64);
    let info = Arc::new(RoomInfo {
        room_id: RoomId::new(),
        kind: RoomKind::Broadcast,
        live: true,
        host_id: UserId::new(),
        guest_id: None,
    });
    let sockets = (0..VIEWERS)
        .map(|_| {
            let id = ConnectionId::new();
            let lease = TokenLease { jti: uuid::Uuid::new_v4(), exp: i64::MAX, family: None };
            let shared = hub.register(id, UserId::new(), ResumeToken::random(), lease);
            hub.join(id, info.clone(), MemberRole::Viewer);
            Socket { shared, out: Outbound::default(), seq: 0 }
        })
        .collect();
    (hub, Topic::Room(info.room_id), sockets)
}

/// One chat line to every viewer; returns the bytes written.
fn deliver_once(hub: &Hub, topic: Topic, sockets: &mut [Socket], event: &[u8]) -> usize {
    let delivered = hub.deliver(topic, event);
    assert_eq!(delivered.recipients, sockets.len(), "every viewer gets the line");
    let mut bytes = 0;
    for s in sockets.iter_mut() {
        while let Some(out) = s.shared.pop() {
            if let Out::Event { json, .. } = out {
                s.seq += 1;
                s.out.event(s.seq, &json).expect("open");
            }
        }
        bytes += s.out.take().map_or(0, |b| b.len());
    }
    bytes
}

fn delivery(c: &mut Criterion) {
    let (hub, topic, mut sockets) = room();
    let event = format!(
        r#"{{"type":"chat","room_id":"{}","from":"{}","handle":"host","text":"fo:1733350000123456","at":1733350000123,"room_seq":1}}"#,
        RoomId::new(),
        UserId::new()
    );
    // Every viewer gets one frame carrying its own seq.
    let first = deliver_once(&hub, topic, &mut sockets, event.as_bytes());
    assert!(first > VIEWERS * event.len(), "{first} bytes for {VIEWERS} viewers");
    let mut g = c.benchmark_group("fanout");
    g.throughput(Throughput::Elements(VIEWERS as u64));
    g.bench_function("room_event_to_200_viewers", |b| {
        b.iter(|| deliver_once(&hub, topic, &mut sockets, event.as_bytes()));
    });
    g.finish();
}

criterion_group!(benches, delivery);
criterion_main!(benches);
