//! Test relay, media tokens and webrtc-rs WHIP/WHEP clients.

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tandem_relay::forward::Forwarder;
use tandem_relay::{RelaySettings, SlotEvents};
use tandem_shared::ids::{RoomId, SlotId, UserId};
use tandem_shared::media_token::{MediaClaims, MediaGrant, MediaKey, MediaScope};
use tandem_shared::testing::{StandInRooms, TestCore, TestServer};
use tokio::sync::{mpsc, watch};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::media_stream::MediaStreamTrack;
use webrtc::peer_connection::{
    register_default_interceptors, MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, RTCIceGatheringState, RTCPeerConnectionState, RTCSessionDescription, Registry,
    SettingEngineBuilder,
};
use webrtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};

use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind};

/// Slot-state reports the relay made.
#[derive(Default)]
pub struct RecordedEvents(pub Mutex<Vec<(SlotId, bool)>>);

#[async_trait::async_trait]
impl SlotEvents for RecordedEvents {
    async fn publishing(&self, slot: SlotId, publishing: bool) {
        self.0.lock().expect("lock").push((slot, publishing));
    }
}

impl RecordedEvents {
    pub fn all(&self) -> Vec<(SlotId, bool)> {
        self.0.lock().expect("lock").clone()
    }
}

/// A running relay.
pub struct TestRelay {
    /// Keeps the database and Redis prefix alive for the test.
    pub _t: TestCore,
    pub server: TestServer,
    pub key: MediaKey,
    pub events: Arc<RecordedEvents>,
    pub forwarder: Forwarder,
    pub http: reqwest::Client,
    /// The broker stand-in the relay asks whether slots are released.
    pub rooms: Arc<StandInRooms>,
}

/// Claims of a shared (broadcast) token for a fresh user, generation 0.
pub fn claims(slot: SlotId, room: RoomId, grant: MediaGrant, exp: i64) -> MediaClaims {
    MediaClaims {
        slot_id: slot,
        room_id: room,
        grant,
        scope: MediaScope::Shared,
        user_id: UserId::new(),
        generation: 0,
        exp,
    }
}

impl TestRelay {
    pub async fn spawn() -> Self {
        Self::spawn_with(tandem_relay::forward::PlayLimits::default()).await
    }

    pub async fn spawn_with(play_limits: tandem_relay::forward::PlayLimits) -> Self {
        Self::spawn_configured(|s| s.play_limits = play_limits).await
    }

    /// A relay whose test settings `configure` adjusts.
    pub async fn spawn_configured(configure: impl FnOnce(&mut RelaySettings)) -> Self {
        let t = TestCore::new().await;
        let rooms = Arc::new(StandInRooms::default());
        t.core.hooks.set_rooms(rooms.clone());
        let key = MediaKey::generate();
        let events = Arc::new(RecordedEvents::default());
        let mut settings = RelaySettings {
            hosts: vec!["127.0.0.1".parse().expect("ip")],
            revalidate_interval: std::time::Duration::from_millis(500),
            ..Default::default()
        };
        configure(&mut settings);
        let relay = tandem_relay::build(&t.core, settings, key.clone(), events.clone());
        let forwarder = relay.forwarder().clone();
        let server = TestCore::spawn(&t.core, vec![Arc::new(relay)]);
        Self { _t: t, server, key, events, forwarder, http: reqwest::Client::new(), rooms }
    }

    pub fn token(&self, slot: SlotId, grant: MediaGrant) -> String {
        self.key.sign(&claims(slot, RoomId::new(), grant, chrono_now() + 600))
    }

    /// A token for `slot` of `room`.
    pub fn room_token(&self, slot: SlotId, room: RoomId, grant: MediaGrant) -> String {
        self.key.sign(&claims(slot, room, grant, chrono_now() + 600))
    }

    /// A token issued to `user` with `scope` and `generation`.
    pub fn user_token(
        &self,
        slot: SlotId,
        grant: MediaGrant,
        user: UserId,
        scope: MediaScope,
        generation: u32,
    ) -> String {
        let c = claims(slot, RoomId::new(), grant, chrono_now() + 600);
        self.key.sign(&MediaClaims { user_id: user, scope, generation, ..c })
    }

    pub fn expired_token(&self, slot: SlotId, grant: MediaGrant) -> String {
        self.key.sign(&claims(slot, RoomId::new(), grant, chrono_now() - 10))
    }

    /// POST an SDP offer; returns the response.
    pub async fn post_offer(&self, kind: &str, slot: SlotId, token: Option<&str>, sdp: &str) -> reqwest::Response {
        let mut req = self
            .http
            .post(self.server.url(&format!("/v1/relay/{kind}/{slot}")))
            .header("content-type", "application/sdp")
            .body(sdp.to_string());
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("request is sent")
    }

    pub async fn delete(&self, location: &str, token: &str) -> reqwest::Response {
        self.http.delete(self.server.url(location)).bearer_auth(token).send().await.expect("request is sent")
    }
}

pub fn chrono_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64
}

/// Poll `f` until it is true or `secs` pass.
pub async fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    f()
}

struct ClientHandler {
    gathered: watch::Sender<bool>,
    state: watch::Sender<RTCPeerConnectionState>,
    packets: Option<mpsc::UnboundedSender<rtc::rtp::Packet>>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for ClientHandler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            self.gathered.send_replace(true);
        }
    }
    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        self.state.send_replace(state);
    }
    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let Some(tx) = self.packets.clone() else { return };
        tokio::spawn(async move {
            while let Some(event) = track.poll().await {
                if let TrackRemoteEvent::OnRtpPacket(p) = event {
                    if tx.send(p).is_err() {
                        return;
                    }
                }
            }
        });
    }
}

/// A webrtc-rs peer on loopback.
pub struct Client {
    pub pc: Arc<dyn PeerConnection>,
    gathered: watch::Receiver<bool>,
    /// Connection state, as last reported.
    #[allow(dead_code)]
    pub state: watch::Receiver<RTCPeerConnectionState>,
}

impl Client {
    async fn new(packets: Option<mpsc::UnboundedSender<rtc::rtp::Packet>>) -> Self {
        let (gathered_tx, gathered) = watch::channel(false);
        let (state_tx, state) = watch::channel(RTCPeerConnectionState::New);
        let mut media_engine = MediaEngine::default();
        media_engine.register_default_codecs().expect("codecs");
        let registry = register_default_interceptors(Registry::new(), &mut media_engine).expect("interceptors");
        let pc = PeerConnectionBuilder::new()
            .with_configuration(RTCConfigurationBuilder::new().build())
            .with_media_engine(media_engine)
            .with_setting_engine(SettingEngineBuilder::new().with_include_loopback_candidate(true).build())
            .with_interceptor_registry(registry)
            .with_handler(Arc::new(ClientHandler { gathered: gathered_tx, state: state_tx, packets }))
            .with_udp_addrs(vec!["127.0.0.1:0".to_string()])
            .build()
            .await
            .expect("peer connection");
        Self { pc: Arc::new(pc), gathered, state }
    }

    /// A complete offer (candidates included).
    pub async fn offer(&mut self) -> String {
        let offer = self.pc.create_offer(None).await.expect("offer");
        self.pc.set_local_description(offer).await.expect("local description");
        let _ = tokio::time::timeout(Duration::from_secs(5), self.gathered.wait_for(|g| *g)).await;
        self.pc.local_description().await.expect("local description").sdp
    }

    pub async fn accept(&self, answer: String) {
        let answer = RTCSessionDescription::answer(answer).expect("answer parses");
        self.pc.set_remote_description(answer).await.expect("remote description");
    }
}

/// A publisher sending a synthetic VP8 track.
pub struct Publisher {
    pub client: Client,
    pub track: Arc<TrackLocalStaticRTP>,
    pub ssrc: u32,
}

impl Publisher {
    pub async fn new() -> Self {
        let client = Client::new(None).await;
        let ssrc: u32 = rand::random();
        let codec = RTCRtpCodec { mime_type: "video/VP8".into(), clock_rate: 90000, ..Default::default() };
        let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
            "test-stream".into(),
            "test-video".into(),
            "video".into(),
            RtpCodecKind::Video,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters { ssrc: Some(ssrc), ..Default::default() },
                active: true,
                codec,
                ..Default::default()
            }],
        )));
        client.pc.add_track(track.clone() as Arc<dyn TrackLocal>).await.expect("add track");
        Self { client, track, ssrc }
    }

    /// Send synthetic VP8 packets every 20 ms until the returned sender is dropped.
    pub fn start_sending(&self) -> tokio::sync::oneshot::Sender<()> {
        let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
        let track = self.track.clone();
        let ssrc = self.ssrc;
        tokio::spawn(async move {
            let mut seq: u16 = 0;
            let mut ts: u32 = 0;
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = &mut stop_rx => return,
                }
                let mut p = rtc::rtp::Packet::default();
                p.header.version = 2;
                p.header.payload_type = 96;
                p.header.sequence_number = seq;
                p.header.timestamp = ts;
                p.header.ssrc = ssrc;
                p.header.marker = true;
                // VP8 payload descriptor (S=1, PID 0) followed by bytes the relay never decodes.
                p.payload = bytes::Bytes::from(vec![0x10, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00]);
                let _ = track.write_rtp(p).await;
                seq = seq.wrapping_add(1);
                ts = ts.wrapping_add(1800);
            }
        });
        stop_tx
    }
}

/// A player receiving video.
pub struct Player {
    pub client: Client,
    pub packets: mpsc::UnboundedReceiver<rtc::rtp::Packet>,
}

impl Player {
    pub async fn new() -> Self {
        let (tx, packets) = mpsc::unbounded_channel();
        let client = Client::new(Some(tx)).await;
        let init = RTCRtpTransceiverInit { direction: RTCRtpTransceiverDirection::Recvonly, ..Default::default() };
        client.pc.add_transceiver_from_kind(RtpCodecKind::Video, Some(init)).await.expect("transceiver");
        Self { client, packets }
    }

    /// Receive `n` packets within `secs`; returns how many arrived.
    pub async fn receive(&mut self, n: usize, secs: u64) -> usize {
        let mut got = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        while got < n {
            match tokio::time::timeout_at(deadline, self.packets.recv()).await {
                Ok(Some(_)) => got += 1,
                _ => break,
            }
        }
        got
    }
}
