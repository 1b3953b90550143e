//! Latency probes against a real node over loopback: a genuine answer is
//! timed, forged, replayed and wrong-key answers are ignored, hostile bytes
//! at the SUDPH port get no answer and break nothing, and the rate limits
//! hold and are counted.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::UdpSocket;

use super::tests::loopback_node;
use super::{probe_latency, Node, PROBE_BURST_PER_SOURCE};
use crate::session::ResponderConfig;
use crate::wire::probe::{ProbeAnswer, ProbeRequest, PROBE_LEN};
use crate::Keypair;

async fn node() -> Node {
    loopback_node(false, ResponderConfig::default()).await.0
}

/// Send `msg` from a fresh socket and return what comes back within `wait`.
async fn exchange(to: SocketAddr, msgs: &[&[u8]], wait: Duration) -> Vec<Vec<u8>> {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for m in msgs {
        s.send_to(m, to).await.unwrap();
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 2048];
    while let Ok(Ok((n, _))) = tokio::time::timeout(wait, s.recv_from(&mut buf)).await {
        got.push(buf[..n].to_vec());
    }
    got
}

#[tokio::test]
async fn a_node_answers_a_signed_probe_and_counts_it() {
    let n = node().await;
    let addr = n.sudph_addr().unwrap();
    let got = probe_latency(n.public_key(), &[addr], Duration::from_secs(2)).await.unwrap();
    let p = got.expect("an answer over loopback");
    assert_eq!(p.addr, addr);
    assert!(p.rtt > Duration::ZERO && p.rtt < Duration::from_secs(1), "{:?}", p.rtt);
    assert_eq!(n.limit_stats().probes_answered, 1);
    // An unreachable address beside the real one does not spoil the probe.
    let dead: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let p = probe_latency(n.public_key(), &[dead, addr], Duration::from_secs(2)).await.unwrap().unwrap();
    assert_eq!(p.addr, addr);
}

#[tokio::test]
async fn a_node_asked_for_another_key_stays_silent() {
    let n = node().await;
    let other = Keypair::generate().public;
    let t = std::time::Instant::now();
    let got = probe_latency(other, &[n.sudph_addr().unwrap()], Duration::from_millis(400)).await.unwrap();
    assert_eq!(got, None);
    assert!(t.elapsed() >= Duration::from_millis(400), "waited its timeout");
    assert!(t.elapsed() < Duration::from_secs(2), "and not much longer");
    assert_eq!(n.limit_stats().probes_answered, 0);
    let raw = ProbeRequest { nonce: [1; 32], pk: other }.to_bytes();
    assert!(exchange(n.sudph_addr().unwrap(), &[&raw], Duration::from_millis(200)).await.is_empty());
}

/// A fake server on loopback that answers every probe request with `answer(request)`.
async fn fake_server(answer: impl Fn(&ProbeRequest) -> Vec<u8> + Send + 'static) -> SocketAddr {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = s.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = s.recv_from(&mut buf).await {
            if let Ok(req) = ProbeRequest::parse(&buf[..n]) {
                let _ = s.send_to(&answer(&req), from).await;
            }
        }
    });
    addr
}

#[tokio::test]
async fn forged_replayed_and_garbage_answers_are_ignored() {
    let server = Keypair::generate();
    let mallory = Keypair::generate();
    let short = Duration::from_millis(300);
    // Signed by another key, claiming the server's pk.
    let m = mallory.clone();
    let forged = fake_server(move |req| {
        let mut a = req.answer(&m);
        a.pk = req.pk;
        a.to_bytes().to_vec()
    })
    .await;
    assert_eq!(probe_latency(server.public, &[forged], short).await.unwrap(), None);
    // Honestly another visor (its own pk).
    let m = mallory.clone();
    let other = fake_server(move |req| req.answer(&m).to_bytes().to_vec()).await;
    assert_eq!(probe_latency(server.public, &[other], short).await.unwrap(), None);
    // A genuine answer of the server, captured earlier, replayed for every request.
    let old = ProbeRequest { nonce: [9; 32], pk: server.public }.answer(&server).to_bytes();
    let replay = fake_server(move |_| old.to_vec()).await;
    assert_eq!(probe_latency(server.public, &[replay], short).await.unwrap(), None);
    // The request echoed (no signature), garbage, a truncated genuine answer.
    let s = server.clone();
    let junk = fake_server(move |req| {
        let mut a = req.answer(&s).to_bytes().to_vec();
        a.truncate(PROBE_LEN - 1);
        a
    })
    .await;
    assert_eq!(probe_latency(server.public, &[junk], short).await.unwrap(), None);
    let echo = fake_server(|req| req.to_bytes().to_vec()).await;
    assert_eq!(probe_latency(server.public, &[echo], short).await.unwrap(), None);
    // The same fake, signing honestly with the server's key: accepted (the
    // fakes above failed for what they sent, not for being fakes).
    let s = server.clone();
    let honest = fake_server(move |req| req.answer(&s).to_bytes().to_vec()).await;
    assert!(probe_latency(server.public, &[honest], short).await.unwrap().is_some());
}

#[tokio::test]
async fn hostile_datagrams_get_no_answer_and_break_nothing() {
    let n = node().await;
    let addr = n.sudph_addr().unwrap();
    let good = ProbeRequest { nonce: [3; 32], pk: n.public_key() }.to_bytes();
    let mut reserved = good;
    reserved[1] = 1;
    let mut padded = good;
    padded[100] = 0xff;
    let long = [&good[..], &[0u8; 1]].concat();
    let huge = [&good[..], &vec![0u8; 1400][..]].concat();
    // An answer-shaped datagram: for probers, never answered by a node.
    let as_answer = {
        let mut a = good;
        a[0] = 0x21;
        a
    };
    let hostile: Vec<&[u8]> = vec![
        &[],
        &[0x20],
        &good[..4],
        &good[..PROBE_LEN - 1],
        &long,
        &huge,
        &reserved,
        &padded,
        &as_answer,
        &[0xff; 132],
    ];
    assert!(exchange(addr, &hostile, Duration::from_millis(300)).await.is_empty(), "no answer to any");
    assert_eq!(n.limit_stats().probes_answered, 0);
    // Garbage drained no tokens: the node still answers that very source's
    // genuine probes, a full burst of them.
    let burst: Vec<&[u8]> = (0..PROBE_BURST_PER_SOURCE).map(|_| &good[..]).collect();
    let got = exchange(addr, &burst, Duration::from_millis(300)).await;
    assert_eq!(got.len(), usize::try_from(PROBE_BURST_PER_SOURCE).unwrap());
    let req = ProbeRequest::parse(&good).unwrap();
    assert!(got.iter().all(|a| ProbeAnswer::parse(a).unwrap().verify(&req).is_ok()));
}

#[tokio::test]
async fn one_source_is_rate_limited_and_counted() {
    let n = node().await;
    let good = ProbeRequest { nonce: [4; 32], pk: n.public_key() }.to_bytes();
    let flood: Vec<&[u8]> = (0..100).map(|_| &good[..]).collect();
    let t = std::time::Instant::now();
    let got = exchange(n.sudph_addr().unwrap(), &flood, Duration::from_millis(300)).await;
    // The burst, plus what refilled (5/s) while the node worked through the
    // flood (a debug build signs slowly).
    let burst = usize::try_from(PROBE_BURST_PER_SOURCE).unwrap();
    let refilled = usize::try_from(t.elapsed().as_millis() / 200).unwrap() + 1;
    assert!(got.len() >= burst && got.len() <= burst + refilled, "{} answers in {:?}", got.len(), t.elapsed());
    let st = n.limit_stats();
    assert_eq!(st.probes_answered, got.len() as u64);
    assert_eq!(st.refused_probes_per_ip, 100 - got.len() as u64);
    assert_eq!(st.refused_probes_total, 0);
    // Another source still gets its answers.
    assert!(probe_latency(n.public_key(), &[n.sudph_addr().unwrap()], Duration::from_secs(1)).await.unwrap().is_some());
}
