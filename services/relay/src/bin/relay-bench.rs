//! `relay-bench`: how many WHEP subscribers one WHIP publisher can feed on this machine, and
//! the CPU each forwarded stream costs.
//!
//! Everything runs in one process on loopback: the relay's [`Sessions`] (no HTTP, no
//! database), one webrtc-rs publisher sending a synthetic ~1 Mbit/s VP8 stream, and N
//! webrtc-rs subscribers. For each N it measures process CPU while packets flow and the
//! share of packets each subscriber received. The clients' SRTP work is in the same process,
//! so "CPU per stream" is an upper bound for the relay alone.
//!
//! ```text
//! cargo run --release -p tandem-relay --bin relay-bench -- 1 10 25 50 100
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tandem_relay::forward::Forwarder;
use tandem_relay::{RelaySettings, Sessions, SlotEvents};
use tandem_shared::ids::SlotId;
use tokio::sync::watch;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::media_stream::MediaStreamTrack;
use webrtc::peer_connection::{
    register_default_interceptors, MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, RTCIceGatheringState, RTCSessionDescription, Registry, SettingEngineBuilder,
};
use webrtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};

use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind};

/// Packets per second of the synthetic stream, and payload bytes per packet (~1 Mbit/s).
const PPS: u64 = 100;
const PAYLOAD: usize = 1200;
const MEASURE: Duration = Duration::from_secs(10);

struct NoEvents;
#[async_trait::async_trait]
impl SlotEvents for NoEvents {
    async fn publishing(&self, _slot: SlotId, _publishing: bool) {}
}

struct ClientHandler {
    gathered: watch::Sender<bool>,
    received: Option<Arc<AtomicU64>>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for ClientHandler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            self.gathered.send_replace(true);
        }
    }
    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let Some(received) = self.received.clone() else { return };
        tokio::spawn(async move {
            while let Some(event) = track.poll().await {
                if let TrackRemoteEvent::OnRtpPacket(_) = event {
                    received.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
}

async fn client(received: Option<Arc<AtomicU64>>) -> anyhow::Result<(Arc<dyn PeerConnection>, watch::Receiver<bool>)> {
    let (gathered_tx, gathered) = watch::channel(false);
    let mut media_engine = MediaEngine::default();
    media_engine.register_default_codecs()?;
    let registry = register_default_interceptors(Registry::new(), &mut media_engine)?;
    let pc = PeerConnectionBuilder::new()
        .with_configuration(RTCConfigurationBuilder::new().build())
        .with_media_engine(media_engine)
        .with_setting_engine(SettingEngineBuilder::new().with_include_loopback_candidate(true).build())
        .with_interceptor_registry(registry)
        .with_handler(Arc::new(ClientHandler { gathered: gathered_tx, received }))
        .with_udp_addrs(vec!["127.0.0.1:0".to_string()])
        .build()
        .await?;
    Ok((Arc::new(pc), gathered))
}

async fn offer(pc: &Arc<dyn PeerConnection>, mut gathered: watch::Receiver<bool>) -> anyhow::Result<String> {
    let offer = pc.create_offer(None).await?;
    pc.set_local_description(offer).await?;
    let _ = tokio::time::timeout(Duration::from_secs(5), gathered.wait_for(|g| *g)).await;
    Ok(pc.local_description().await.ok_or_else(|| anyhow::anyhow!("no offer"))?.sdp)
}

/// A distinct user and token per session, as real viewers are.
fn viewer() -> tandem_relay::forward::Holder {
    tandem_relay::forward::Holder {
        user: tandem_shared::ids::UserId::new(),
        token: tandem_relay::forward::TokenId(rand::random()),
        generation: 0,
        exclusive: false,
    }
}

fn cpu_seconds() -> f64 {
    tandem_shared::metrics::ProcessStats::read().cpu_seconds
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let counts: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let counts = if counts.is_empty() { vec![1, 10, 25, 50] } else { counts };
    let play_limits = tandem_relay::forward::PlayLimits { per_slot: usize::MAX, ..Default::default() };
    let settings = RelaySettings { hosts: vec!["127.0.0.1".parse()?], play_limits, ..Default::default() };
    let sessions = Arc::new(Sessions::new(
        Arc::new(settings),
        Forwarder::new(),
        tokio::runtime::Handle::current(),
        Arc::new(NoEvents),
    ));
    println!(
        "stream: VP8-shaped RTP, {PPS} packets/s x {PAYLOAD} B (~{} kbit/s); measuring {}s per step",
        PPS * PAYLOAD as u64 * 8 / 1000,
        MEASURE.as_secs()
    );
    println!("| subscribers | delivered | process CPU | CPU per stream | forwarded Mbit/s |");
    println!("|---:|---:|---:|---:|---:|");

    for &n in &counts {
        let slot = SlotId::new();
        let (pub_pc, gathered) = client(None).await?;
        let ssrc: u32 = rand::random();
        let codec = RTCRtpCodec { mime_type: "video/VP8".into(), clock_rate: 90000, ..Default::default() };
        let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
            "bench".into(),
            "bench-video".into(),
            "video".into(),
            RtpCodecKind::Video,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters { ssrc: Some(ssrc), ..Default::default() },
                active: true,
                codec,
                ..Default::default()
            }],
        )));
        pub_pc.add_track(track.clone() as Arc<dyn TrackLocal>).await?;
        let sdp = offer(&pub_pc, gathered).await?;
        let answer = sessions.publish(slot, sdp, viewer()).await.map_err(|e| anyhow::anyhow!("publish: {e}"))?;
        pub_pc.set_remote_description(RTCSessionDescription::answer(answer.sdp)?).await?;
        let stop = tokio_util::sync::CancellationToken::new();
        let sender = {
            let stop = stop.clone();
            let track = track.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / PPS));
                let (mut seq, mut ts) = (0u16, 0u32);
                let payload = bytes::Bytes::from(vec![0x10u8; PAYLOAD]);
                while !stop.is_cancelled() {
                    tick.tick().await;
                    let mut p = rtc::rtp::Packet::default();
                    p.header.version = 2;
                    p.header.payload_type = 96;
                    p.header.sequence_number = seq;
                    p.header.timestamp = ts;
                    p.header.ssrc = ssrc;
                    p.header.marker = seq % 3 == 0;
                    p.payload = payload.clone();
                    let _ = track.write_rtp(p).await;
                    seq = seq.wrapping_add(1);
                    if seq % 3 == 0 {
                        ts = ts.wrapping_add(3000);
                    }
                }
            })
        };
        tokio::time::sleep(Duration::from_millis(500)).await;

        let mut subs = Vec::new();
        let mut counters = Vec::new();
        for _ in 0..n {
            let received = Arc::new(AtomicU64::new(0));
            let (pc, gathered) = client(Some(received.clone())).await?;
            let init = RTCRtpTransceiverInit { direction: RTCRtpTransceiverDirection::Recvonly, ..Default::default() };
            pc.add_transceiver_from_kind(RtpCodecKind::Video, Some(init)).await?;
            let sdp = offer(&pc, gathered).await?;
            let answer =
                sessions.subscribe(slot, sdp, viewer()).await.map_err(|e| anyhow::anyhow!("subscribe: {e}"))?;
            pc.set_remote_description(RTCSessionDescription::answer(answer.sdp)?).await?;
            subs.push((pc, answer.session));
            counters.push(received);
        }
        // Let every subscriber connect, then measure.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let before: Vec<u64> = counters.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        let bytes_before = sessions.forwarder().stats().counters.bytes_out;
        let cpu0 = cpu_seconds();
        let t0 = Instant::now();
        tokio::time::sleep(MEASURE).await;
        let wall = t0.elapsed().as_secs_f64();
        let cpu = (cpu_seconds() - cpu0) / wall;
        let bytes = sessions.forwarder().stats().counters.bytes_out - bytes_before;
        let expected = PPS as f64 * wall;
        let delivered: f64 = counters
            .iter()
            .zip(&before)
            .map(|(c, b)| ((c.load(Ordering::Relaxed) - b) as f64 / expected).min(1.0))
            .sum::<f64>()
            / n as f64;
        println!(
            "| {n} | {:.1}% | {:.1}% of a core | {:.2}% of a core | {:.1} |",
            delivered * 100.0,
            cpu * 100.0,
            cpu * 100.0 / n as f64,
            bytes as f64 * 8.0 / wall / 1e6
        );
        stop.cancel();
        let _ = sender.await;
        for (pc, session) in subs {
            sessions.end(session);
            let _ = pc.close().await;
        }
        sessions.end(answer.session);
        let _ = pub_pc.close().await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}
