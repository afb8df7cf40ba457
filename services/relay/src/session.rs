//! WebRTC sessions: a WHIP publisher's peer connection feeds the [`Forwarder`]; each WHEP
//! subscriber's peer connection gets its own tracks, fed from the publisher's feeds.
//!
//! Signaling is one offer/answer exchange with every candidate in the answer (the relay
//! waits for ICE gathering, so clients need no trickle). Peer connections run on the tokio
//! runtime captured when the relay is built, never on an HTTP worker's thread.

use crate::forward::{
    packet_size, rewrite_for_subscriber, Feed, ForwardError, Forwarder, Holder, PublisherLease, SessionCap, SessionId,
    SessionRole, SubscriberLease, TrackKind,
};
use crate::ports::PortPool;
use crate::settings::RelaySettings;
use crate::slot_events::SlotEvents;
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use std::sync::Arc;
use std::time::Duration;
use tandem_shared::ids::SlotId;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::media_stream::MediaStreamTrack;
use webrtc::peer_connection::{
    register_default_interceptors, MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, RTCIceCandidateType, RTCIceGatheringState, RTCIceServer, RTCPeerConnectionState,
    RTCSessionDescription, Registry, SettingEngineBuilder,
};
use webrtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};

use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind};

/// How long the relay waits for its ICE candidates before answering with what it has.
const GATHER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a subscriber waits for a just-started publisher's tracks to appear.
const FEED_WAIT: Duration = Duration::from_secs(8);
/// Keyframe requests closer together than this are merged.
const MIN_PLI_GAP: Duration = Duration::from_millis(300);

/// Why a session could not start.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The slot already has a publisher.
    #[error("the slot already has a publisher")]
    SlotBusy,
    /// Nobody publishes the slot.
    #[error("nobody is publishing this slot")]
    NotPublishing,
    /// The publish token's generation was revoked (the stage changed).
    #[error("the publish token was revoked")]
    Revoked,
    /// A play-session cap is reached.
    #[error("too many play sessions")]
    TooManySessions(SessionCap),
    /// The SDP offer is unusable.
    #[error("{0}")]
    BadOffer(String),
    /// No free UDP port in the configured range.
    #[error("no free UDP port in TANDEM_RELAY_UDP_PORTS")]
    NoPorts,
    /// WebRTC failed.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<ForwardError> for SessionError {
    fn from(e: ForwardError) -> Self {
        match e {
            ForwardError::SlotBusy => SessionError::SlotBusy,
            ForwardError::Revoked => SessionError::Revoked,
            ForwardError::TooManySessions(cap) => SessionError::TooManySessions(cap),
            ForwardError::NotPublishing | ForwardError::UnknownSession => SessionError::NotPublishing,
        }
    }
}

/// A started session: its id and the SDP answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The session (the WHIP/WHEP resource).
    pub session: SessionId,
    /// SDP answer with every gathered candidate.
    pub sdp: String,
}

/// The kinds of media an offer sends (`sendrecv`/`sendonly` m-lines) or wants to receive
/// (`sendrecv`/`recvonly`), with their count.
pub fn offered_kinds(sdp: &str, sending: bool) -> Vec<TrackKind> {
    let mut kinds = Vec::new();
    let mut current: Option<(TrackKind, bool)> = None;
    let flush = |cur: Option<(TrackKind, bool)>, kinds: &mut Vec<TrackKind>| {
        if let Some((k, true)) = cur {
            kinds.push(k);
        }
    };
    for line in sdp.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("m=") {
            flush(current.take(), &mut kinds);
            let port_zero = rest.split_whitespace().nth(1) == Some("0");
            current = match rest.split_whitespace().next() {
                Some("audio") => Some((TrackKind::Audio, !port_zero)),
                Some("video") => Some((TrackKind::Video, !port_zero)),
                _ => None,
            };
        } else if let Some((_, active)) = current.as_mut() {
            let wanted = if sending { "a=recvonly" } else { "a=sendonly" };
            if line == wanted || line == "a=inactive" {
                *active = false;
            }
        }
    }
    flush(current, &mut kinds);
    kinds
}

fn to_rtc_kind(kind: TrackKind) -> RtpCodecKind {
    match kind {
        TrackKind::Audio => RtpCodecKind::Audio,
        TrackKind::Video => RtpCodecKind::Video,
    }
}

/// Builds peer connections and runs sessions.
pub struct Sessions {
    settings: Arc<RelaySettings>,
    forwarder: Forwarder,
    ports: PortPool,
    runtime: tokio::runtime::Handle,
    events: Arc<dyn SlotEvents>,
}

struct Handler {
    gathered: watch::Sender<bool>,
    cancel: CancellationToken,
    /// Set for publishers: tracks go into the forwarder.
    publisher: Option<PublisherTracks>,
}

#[derive(Clone)]
struct PublisherTracks {
    forwarder: Forwarder,
    lease: PublisherLease,
    pli_interval: Duration,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            self.gathered.send_replace(true);
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        tracing::debug!(%state, "relay peer connection state");
        if matches!(state, RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed) {
            self.cancel.cancel();
        }
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let Some(p) = self.publisher.clone() else { return };
        tokio::spawn(run_published_track(p, track));
    }
}

/// Read one published track into a feed; for video, ask for keyframes periodically and
/// whenever a subscriber needs one.
async fn run_published_track(p: PublisherTracks, track: Arc<dyn TrackRemote>) {
    let kind = match track.kind().await {
        RtpCodecKind::Audio => TrackKind::Audio,
        RtpCodecKind::Video => TrackKind::Video,
        _ => return,
    };
    let Some(media_ssrc) = track.ssrcs().await.first().copied() else { return };
    let Some(codec) = track.codec(media_ssrc).await else { return };
    tracing::info!(slot_id = %p.lease.slot, kind = kind.as_str(), codec = %codec.mime_type, "publisher track");
    let feed = match p.forwarder.add_feed(&p.lease, kind, codec) {
        Ok(feed) => feed,
        Err(_) => return,
    };
    if kind == TrackKind::Video {
        tokio::spawn(request_keyframes(
            feed.clone(),
            track.clone(),
            media_ssrc,
            p.pli_interval,
            p.lease.cancel.clone(),
        ));
    }
    loop {
        tokio::select! {
            event = track.poll() => match event {
                Some(TrackRemoteEvent::OnRtpPacket(packet)) => {
                    // Retransmissions (RTX) and probes arrive on other SSRCs; forward the media stream.
                    if packet.header.ssrc == media_ssrc && !packet.payload.is_empty() {
                        feed.push(packet);
                    }
                }
                Some(TrackRemoteEvent::OnEnded) | None => break,
                Some(_) => {}
            },
            _ = p.lease.cancel.cancelled() => break,
        }
    }
}

async fn request_keyframes(
    feed: Arc<Feed>,
    track: Arc<dyn TrackRemote>,
    media_ssrc: u32,
    every: Duration,
    cancel: CancellationToken,
) {
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = feed.keyframe_requested() => {}
            _ = cancel.cancelled() => return,
        }
        let pli = PictureLossIndication { sender_ssrc: 0, media_ssrc };
        if track.write_rtcp(vec![Box::new(pli)]).await.is_err() {
            return;
        }
        tokio::time::sleep(MIN_PLI_GAP).await;
    }
}

/// Forward one feed to one subscriber track until either ends.
async fn forward_to_subscriber(
    feed: Arc<Feed>,
    track: Arc<TrackLocalStaticRTP>,
    ssrc: u32,
    payload_type: u8,
    cancel: CancellationToken,
) {
    let mut rx = feed.subscribe();
    // A joining viewer cannot decode until the next keyframe: ask for one now.
    feed.request_keyframe();
    loop {
        let packet = tokio::select! {
            r = rx.recv() => r,
            _ = cancel.cancelled() => return,
        };
        match packet {
            Ok(packet) => {
                let packet = rewrite_for_subscriber(packet, ssrc, payload_type);
                let size = packet_size(&packet);
                // Before DTLS is up the track is not bound yet and writes fail: drop those.
                if track.write_rtp(packet).await.is_ok() {
                    feed.record_forwarded(size);
                }
            }
            Err(RecvError::Lagged(skipped)) => {
                tracing::debug!(skipped, "slow subscriber skipped packets");
                feed.request_keyframe();
            }
            Err(RecvError::Closed) => return,
        }
    }
}

/// Drain RTCP feedback about a subscriber track; keyframe requests go to the publisher.
/// (NACKs are answered by the interceptors from their send buffer before this point.)
async fn read_subscriber_feedback(feed: Arc<Feed>, track: Arc<TrackLocalStaticRTP>, cancel: CancellationToken) {
    loop {
        let event = tokio::select! {
            e = track.poll() => e,
            _ = cancel.cancelled() => return,
        };
        match event {
            Some(TrackLocalEvent::OnRtcpPacket(packets)) => {
                let wants_keyframe = packets.iter().any(|p| {
                    let any = p.as_any();
                    any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>()
                });
                if wants_keyframe {
                    feed.request_keyframe();
                }
            }
            Some(_) => {}
            None => {
                // Not bound yet, or closed: wait a little rather than spin.
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                    _ = cancel.cancelled() => return,
                }
            }
        }
    }
}

impl Sessions {
    /// Sessions over `forwarder`, running peer connections on `runtime`.
    pub fn new(
        settings: Arc<RelaySettings>,
        forwarder: Forwarder,
        runtime: tokio::runtime::Handle,
        events: Arc<dyn SlotEvents>,
    ) -> Self {
        let ports = PortPool::new(settings.udp_ports.clone());
        Self { settings, forwarder, ports, runtime, events }
    }

    /// The forwarding core.
    pub fn forwarder(&self) -> &Forwarder {
        &self.forwarder
    }

    /// The runtime peer connections run on.
    pub fn runtime(&self) -> &tokio::runtime::Handle {
        &self.runtime
    }

    async fn build_pc(
        &self,
        handler: Handler,
    ) -> Result<(Arc<dyn PeerConnection>, Option<crate::ports::Port>), SessionError> {
        let handler = Arc::new(handler);
        let attempts = self.ports.len().clamp(1, 64);
        let mut last_err = None;
        for _ in 0..attempts {
            let port = match self.ports.take() {
                Ok(p) => p,
                Err(()) => return Err(SessionError::NoPorts),
            };
            let number = port.as_ref().map(|p| p.number()).unwrap_or(0);
            let addrs: Vec<std::net::SocketAddr> =
                self.settings.hosts.iter().map(|ip| std::net::SocketAddr::new(*ip, number)).collect();
            let mut media_engine = MediaEngine::default();
            media_engine.register_default_codecs().map_err(|e| anyhow::anyhow!("media engine: {e}"))?;
            let registry = register_default_interceptors(Registry::new(), &mut media_engine)
                .map_err(|e| anyhow::anyhow!("interceptors: {e}"))?;
            let own = self.settings.turn_credential("relay");
            let ice_servers = self
                .settings
                .ice_servers
                .iter()
                .map(|s| {
                    let c = own.as_ref().filter(|_| s.turn);
                    RTCIceServer {
                        urls: vec![s.url.clone()],
                        username: c.map(|c| c.username.clone()).unwrap_or_default(),
                        credential: c.map(|c| c.credential.clone()).unwrap_or_default(),
                    }
                })
                .collect();
            let config = RTCConfigurationBuilder::new().with_ice_servers(ice_servers).build();
            let mut setting_engine = SettingEngineBuilder::new().with_include_loopback_candidate(true);
            if !self.settings.public_ips.is_empty() {
                let ips = self.settings.public_ips.iter().map(|ip| ip.to_string()).collect();
                setting_engine = setting_engine.with_nat_1to1_ips(ips, RTCIceCandidateType::Host);
            }
            let built = PeerConnectionBuilder::new()
                .with_configuration(config)
                .with_media_engine(media_engine)
                .with_setting_engine(setting_engine.build())
                .with_interceptor_registry(registry)
                .with_handler(handler.clone() as Arc<dyn PeerConnectionEventHandler>)
                .with_udp_addrs(addrs)
                .build()
                .await;
            match built {
                Ok(pc) => return Ok((Arc::new(pc), port)),
                Err(e) => {
                    tracing::debug!(port = number, error.message = %e, "peer connection did not bind");
                    last_err = Some(e);
                    if port.is_none() {
                        break;
                    }
                }
            }
        }
        Err(SessionError::Internal(anyhow::anyhow!(
            "Failed to build a peer connection: {}",
            last_err.map(|e| e.to_string()).unwrap_or_default()
        )))
    }

    /// Negotiate: apply the offer, answer, wait for candidates.
    async fn negotiate(
        pc: &Arc<dyn PeerConnection>,
        offer: String,
        mut gathered: watch::Receiver<bool>,
    ) -> Result<String, SessionError> {
        let offer = RTCSessionDescription::offer(offer)
            .map_err(|e| SessionError::BadOffer(format!("invalid SDP offer: {e}")))?;
        pc.set_remote_description(offer)
            .await
            .map_err(|e| SessionError::BadOffer(format!("the SDP offer cannot be used: {e}")))?;
        let answer = pc
            .create_answer(None)
            .await
            .map_err(|e| SessionError::BadOffer(format!("no answer for this offer: {e}")))?;
        pc.set_local_description(answer).await.map_err(|e| anyhow::anyhow!("set_local_description: {e}"))?;
        let _ = tokio::time::timeout(GATHER_TIMEOUT, gathered.wait_for(|done| *done)).await;
        let local = pc.local_description().await.ok_or_else(|| anyhow::anyhow!("no local description"))?;
        Ok(local.sdp)
    }

    /// Close the peer connection and free the session when its token is cancelled.
    fn watch_session(
        &self,
        session: SessionId,
        slot: SlotId,
        role: SessionRole,
        pc: Arc<dyn PeerConnection>,
        port: Option<crate::ports::Port>,
        cancel: CancellationToken,
    ) {
        let forwarder = self.forwarder.clone();
        let events = self.events.clone();
        self.runtime.spawn(async move {
            cancel.cancelled().await;
            forwarder.end(session);
            if let Err(e) = pc.close().await {
                tracing::debug!(error.message = %e, "closing a peer connection");
            }
            drop(port);
            tracing::info!(%slot, %session, ?role, "relay session ended");
            // A new publisher may already hold the slot: then it is not idle.
            if role == SessionRole::Publisher && !forwarder.is_publishing(slot) {
                events.publishing(slot, false).await;
            }
        });
    }

    /// Start publishing `slot` with a WHIP offer, for `holder` (whose token's generation must
    /// be the slot's newest).
    ///
    /// # Errors
    /// [`SessionError::SlotBusy`] (409), [`SessionError::Revoked`] (410),
    /// [`SessionError::BadOffer`] (400), others (5xx).
    pub async fn publish(&self, slot: SlotId, offer: String, holder: Holder) -> Result<Answer, SessionError> {
        let kinds = offered_kinds(&offer, true);
        if kinds.is_empty() {
            return Err(SessionError::BadOffer("the offer sends no audio or video".into()));
        }
        let lease = self.forwarder.claim_publisher(slot, kinds.len(), holder.generation)?;
        match self.start_publisher(&lease, &kinds, offer).await {
            Ok(answer) => {
                tracing::info!(slot_id = %slot, session = %lease.session, "publisher started");
                let events = self.events.clone();
                self.runtime.spawn(async move { events.publishing(slot, true).await });
                Ok(answer)
            }
            Err(e) => {
                lease.cancel.cancel();
                self.forwarder.end(lease.session);
                Err(e)
            }
        }
    }

    async fn start_publisher(
        &self,
        lease: &PublisherLease,
        kinds: &[TrackKind],
        offer: String,
    ) -> Result<Answer, SessionError> {
        let (gathered_tx, gathered_rx) = watch::channel(false);
        let handler = Handler {
            gathered: gathered_tx,
            cancel: lease.cancel.clone(),
            publisher: Some(PublisherTracks {
                forwarder: self.forwarder.clone(),
                lease: lease.clone(),
                pli_interval: self.settings.pli_interval,
            }),
        };
        let (pc, port) = self.build_pc(handler).await?;
        let result = async {
            for kind in kinds {
                let init =
                    RTCRtpTransceiverInit { direction: RTCRtpTransceiverDirection::Recvonly, ..Default::default() };
                pc.add_transceiver_from_kind(to_rtc_kind(*kind), Some(init))
                    .await
                    .map_err(|e| anyhow::anyhow!("add_transceiver: {e}"))?;
            }
            Self::negotiate(&pc, offer, gathered_rx).await
        }
        .await;
        let sdp = match result {
            Ok(sdp) => sdp,
            Err(e) => {
                let _ = pc.close().await;
                return Err(e);
            }
        };
        self.watch_session(lease.session, lease.slot, SessionRole::Publisher, pc, port, lease.cancel.clone());
        Ok(Answer { session: lease.session, sdp })
    }

    /// Start playing `slot` with a WHEP offer, for `holder`, within the configured caps.
    ///
    /// # Errors
    /// [`SessionError::NotPublishing`] (404), [`SessionError::TooManySessions`] (429),
    /// [`SessionError::BadOffer`] (400), others (5xx).
    pub async fn subscribe(&self, slot: SlotId, offer: String, holder: Holder) -> Result<Answer, SessionError> {
        let wanted = offered_kinds(&offer, false);
        if wanted.is_empty() {
            return Err(SessionError::BadOffer("the offer receives no audio or video".into()));
        }
        let feeds = self.forwarder.feeds(slot, tokio::time::sleep(FEED_WAIT)).await?;
        let feeds: Vec<Arc<Feed>> = feeds.into_iter().filter(|f| wanted.contains(&f.kind)).collect();
        if feeds.is_empty() {
            return Err(SessionError::BadOffer("the offer receives none of the kinds published".into()));
        }
        let lease = self.forwarder.add_subscriber(slot, holder, self.settings.play_limits)?;
        match self.start_subscriber(&lease, feeds, offer).await {
            Ok(answer) => Ok(answer),
            Err(e) => {
                lease.cancel.cancel();
                self.forwarder.end(lease.session);
                Err(e)
            }
        }
    }

    async fn start_subscriber(
        &self,
        lease: &SubscriberLease,
        feeds: Vec<Arc<Feed>>,
        offer: String,
    ) -> Result<Answer, SessionError> {
        let (gathered_tx, gathered_rx) = watch::channel(false);
        let handler = Handler { gathered: gathered_tx, cancel: lease.cancel.clone(), publisher: None };
        let (pc, port) = self.build_pc(handler).await?;
        let stream_id = format!("tandem-{}", lease.slot);
        let result = async {
            let mut outputs = Vec::new();
            for feed in &feeds {
                let ssrc: u32 = rand::random();
                let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
                    stream_id.clone(),
                    format!("{}-{}", feed.kind.as_str(), lease.session),
                    feed.kind.as_str().to_string(),
                    to_rtc_kind(feed.kind),
                    vec![RTCRtpEncodingParameters {
                        rtp_coding_parameters: RTCRtpCodingParameters { ssrc: Some(ssrc), ..Default::default() },
                        active: true,
                        codec: feed.codec.clone(),
                        ..Default::default()
                    }],
                )));
                let sender = pc
                    .add_track(track.clone() as Arc<dyn TrackLocal>)
                    .await
                    .map_err(|e| anyhow::anyhow!("add_track: {e}"))?;
                outputs.push((feed.clone(), track, sender, ssrc));
            }
            let sdp = Self::negotiate(&pc, offer, gathered_rx).await?;
            Ok::<_, SessionError>((sdp, outputs))
        }
        .await;
        let (sdp, outputs) = match result {
            Ok(r) => r,
            Err(e) => {
                let _ = pc.close().await;
                return Err(e);
            }
        };
        let mut forwarding = 0;
        for (feed, track, sender, ssrc) in outputs {
            let params = match sender.get_parameters().await {
                Ok(p) => p,
                Err(_) => continue,
            };
            let candidates: Vec<_> = params
                .rtp_parameters
                .codecs
                .iter()
                .filter(|c| c.rtp_codec.mime_type.eq_ignore_ascii_case(&feed.codec.mime_type))
                .collect();
            let chosen = candidates
                .iter()
                .find(|c| c.rtp_codec.sdp_fmtp_line == feed.codec.sdp_fmtp_line)
                .or(candidates.first());
            let Some(codec) = chosen else {
                tracing::info!(codec = %feed.codec.mime_type, "subscriber cannot receive the published codec");
                continue;
            };
            forwarding += 1;
            let cancel = lease.cancel.clone();
            self.runtime.spawn(forward_to_subscriber(
                feed.clone(),
                track.clone(),
                ssrc,
                codec.payload_type,
                cancel.clone(),
            ));
            self.runtime.spawn(read_subscriber_feedback(feed, track, cancel));
        }
        if forwarding == 0 {
            let _ = pc.close().await;
            return Err(SessionError::BadOffer("the offer accepts none of the published codecs".into()));
        }
        self.watch_session(lease.session, lease.slot, SessionRole::Subscriber, pc, port, lease.cancel.clone());
        Ok(Answer { session: lease.session, sdp })
    }

    /// End a session (DELETE on its resource). Returns its slot and role if it existed; the
    /// session's watcher then closes its peer connection.
    pub fn end(&self, session: SessionId) -> Option<(SlotId, SessionRole)> {
        self.forwarder.end(session)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=sendonly\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=sendrecv\r\n\
        m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=mid:2\r\na=sendonly\r\n\
        m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:3\r\n";

    #[test]
    fn offered_kinds_follow_directions() {
        assert_eq!(offered_kinds(OFFER, true), vec![TrackKind::Audio, TrackKind::Video]);
        assert_eq!(offered_kinds(OFFER, false), vec![TrackKind::Video]);
        let recv = OFFER.replace("a=sendonly", "a=recvonly");
        assert_eq!(offered_kinds(&recv, true), vec![TrackKind::Video]);
        assert_eq!(offered_kinds(&recv, false), vec![TrackKind::Audio, TrackKind::Video]);
        assert!(offered_kinds("v=0\r\n", true).is_empty());
    }
}
